/**
 * The relay's memory of final outcomes: the compacted mail.delivery.log, keyed by
 * `<recordId>|<recipient>`. Every relay instance reads it to its end before it consumes anything
 * and keeps following it (runtime/compacted-topic.ts), so a record replayed after a crash —
 * on this instance or on the one that takes its partitions over — skips recipients already done.
 * Memory: one short entry per message and recipient ever delivered (the topic is compacted, not
 * expired); see README "Guarantees".
 */
import type { DeliveryStatus } from '../../schemas/types.ts';
import type { KafkaClient, Producer } from '../../runtime/kafka.ts';
import { followCompactedTopic, type CompactedTopicFollower } from '../../runtime/compacted-topic.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';

export const logKey = (recordId: string, recipient: string) => `${recordId}|${recipient.toLowerCase()}`;

export class DeliveryLog {
  private readonly entries = new Map<string, DeliveryStatus['status']>();
  private follower: CompactedTopicFollower | undefined;
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
    this.follower = await followCompactedTopic({
      kafka, topic, name: 'egress-log', log, syncTimeoutMs: this.opts.syncTimeoutMs ?? 120000,
      onRecord: async (key, value) => {
        if (!value) this.entries.delete(key);
        else this.entries.set(key, (await codec.decodeAs<DeliveryStatus>(value, 'DeliveryStatus')).status);
      },
    });
    log.info({ topic, entries: this.entries.size }, 'delivery log loaded; following updates');
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.follower = undefined;
  }
}
