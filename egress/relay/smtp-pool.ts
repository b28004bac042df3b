/**
 * Pooled SMTP/LMTP sessions per destination (host, port and session settings): a message takes an
 * idle session when there is one, opens a new one while the destination has fewer than
 * `maxPerDestination`, and waits otherwise. After a transaction the session goes back to the pool
 * (after RSET when the server refused the envelope) until it has carried `maxMessages` or stayed
 * idle for `idleMs`. A reused session the server had closed meanwhile (its idle timeout) fails
 * before a byte of the message is sent: the message then goes over a fresh session, so reuse never
 * turns into a temporary failure. Hand-written over SMTPConnection rather than nodemailer's
 * smtp-pool: that one composes messages and reports per-message results, where the relay sends
 * raw bytes and needs each recipient's reply (LMTP answers per recipient).
 */
import type { Counter, Registry } from 'prom-client';
import { counterOn } from '../../runtime/metrics.ts';
import { failAll, SmtpSession, type SmtpEnvelope, type SmtpError, type SmtpResult, type SmtpTarget } from './transport.ts';

export interface PoolOptions {
  /** Sessions open at once per destination (EGRESS_DESTINATION_CONCURRENCY). */
  maxPerDestination: number;
  /** Messages one session carries before it is closed (EGRESS_SESSION_MAX_MESSAGES). */
  maxMessages: number;
  /** An idle session is closed after this long (EGRESS_SESSION_IDLE_MS). */
  idleMs: number;
  metrics?: PoolMetrics;
}

export interface PoolMetrics {
  sessions: Counter<'event'>;
}

export function poolMetrics(registry: Registry): PoolMetrics {
  const sessions = counterOn(registry, { name: 'scop_egress_smtp_sessions_total', help: 'SMTP/LMTP sessions of the egress by event: opened, reused (a message on a session that carried one before), failed (could not be set up), stale (closed by the server while idle; the message went over a fresh one), closed.', labelNames: ['event'] as const });
  for (const event of ['opened', 'reused', 'failed', 'stale', 'closed']) sessions.inc({ event }, 0);
  return { sessions };
}

interface Destination {
  idle: SmtpSession[];
  /** Sessions open or opening, idle or busy. */
  open: number;
  waiting: (() => void)[];
}

/** What identifies a destination: the same address with other session settings is another one. */
function keyOf(t: SmtpTarget): string {
  const tls = t.tls as { servername?: string; rejectUnauthorized?: boolean; secureContext?: unknown; ca?: unknown };
  return JSON.stringify([t.lmtp ? 'lmtp' : 'smtp', t.host, t.port, t.name, t.starttls, tls.servername ?? null, tls.rejectUnauthorized ?? null, Boolean(tls.secureContext), Boolean(tls.ca), t.auth?.user ?? null, t.timeoutMs]);
}

/** Stale sessions tried before a fresh one (each failure removes one from the pool). */
const MAX_STALE = 8;

export class SmtpPool {
  private readonly destinations = new Map<string, Destination>();
  private closed = false;

  constructor(private readonly o: PoolOptions) {}

  private count(event: 'opened' | 'reused' | 'failed' | 'stale' | 'closed'): void {
    this.o.metrics?.sessions.inc({ event });
  }

  /** Sends one message; per-recipient outcomes, never a rejection. */
  readonly send = async (t: SmtpTarget, env: SmtpEnvelope, message: Buffer): Promise<SmtpResult> => {
    const key = keyOf(t);
    let d = this.destinations.get(key);
    if (!d) this.destinations.set(key, (d = { idle: [], open: 0, waiting: [] }));
    for (let stale = 0; ; stale++) {
      const got = await this.acquire(d, t);
      if ('error' in got) return { outcomes: failAll(env.recipients, got.error), tls: false, connected: false };
      const s = got.session;
      const reused = s.messages > 0;
      if (reused) this.count('reused');
      const r = await s.transact(env, message);
      if (reused && r.unsent && stale < MAX_STALE) {
        this.count('stale');
        this.release(d, s, false);
        continue;
      }
      this.release(d, s, r.reusable);
      return { outcomes: r.outcomes, tls: s.tls, connected: true };
    }
  };

  private async acquire(d: Destination, t: SmtpTarget): Promise<{ session: SmtpSession } | { error: SmtpError }> {
    for (;;) {
      if (this.closed) return { error: Object.assign(new Error('the relay is stopping'), { code: 'ECLOSED' }) };
      const idle = d.idle.pop();
      if (idle) {
        clearTimeout(idle.idleTimer);
        if (idle.alive) return { session: idle };
        this.drop(d, idle);
        continue;
      }
      if (d.open < this.o.maxPerDestination) break;
      await new Promise<void>((ok) => d.waiting.push(ok));
    }
    d.open++;
    const s = new SmtpSession(t);
    try {
      await s.open();
      this.count('opened');
      return { session: s };
    } catch (e) {
      this.count('failed');
      this.drop(d, s);
      return { error: e as SmtpError };
    }
  }

  private release(d: Destination, s: SmtpSession, reusable: boolean): void {
    if (!reusable || !s.alive || this.closed || s.messages >= this.o.maxMessages || this.o.idleMs === 0) {
      this.drop(d, s);
      return;
    }
    s.idleTimer = setTimeout(() => {
      const i = d.idle.indexOf(s);
      if (i >= 0) d.idle.splice(i, 1);
      this.drop(d, s);
    }, this.o.idleMs);
    s.idleTimer.unref();
    d.idle.push(s);
    d.waiting.shift()?.();
  }

  private drop(d: Destination, s: SmtpSession): void {
    s.close();
    this.count('closed');
    d.open--;
    d.waiting.shift()?.();
  }

  /** Sessions open now (idle or busy), over all destinations. */
  get openSessions(): number {
    let n = 0;
    for (const d of this.destinations.values()) n += d.open;
    return n;
  }

  /** Closes idle sessions; busy ones close when their transaction ends; waiting sends fail. */
  close(): void {
    this.closed = true;
    for (const d of this.destinations.values()) {
      for (const s of d.idle.splice(0)) this.drop(d, s);
      for (const w of d.waiting.splice(0)) w();
    }
  }
}
