/**
 * Greylisting (RFC 6647), off unless INGRESS_GREYLIST=true. The triplet is (client prefix, sender,
 * recipient) — the prefix, not the address, because large senders retry from another address of
 * their pool (RFC 6647 section 4.1). The first attempt gets `450 4.7.1` at RCPT; a retry after
 * `delayMs` and within `retryWindowMs` passes, and from then on the triplet passes at once until it
 * has been unused for `passTtlMs`. Authenticated (submission) mail is never greylisted.
 *
 * The state lives in the compacted `smtp.greylist` topic, so every ingress instance agrees: each
 * one reads it to its end before listening, then follows it; a change is applied locally at once
 * and written through the ingress's side producer. Records carry timestamps only, so an entry read
 * after it expired is ignored; the topic's retention removes old keys. Memory is bounded by
 * `maxEntries`: past it new triplets pass without being greylisted (counted and logged), which is
 * greylisting's normal failure mode — it never refuses mail it cannot track.
 */
import type { KafkaSettings } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import type { GreylistEntry } from '../schemas/types.ts';
import { FollowedTopic } from './followed-topic.ts';
import type { KafkaHandoff } from './handoff.ts';

const DAY = 24 * 60 * 60 * 1000;

export interface GreylistSettings {
  delayMs: number;
  retryWindowMs: number;
  passTtlMs: number;
  maxEntries: number;
}

export type GreylistVerdict = { pass: true; untracked?: boolean } | { pass: false; retryInMs: number };

export interface GreylistOptions extends GreylistSettings {
  kafkaSettings: KafkaSettings;
  codec: RecordCodec;
  topic: string;
  schemaId: number;
  side: KafkaHandoff;
  log: Logger;
  syncTimeoutMs: number;
}

export class Greylist {
  private readonly entries = new Map<string, GreylistEntry>();
  private readonly followed: FollowedTopic;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: GreylistOptions) {
    this.followed = new FollowedTopic({
      ...o, name: 'greylist',
      onRecord: async (key, value) => this.apply(key, value ? await o.codec.decodeAs<GreylistEntry>(value, 'GreylistEntry') : null),
    });
  }

  get size(): number {
    return this.entries.size;
  }

  static key(prefix: string, sender: string, recipient: string): string {
    return `${prefix}|${sender.toLowerCase() || '<>'}|${recipient.toLowerCase()}`;
  }

  check(prefix: string, sender: string, recipient: string, now = Date.now()): GreylistVerdict {
    const key = Greylist.key(prefix, sender, recipient);
    const e = this.live(this.entries.get(key), now);
    if (e?.passedAt != null) {
      if (now - e.lastSeen > DAY) this.write(key, { ...e, lastSeen: now });
      return { pass: true };
    }
    if (e) {
      const waited = now - e.firstSeen;
      if (waited < this.o.delayMs) return { pass: false, retryInMs: this.o.delayMs - waited };
      this.write(key, { ...e, passedAt: now, lastSeen: now });
      return { pass: true };
    }
    if (this.entries.size >= this.o.maxEntries) {
      this.prune(now);
      if (this.entries.size >= this.o.maxEntries) return { pass: true, untracked: true };
    }
    this.write(key, { firstSeen: now, passedAt: null, lastSeen: now });
    return { pass: false, retryInMs: this.o.delayMs };
  }

  /** The entry if it still counts: a pending one within its retry window, a passed one within its TTL. */
  private live(e: GreylistEntry | undefined, now: number): GreylistEntry | undefined {
    if (!e) return undefined;
    if (e.passedAt != null) return now - e.lastSeen <= this.o.passTtlMs ? e : undefined;
    return now - e.firstSeen <= this.o.delayMs + this.o.retryWindowMs ? e : undefined;
  }

  private write(key: string, e: GreylistEntry): void {
    this.entries.set(key, e);
    let bytes: Buffer;
    try {
      bytes = this.o.codec.encodeWith(this.o.schemaId, 'GreylistEntry', e);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'cannot encode a greylist entry');
      return;
    }
    this.o.side.publish(this.o.topic, key, bytes).catch((err: Error) => this.o.log.warn({ topic: this.o.topic, err: err.message }, 'greylist entry not written; other instances will greylist this triplet again'));
  }

  /** Applies one record of the topic (exported for tests). */
  apply(key: string, e: GreylistEntry | null): void {
    if (e === null) {
      this.entries.delete(key);
      return;
    }
    const mine = this.entries.get(key);
    // Keep the earliest first sight and the latest pass, whoever wrote them.
    if (mine && mine.firstSeen < e.firstSeen && e.passedAt == null) return;
    this.entries.set(key, e);
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) if (!this.live(e, now)) this.entries.delete(k);
  }

  async start(): Promise<void> {
    await this.followed.start();
    this.pruneTimer = setInterval(() => this.prune(Date.now()), 10 * 60_000);
    this.pruneTimer.unref();
    this.o.log.info({ topic: this.o.topic, entries: this.entries.size }, 'greylist loaded; following updates');
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.followed.stop();
  }
}
