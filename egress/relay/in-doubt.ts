/**
 * Transactions in doubt: the end of DATA (the final ".") has left for the next hop, its reply has
 * not been handled yet. A relay killed then cannot know whether the next hop stored the message
 * (RFC 1047); the restart delivers it again — mail is never dropped on a guess — so every
 * transaction in doubt at a crash is a possible duplicate. The journal closes the window after the
 * reply (journal.ts); this gate handles the window before it:
 *  - it **bounds** how many transactions are in doubt at once per process (EGRESS_MAX_IN_DOUBT): a
 *    transaction whose body has been sent waits here with its "." until another one's reply is
 *    handled, so a crash repeats at most that many deliveries;
 *  - it **notes** each transaction in the journal before its "." and again once its reply is
 *    handled, so a restart names exactly the records that were in doubt (journal.ts, delivery-log.ts);
 *  - it **measures** how long the doubt lasts (`scop_egress_in_doubt_seconds`), how long a "." waited
 *    for a slot and how many transactions are in doubt now.
 * Hand-written: a counting semaphore with a hand-over, a dozen lines.
 */
import type { Gauge, Histogram, Registry } from 'prom-client';
import { gaugeOn, histogramOn } from '../../runtime/metrics.ts';
import type { DeliveryJournal } from './journal.ts';

export interface InDoubtMetrics {
  seconds: Histogram<'route'>;
  wait: Histogram<'route'>;
  current: Gauge<'route'>;
}

/** Which gate: the configured next hop (EGRESS_MAX_IN_DOUBT) or outbound MX delivery (EGRESS_MX_MAX_IN_DOUBT). */
export type InDoubtRoute = 'next-hop' | 'mx';

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 120];

export function inDoubtMetrics(registry: Registry): InDoubtMetrics {
  const m: InDoubtMetrics = {
    seconds: histogramOn(registry, { name: 'scop_egress_in_doubt_seconds', help: 'From releasing the end of DATA (".") to handling the reply, by route (next-hop, mx): a relay killed in this window delivers the message again.', labelNames: ['route'] as const, buckets: BUCKETS }),
    wait: histogramOn(registry, { name: 'scop_egress_in_doubt_wait_seconds', help: 'How long a transaction whose body was sent waited for an in-doubt slot (EGRESS_MAX_IN_DOUBT, EGRESS_MX_MAX_IN_DOUBT) before its ".".', labelNames: ['route'] as const, buckets: BUCKETS }),
    current: gaugeOn(registry, { name: 'scop_egress_in_doubt_transactions', help: 'Transactions in doubt now, by route: "." sent, reply not handled yet (at most EGRESS_MAX_IN_DOUBT / EGRESS_MX_MAX_IN_DOUBT).', labelNames: ['route'] as const }),
  };
  // 0 in doubt per route from the start: the dashboard shows "none" rather than no data.
  for (const route of ['next-hop', 'mx'] satisfies InDoubtRoute[]) m.current.inc({ route }, 0); // adds 0: a second call on a live registry keeps the value
  return m;
}

/** One transaction in doubt: call `end()` in the same turn its reply is handled (or the session died). */
export interface InDoubt {
  end(): void;
}

export interface InDoubtGateOptions {
  /** Transactions in doubt at once (EGRESS_MAX_IN_DOUBT / EGRESS_MX_MAX_IN_DOUBT). */
  max: number;
  /** The metrics label (default next-hop). */
  route?: InDoubtRoute;
  /** Where the marks go (none: the bound and the measurement only). */
  journal?: DeliveryJournal;
  metrics?: InDoubtMetrics;
  now?: () => number;
}

export class InDoubtGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** Most transactions in doubt at once since the start (tests, benchmarks). */
  peak = 0;

  constructor(private readonly o: InDoubtGateOptions) {}

  /** Transactions in doubt now. */
  get current(): number {
    return this.active;
  }

  private get now(): number {
    return this.o.now ? this.o.now() : performance.now();
  }

  /**
   * Waits for a slot, notes the transaction in the journal and returns its handle; the caller sends
   * the "." right after. Resolves null (slot passed on, nothing noted) when `cancelled()` says the
   * transaction ended meanwhile (its session died while it waited).
   */
  async enter(t: { recordId?: string; recipients: string[] }, cancelled: () => boolean = () => false): Promise<InDoubt | null> {
    const asked = this.now;
    if (this.active >= this.o.max) await new Promise<void>((ok) => this.waiting.push(ok)); // the slot is handed over, `active` unchanged
    else this.active++;
    if (cancelled()) {
      this.release();
      return null;
    }
    const m = this.o.metrics;
    const labels = { route: this.o.route ?? 'next-hop' };
    const start = this.now;
    m?.wait.observe(labels, (start - asked) / 1000);
    const mark = t.recordId ? this.o.journal?.doubt(t.recordId, t.recipients) ?? null : null;
    m?.current.inc(labels);
    this.peak = Math.max(this.peak, this.active);
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        m?.seconds.observe(labels, (this.now - start) / 1000);
        m?.current.dec(labels);
        // The answer is noted, and the slot passed on, after this turn's microtasks, i.e. after the
        // relay journaled the outcome the reply brought (relay.ts records it in the same turn): a
        // kill between the two finds the outcome and no open doubt (never an answered doubt without
        // its outcome), and no other "." leaves before that outcome is safe (the bound is exact).
        setImmediate(() => {
          if (mark) this.o.journal?.answered(mark);
          this.release();
        });
      },
    };
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
