/**
 * The firewall's reputation table: a replica of the compacted firewall.reputation topic, read to
 * its end at start (the state is rebuilt from it, so the stage is restartable) and followed while
 * running (read_committed), merged with this instance's own updates that are not committed yet.
 * A subject's entries carry the offset of the last event applied; the newer one wins, so a late
 * replica record never rolls back a local update.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Admin, Consumer, KafkaClient } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import type { Reputation } from '../../schemas/types.ts';

export class ReputationTable {
  private readonly entries = new Map<string, Reputation>();
  private consumer: Consumer | undefined;
  private readonly position = new Map<number, bigint>();
  private waiters: { target: Map<number, bigint>; ok: () => void }[] = [];
  private lastSync = 0;

  constructor(private readonly opts: { kafka: KafkaClient; codec: RecordCodec; topic: string; log: Logger; syncTimeoutMs?: number }) {}

  get size(): number {
    return this.entries.size;
  }

  get(subject: string): Reputation | undefined {
    return this.entries.get(subject);
  }

  all(): Reputation[] {
    return [...this.entries.values()];
  }

  /** This instance's own update (written in the transaction in progress). */
  set(r: Reputation): void {
    this.merge(r.subject, r);
  }

  private merge(key: string, r: Reputation | null): void {
    if (r === null) { this.entries.delete(key); return; }
    const cur = this.entries.get(key);
    if (!cur || r.lastEventOffset >= cur.lastEventOffset) this.entries.set(key, r);
  }

  private reached(target: Map<number, bigint>): boolean {
    return [...target].every(([p, high]) => (this.position.get(p) ?? -1n) >= high);
  }

  /**
   * Waits until everything committed to the topic when called has been read. A new owner of an
   * events partition (after a rebalance) thus sees the previous owner's last updates before it
   * applies more; called at most every `maxAgeMs`.
   */
  async sync(maxAgeMs = 0): Promise<void> {
    if (Date.now() - this.lastSync < maxAgeMs) return;
    const started = Date.now();
    const admin = this.opts.kafka.admin();
    await admin.connect();
    let target: Map<number, bigint>;
    try {
      // read_committed: the last stable offset is where a committed reader ends.
      target = await endOffsets(admin, this.opts.topic);
    } finally {
      await admin.disconnect();
    }
    if (!this.reached(target)) {
      const timeoutMs = this.opts.syncTimeoutMs ?? 60000;
      await new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`reputation topic ${this.opts.topic} was not read to its end within ${timeoutMs} ms`)), timeoutMs);
        this.waiters.push({ target, ok: () => { clearTimeout(timer); ok(); } });
      });
    }
    this.lastSync = started;
  }

  private wakeWaiters(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!this.reached(w.target)) return true;
      w.ok();
      return false;
    });
  }

  async start(): Promise<void> {
    const { kafka, topic, log, codec } = this.opts;
    const consumer = kafka.consumer({ groupId: `scop-firewall-table-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`, maxWaitTimeMs: 200 });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const next = BigInt(e.payload.lastOffset) + 1n;
      if (next > (this.position.get(e.payload.partition) ?? -1n)) this.position.set(e.payload.partition, next);
      this.wakeWaiters();
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        const key = message.key?.toString('utf8') ?? '';
        try {
          this.merge(key, message.value ? await codec.decodeAs<Reputation>(message.value, 'Reputation') : null);
        } catch (e) {
          log.error({ key, partition, offset: message.offset, err: (e as Error).message }, 'reputation table: cannot decode a record; skipped');
        }
        this.position.set(partition, BigInt(message.offset) + 1n);
      },
    });
    await this.sync();
    log.info({ topic, subjects: this.entries.size }, 'reputation table rebuilt; following updates');
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
