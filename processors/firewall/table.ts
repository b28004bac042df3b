/**
 * The firewall's reputation table: a replica of the compacted firewall.reputation topic, read to
 * its end at start (the state is rebuilt from it, so the stage is restartable) and followed while
 * running (read_committed), merged with this instance's own updates that are not committed yet.
 * A subject's entries carry the offset of the last event applied; the newer one wins, so a late
 * replica record never rolls back a local update.
 */
import type { Registry } from 'prom-client';
import type { HealthRegistry } from '../../runtime/health.ts';
import type { KafkaClient } from '../../runtime/kafka.ts';
import { followCompactedTopic, type CompactedTopicFollower } from '../../runtime/compacted-topic.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import type { Reputation } from '../../schemas/types.ts';

export class ReputationTable {
  private readonly entries = new Map<string, Reputation>();
  private follower: CompactedTopicFollower | undefined;
  private lastSync = 0;

  constructor(private readonly opts: { kafka: KafkaClient; codec: RecordCodec; topic: string; log: Logger; syncTimeoutMs?: number; health?: HealthRegistry; metrics?: Registry }) {}

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

  /**
   * Waits until everything committed to the topic when called has been read. A new owner of an
   * events partition (after a rebalance) thus sees the previous owner's last updates before it
   * applies more; called at most every `maxAgeMs`.
   */
  async sync(maxAgeMs = 0): Promise<void> {
    if (Date.now() - this.lastSync < maxAgeMs) return;
    const started = Date.now();
    await this.follower?.sync(this.opts.syncTimeoutMs ?? 60000);
    this.lastSync = started;
  }

  async start(): Promise<void> {
    const { kafka, topic, log, codec } = this.opts;
    this.follower = await followCompactedTopic({
      kafka, topic, name: 'firewall-table', log, syncTimeoutMs: this.opts.syncTimeoutMs ?? 60000, health: this.opts.health, metrics: this.opts.metrics,
      onRecord: async (key, value) => this.merge(key, value ? await codec.decodeAs<Reputation>(value, 'Reputation') : null),
    });
    this.lastSync = Date.now();
    log.info({ topic, subjects: this.entries.size }, 'reputation table rebuilt; following updates');
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.follower = undefined;
  }
}
