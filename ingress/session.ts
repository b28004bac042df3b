/**
 * What the ingress keeps per SMTP connection (ClientSession), including its clock: the limits that
 * stop a client from holding a session slot for free.
 *
 * - Idle: the session is closed (421 4.4.2) after `idleMs` without progress. Progress is a positive
 *   reply to a command that moves the session forward (HELO/EHLO once per TLS phase, STARTTLS,
 *   AUTH, MAIL, RCPT, DATA) and DATA bytes arriving. Other commands (NOOP, RSET, HELP, VRFY,
 *   unknown or refused ones) count as activity only for the first `maxNoProgressCommands` in a
 *   row, so "NOOP every minute" no longer keeps a session forever. smtp-server's own timeout
 *   (any byte resets it) stays as an outer bound.
 * - Session: at most `maxSessionMs` in all (a DATA in progress gets its reply first).
 * - DATA: at most `maxDataMs` from 354 to the end of the data.
 * - AUTH (submission): the client must authenticate within `authTimeoutMs`.
 * While the server owes the client a reply (a hand-off to Kafka, a password hash), no clock
 * closes the session: those waits have limits of their own.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Envelope } from '../schemas/types.ts';
import type { ClockSettings } from './config.ts';
import type { DnsblResult } from './dnsbl.ts';
import type { Fcrdns } from './fcrdns.ts';
import type { Pool } from './limits.ts';
import type { SpfOutcome } from './spf-check.ts';

export type ListenerKind = Envelope['listener'];
export type Conn = SMTPServer['connections'] extends Set<infer C> ? C : never;

const PROGRESS = new Set(['HELO', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'QUIT']);

export class ClientSession {
  readonly pool: Pool;
  /** Holds a session slot (released at close). */
  counted = false;
  tls: Envelope['tls'] = null;
  authFailures = 0;
  /** Why the next negative reply is sent (for the rejections metric); see smtp-hooks.ts. */
  rejectReason: string | undefined;
  /** The DNSBL lookups of the client, started at connect (MX only). */
  dnsbl: Promise<DnsblResult> | undefined;
  /** Does the client's reverse name resolve back to its address? Started at connect (MX, INGRESS_REVERSE_DNS); settles by its own deadline. */
  fcrdns: Promise<Fcrdns> | undefined;
  /** The SPF check of the current transaction, started at MAIL (INGRESS_SPF_REJECT). */
  spf: Promise<SpfOutcome> | undefined;

  private command = '';
  private greeted = false;
  private noProgress = 0;
  private closeAfterReply = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private idle: NodeJS.Timeout | undefined;
  private data: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    readonly conn: Conn,
    readonly listener: ListenerKind,
    readonly ip: string,
    readonly prefix: string,
    private readonly clock: ClockSettings,
    private readonly onExpire: (s: ClientSession, reason: 'idle' | 'session' | 'data' | 'auth-timeout') => void,
  ) {
    this.pool = listener === 'MX' ? 'MX' : 'SUBMISSION';
    this.idle = this.timer(clock.idleMs, () => this.expire('idle'));
    this.timer(clock.maxSessionMs, () => this.expire('session'));
    if (this.pool === 'SUBMISSION') this.timer(clock.authTimeoutMs, () => { if (!this.conn.session.user) this.expire('auth-timeout'); });
  }

  /** True while the server owes the client an answer (smtp-server's own test, see _onTimeout). */
  get waitingForUs(): boolean {
    const c = this.conn;
    return c._handlerPending || Boolean(c._dataStream && c._parser && !c._parser._dataMode);
  }

  get receivingData(): boolean {
    const p = this.conn._parser;
    return Boolean(p && p._dataMode);
  }

  /** A command line arrived (before smtp-server handles it). */
  onCommand(name: string): void {
    this.command = name;
  }

  /** A reply is about to be sent; returns true if the session must be closed right after it (a final reply). */
  onReply(code: number): boolean {
    if (code === 354) {
      this.progress();
      clearTimeout(this.data);
      this.data = setTimeout(() => this.expire('data'), this.clock.maxDataMs).unref();
      return false;
    }
    if (code >= 300 && code < 400) return false; // AUTH continuation
    const name = this.command;
    if (name === 'DATA' && this.data) {
      clearTimeout(this.data);
      this.data = undefined;
    }
    const firstGreeting = (name === 'HELO' || name === 'EHLO') && !this.greeted;
    if (code < 400 && PROGRESS.has(name) && (firstGreeting || (name !== 'HELO' && name !== 'EHLO'))) {
      if (firstGreeting) this.greeted = true;
      if (name === 'STARTTLS') this.greeted = false;
      this.progress();
    } else if (name) {
      this.noProgress++;
      if (this.noProgress <= this.clock.maxNoProgressCommands) this.idle?.refresh();
    }
    return this.closeAfterReply;
  }

  /** DATA bytes arrived. */
  onData(): void {
    this.idle?.refresh();
  }

  /** The session's time is over but a reply is owed: close right after that reply. */
  closeAfterNextReply(): void {
    this.closeAfterReply = true;
  }

  dispose(): void {
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.data);
  }

  private progress(): void {
    this.noProgress = 0;
    this.idle?.refresh();
  }

  private expire(reason: 'idle' | 'session' | 'data' | 'auth-timeout'): void {
    if (this.disposed) return;
    if (reason === 'data' && !this.receivingData) return; // the data is in; the hand-off has its own deadline
    if (reason === 'session' && (this.waitingForUs || this.receivingData)) return this.closeAfterNextReply(); // DATA has its own limit
    if (this.waitingForUs) {
      if (reason === 'idle') this.idle?.refresh();
      if (reason === 'auth-timeout') this.timer(1000, () => { if (!this.conn.session.user) this.expire('auth-timeout'); });
      return;
    }
    this.onExpire(this, reason);
  }

  private timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, ms);
    t.unref();
    this.timers.push(t);
    return t;
  }
}

const bySession = new WeakMap<SMTPServerSession, ClientSession>();

export function attachClientSession(s: ClientSession): void {
  bySession.set(s.conn.session, s);
}

/** The ClientSession of an smtp-server session (created by the connection hook). */
export function clientSession(session: SMTPServerSession): ClientSession | undefined {
  return bySession.get(session);
}
