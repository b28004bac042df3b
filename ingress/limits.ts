/**
 * Session slots and message rate. MX and submission have separate pools, so unauthenticated MX
 * clients can never take the slots logged-in users need; inside each pool, one client prefix
 * (prefix.ts) holds at most maxSessionsPerPrefix slots, and sends at most
 * maxMessagesPerPrefixPerMinute messages (a token bucket: O(1) per message, bounded memory).
 * Written by hand: counters and a token bucket, no library fits better.
 */
import type { LimitSettings } from './config.ts';

export type Pool = 'MX' | 'SUBMISSION';

interface Bucket { tokens: number; at: number }

/**
 * Token buckets keyed by string: `perMinute` tokens, refilled continuously. O(1) per take; buckets
 * that have refilled are forgotten (amortised), so memory follows the keys active in the last minute.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private pruneAt = 10_000;

  constructor(private readonly perMinute: number) {}

  take(key: string, now = Date.now()): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    b.tokens = this.level(b, now);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > this.pruneAt) this.prune(now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private level(b: Bucket, now: number): number {
    return Math.min(this.perMinute, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
  }

  private prune(now: number): void {
    for (const [key, b] of this.buckets) if (this.level(b, now) >= this.perMinute) this.buckets.delete(key);
    this.pruneAt = Math.max(10_000, this.buckets.size * 2);
  }
}

export class Limits {
  private readonly sessions: Record<Pool, number> = { MX: 0, SUBMISSION: 0 };
  private readonly perPrefix = new Map<string, number>();
  private readonly messages: TokenBuckets;

  constructor(private readonly s: Pick<LimitSettings, 'maxSessions' | 'maxSessionsPerPrefix' | 'maxMessagesPerPrefixPerMinute'>) {
    this.messages = new TokenBuckets(s.maxMessagesPerPrefixPerMinute);
  }

  active(pool: Pool): number {
    return this.sessions[pool];
  }

  /** Takes a session slot; returns why not when a limit is reached. */
  openSession(pool: Pool, prefix: string): 'sessions' | 'sessions-per-prefix' | undefined {
    if (this.sessions[pool] >= this.s.maxSessions[pool]) return 'sessions';
    const key = `${pool} ${prefix}`;
    const n = this.perPrefix.get(key) ?? 0;
    if (n >= this.s.maxSessionsPerPrefix) return 'sessions-per-prefix';
    this.sessions[pool]++;
    this.perPrefix.set(key, n + 1);
    return undefined;
  }

  closeSession(pool: Pool, prefix: string): void {
    this.sessions[pool] = Math.max(0, this.sessions[pool] - 1);
    const key = `${pool} ${prefix}`;
    const n = (this.perPrefix.get(key) ?? 1) - 1;
    if (n <= 0) this.perPrefix.delete(key);
    else this.perPrefix.set(key, n);
  }

  /** Counts one message (MAIL FROM); false when the prefix has used its share for now. */
  takeMessage(pool: Pool, prefix: string, now = Date.now()): boolean {
    return this.messages.take(`${pool} ${prefix}`, now);
  }
}
