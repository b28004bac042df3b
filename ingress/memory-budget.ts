/**
 * The budget of message bytes the ingress holds in memory, over all sessions: DATA as it arrives,
 * then the encoded record until Kafka has answered. Without it, memory grows with sessions × SIZE
 * (500 sessions × 25 MiB ≈ 12 GiB). A message that does not fit is answered 452 4.3.1 (insufficient
 * system storage; the client retries later), never buffered.
 *
 * - MX sessions may not use the last `submissionReservedBytes`, so inbound load cannot refuse a
 *   logged-in user's message; submission may use the whole budget.
 * - The MX sessions of one client prefix hold at most `perPrefixBytes` together.
 *
 * Each message holds one Reservation that grows as bytes arrive and is released once.
 */
import type { BudgetSettings } from './config.ts';
import type { Pool } from './limits.ts';

export class MemoryBudget {
  private usedBytes = 0;
  private readonly perPrefix = new Map<string, number>();

  constructor(private readonly s: BudgetSettings) {}

  get used(): number {
    return this.usedBytes;
  }

  /** Whether `bytes` more would fit now (used for the SIZE declared at MAIL FROM). */
  fits(pool: Pool, prefix: string, bytes: number): boolean {
    const limit = pool === 'MX' ? this.s.totalBytes - this.s.submissionReservedBytes : this.s.totalBytes;
    if (this.usedBytes + bytes > limit) return false;
    return pool !== 'MX' || (this.perPrefix.get(prefix) ?? 0) + bytes <= this.s.perPrefixBytes;
  }

  reservation(pool: Pool, prefix: string): Reservation {
    return new Reservation(this, pool, prefix);
  }

  /** @internal Reservation's ledger. */
  add(pool: Pool, prefix: string, bytes: number): void {
    this.usedBytes += bytes;
    if (pool === 'MX') {
      const n = (this.perPrefix.get(prefix) ?? 0) + bytes;
      if (n <= 0) this.perPrefix.delete(prefix);
      else this.perPrefix.set(prefix, n);
    }
  }
}

export class Reservation {
  private held = 0;

  constructor(private readonly budget: MemoryBudget, private readonly pool: Pool, private readonly prefix: string) {}

  get bytes(): number {
    return this.held;
  }

  /** Adds `bytes` to this message's share; false (nothing taken) when the budget cannot hold them. */
  take(bytes: number): boolean {
    if (!this.budget.fits(this.pool, this.prefix, bytes)) return false;
    this.budget.add(this.pool, this.prefix, bytes);
    this.held += bytes;
    return true;
  }

  /** Gives back `bytes` (default: everything held). */
  release(bytes = this.held): void {
    const n = Math.min(bytes, this.held);
    if (n <= 0) return;
    this.held -= n;
    this.budget.add(this.pool, this.prefix, -n);
  }
}
