/**
 * The relay's memory of final outcomes: the compacted mail.delivery.log, keyed by
 * `<recordId>|<recipient>`. Every relay instance reads it to its end before it consumes anything
 * and keeps following it (runtime/compacted-topic.ts), so a record replayed after a crash —
 * on this instance or on the one that takes its partitions over — skips recipients already done.
 * Memory: one short entry per message and recipient delivered within the log's retention (14 days,
 * runtime/topics.ts): older entries expire from the topic and are dropped here too.
 */
import type { DeliveryStatus } from '../../schemas/types.ts';
import type { Registry } from 'prom-client';
import type { HealthRegistry } from '../../runtime/health.ts';
import type { KafkaClient, Producer } from '../../runtime/kafka.ts';
import { followCompactedTopic, type CompactedTopicFollower } from '../../runtime/compacted-topic.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { DELIVERY_LOG_RETENTION_MS } from '../../runtime/topics.ts';

export const logKey = (recordId: string, recipient: string) => `${recordId}|${recipient.toLowerCase()}`;

export class DeliveryLog {
  /** key → final status and when it was logged (Map order ≈ time order, which prune relies on). */
  private readonly entries = new Map<string, { status: DeliveryStatus['status']; at: number }>();
  private nextPrune = 0;
  private follower: CompactedTopicFollower | undefined;
  private schemaId = 0;

  constructor(private readonly opts: { kafka: KafkaClient; codec: RecordCodec; producer: Producer; topic: string; log: Logger; syncTimeoutMs?: number; retentionMs?: number; now?: () => number; health?: HealthRegistry; metrics?: Registry }) {}

  private get retentionMs(): number {
    return this.opts.retentionMs ?? DELIVERY_LOG_RETENTION_MS;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The final state already logged for this recipient of this record, if any. */
  done(recordId: string, recipient: string): DeliveryStatus['status'] | undefined {
    return this.entries.get(logKey(recordId, recipient))?.status;
  }

  private remember(key: string, status: DeliveryStatus['status'], at: number): void {
    this.entries.delete(key); // re-insert so the Map stays in logging order
    this.entries.set(key, { status, at });
    const now = (this.opts.now ?? Date.now)();
    if (now >= this.nextPrune) this.prune(now);
  }

  /** Forgets outcomes older than the retention, as the topic does; at most once a minute. */
  prune(now = (this.opts.now ?? Date.now)()): number {
    this.nextPrune = now + 60_000;
    const cutoff = now - this.retentionMs;
    let dropped = 0;
    for (const [key, e] of this.entries) {
      if (e.at >= cutoff) break;
      this.entries.delete(key);
      dropped++;
    }
    return dropped;
  }

  /** Writes outcomes (acks from all in-sync replicas) and remembers them at once. */
  async write(statuses: DeliveryStatus[]): Promise<void> {
    if (statuses.length === 0) return;
    const messages = statuses.map((s) => ({ key: logKey(s.recordId, s.recipient), value: this.opts.codec.encodeWith(this.schemaId, 'DeliveryStatus', s) }));
    await this.opts.producer.send({ topic: this.opts.topic, acks: -1, messages });
    for (const s of statuses) this.remember(logKey(s.recordId, s.recipient), s.status, s.at);
  }

  async start(): Promise<void> {
    const { kafka, topic, log, codec } = this.opts;
    this.schemaId = await codec.registerSchema(topic, 'DeliveryStatus');
    this.follower = await followCompactedTopic({
      kafka, topic, name: 'egress-log', log, syncTimeoutMs: this.opts.syncTimeoutMs ?? 120000, health: this.opts.health, metrics: this.opts.metrics,
      onRecord: async (key, value) => {
        if (!value) this.entries.delete(key);
        else {
          const s = await codec.decodeAs<DeliveryStatus>(value, 'DeliveryStatus');
          this.remember(key, s.status, s.at);
        }
      },
    });
    log.info({ topic, entries: this.entries.size }, 'delivery log loaded; following updates');
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.follower = undefined;
  }
}
