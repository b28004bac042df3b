/**
 * Password guessing defences for AUTH on the submission listeners:
 *
 * - AuthGuard counts failures per client prefix and per (existing) user name within a window.
 *   Past the limit the key is locked out: attempts are refused (421 4.7.0, disconnect) without
 *   computing a hash. Each further lockout doubles, up to a maximum; a quiet key is forgotten.
 *   A user's lockout does not apply on prefixes that user has logged in from before, so an
 *   attacker guessing alice's password cannot lock alice herself out of her usual network.
 * - HashLimiter bounds concurrent password-hash work. A hash runs on libuv's thread pool (4
 *   threads, shared with dns.lookup and file I/O): eight unauthenticated sessions hashing at once
 *   used to delay every DNS lookup of the process by hundreds of milliseconds. Attempts beyond
 *   the queue get 454 4.7.0 (try again) at once.
 *
 * Memory is bounded: keys that have been quiet for the window and the longest lockout are pruned,
 * amortised O(1) per failure. Written by hand: counters and a semaphore.
 */
import type { AuthSettings } from './config.ts';

interface Entry {
  /** Failure times inside the window, oldest first (at most the limit). */
  failures: number[];
  lockedUntil: number;
  lockouts: number;
  last: number;
}

export interface Lockout {
  by: 'prefix' | 'user';
  retryAfterMs: number;
}

export class AuthGuard {
  private readonly prefixes = new Map<string, Entry>();
  private readonly users = new Map<string, Entry>();
  private readonly trusted = new Map<string, Set<string>>();
  private pruneAt = 10_000;

  constructor(private readonly s: AuthSettings) {}

  /** Whether an attempt for `user` from `prefix` must be refused without checking the password. */
  lockedOut(prefix: string, user: string, now = Date.now()): Lockout | undefined {
    const p = this.prefixes.get(prefix);
    if (p && p.lockedUntil > now) return { by: 'prefix', retryAfterMs: p.lockedUntil - now };
    const u = this.users.get(user);
    if (u && u.lockedUntil > now && !this.trusted.get(user)?.has(prefix)) return { by: 'user', retryAfterMs: u.lockedUntil - now };
    return undefined;
  }

  /** Records a failed attempt; `knownUser` false for names not in the users file (not counted per user). */
  failed(prefix: string, user: string, knownUser: boolean, now = Date.now()): void {
    this.count(this.prefixes, prefix, this.s.maxFailuresPerPrefix, now);
    if (knownUser) this.count(this.users, user, this.s.maxFailuresPerUser, now);
  }

  succeeded(prefix: string, user: string): void {
    let set = this.trusted.get(user);
    if (!set) this.trusted.set(user, (set = new Set()));
    set.delete(prefix);
    set.add(prefix);
    // The 16 most recent prefixes per user are enough to spare its usual networks.
    if (set.size > 16) set.delete(set.values().next().value!);
  }

  get size(): number {
    return this.prefixes.size + this.users.size;
  }

  private count(map: Map<string, Entry>, key: string, limit: number, now: number): void {
    let e = map.get(key);
    if (e && now - e.last > this.s.lockoutMaxMs + this.s.failureWindowMs) e = undefined; // quiet long enough: start over
    if (!e) map.set(key, (e = { failures: [], lockedUntil: 0, lockouts: 0, last: now }));
    e.last = now;
    const since = now - this.s.failureWindowMs;
    while (e.failures.length > 0 && e.failures[0]! <= since) e.failures.shift();
    e.failures.push(now);
    if (e.failures.length >= limit) {
      e.failures = [];
      e.lockouts++;
      e.lockedUntil = now + Math.min(this.s.lockoutMaxMs, this.s.lockoutMs * 2 ** Math.min(e.lockouts - 1, 30));
    }
    if (map.size > this.pruneAt) this.prune(map, now);
  }

  private prune(map: Map<string, Entry>, now: number): void {
    const horizon = this.s.lockoutMaxMs + this.s.failureWindowMs;
    for (const [k, e] of map) if (now - e.last > horizon && e.lockedUntil <= now) map.delete(k);
    this.pruneAt = Math.max(10_000, map.size * 2);
  }
}

export class HashBusyError extends Error {
  constructor() {
    super('too many password checks waiting');
    this.name = 'HashBusyError';
  }
}

/** A semaphore for password hashing with a bounded queue. */
export class HashLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Most hashes that ran at the same time (for tests and the metric). */
  peak = 0;

  constructor(private readonly concurrency: number, private readonly queue: number) {}

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw new HashBusyError();
      await new Promise<void>((ok) => this.waiting.push(ok));
    } else {
      this.running++;
    }
    this.peak = Math.max(this.peak, this.running);
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter; `running` stays the same.
      if (next) next();
      else this.running--;
    }
  }
}
