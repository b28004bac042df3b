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

export class Limits {
  private readonly sessions: Record<Pool, number> = { MX: 0, SUBMISSION: 0 };
  private readonly perPrefix = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();
  private pruneAt = 10_000;

  constructor(private readonly s: Pick<LimitSettings, 'maxSessions' | 'maxSessionsPerPrefix' | 'maxMessagesPerPrefixPerMinute'>) {}

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
    const capacity = this.s.maxMessagesPerPrefixPerMinute;
    const key = `${pool} ${prefix}`;
    const b = this.buckets.get(key) ?? { tokens: capacity, at: now };
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) * capacity) / 60_000);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > this.pruneAt) this.prune(now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets buckets that have refilled (they equal a fresh one); amortised O(1) per message. */
  private prune(now: number): void {
    const capacity = this.s.maxMessagesPerPrefixPerMinute;
    for (const [key, b] of this.buckets) if (b.tokens + ((now - b.at) * capacity) / 60_000 >= capacity) this.buckets.delete(key);
    this.pruneAt = Math.max(10_000, this.buckets.size * 2);
  }
}
