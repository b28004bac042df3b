/**
 * The relay's memory of final outcomes: the compacted mail.delivery.log, keyed by
 * `<recordId>|<recipient>`. Every relay instance reads it to its end before it consumes anything
 * and keeps following it (its own group, nothing committed), so a record replayed after a crash —
 * on this instance or on the one that takes its partitions over — skips recipients already done.
 * Memory: one short entry per message and recipient ever delivered (the topic is compacted, not
 * expired); see README "Guarantees".
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { DeliveryStatus } from '../../schemas/types.ts';
import type { Admin, Consumer, KafkaClient, Producer } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';

export const logKey = (recordId: string, recipient: string) => `${recordId}|${recipient.toLowerCase()}`;

export class DeliveryLog {
  private readonly entries = new Map<string, DeliveryStatus['status']>();
  private consumer: Consumer | undefined;
  private schemaId = 0;

  constructor(private readonly opts: { kafka: KafkaClient; codec: RecordCodec; producer: Producer; topic: string; log: Logger; syncTimeoutMs?: number }) {}

  get size(): number {
    return this.entries.size;
  }

  /** The final state already logged for this recipient of this record, if any. */
  done(recordId: string, recipient: string): DeliveryStatus['status'] | undefined {
    return this.entries.get(logKey(recordId, recipient));
  }

  /** Writes outcomes (acks from all in-sync replicas) and remembers them at once. */
  async write(statuses: DeliveryStatus[]): Promise<void> {
    if (statuses.length === 0) return;
    const messages = statuses.map((s) => ({ key: logKey(s.recordId, s.recipient), value: this.opts.codec.encodeWith(this.schemaId, 'DeliveryStatus', s) }));
    await this.opts.producer.send({ topic: this.opts.topic, acks: -1, messages });
    for (const s of statuses) this.entries.set(logKey(s.recordId, s.recipient), s.status);
  }

  async start(): Promise<void> {
    const { kafka, topic, log, codec } = this.opts;
    this.schemaId = await codec.registerSchema(topic, 'DeliveryStatus');
    const admin = kafka.admin();
    await admin.connect();
    let targets: Map<number, bigint>;
    try {
      targets = await endOffsets(admin, topic);
    } finally {
      await admin.disconnect();
    }
    const position = new Map<number, bigint>();
    const caughtUp = () => [...targets].every(([p, high]) => (position.get(p) ?? -1n) >= high);
    let wake: (() => void) | undefined;
    const consumer = kafka.consumer({ groupId: `scop-egress-log-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`, maxWaitTimeMs: 500 });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const next = BigInt(e.payload.lastOffset) + 1n;
      if (next > (position.get(e.payload.partition) ?? -1n)) position.set(e.payload.partition, next);
      if (wake && caughtUp()) wake();
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        const key = message.key?.toString('utf8') ?? '';
        if (!message.value) this.entries.delete(key);
        else {
          try {
            const s = await codec.decodeAs<DeliveryStatus>(message.value, 'DeliveryStatus');
            this.entries.set(key, s.status);
          } catch (e) {
            log.error({ key, partition, offset: message.offset, err: (e as Error).message }, 'delivery log: cannot decode a record; skipped');
          }
        }
        position.set(partition, BigInt(message.offset) + 1n);
      },
    });
    if (!caughtUp()) {
      const timeoutMs = this.opts.syncTimeoutMs ?? 120000;
      await new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`delivery log ${topic} was not read to its end within ${timeoutMs} ms`)), timeoutMs);
        wake = () => { clearTimeout(timer); ok(); };
        if (caughtUp()) wake();
      });
    }
    log.info({ topic, entries: this.entries.size }, 'delivery log loaded; following updates');
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => {});
    this.consumer = undefined;
  }
}

/** fetchTopicOffsets right after a topic was created can meet a leader not elected yet: retry briefly. */
async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  for (let i = 0; ; i++) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
