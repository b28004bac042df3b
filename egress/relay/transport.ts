/**
 * SMTP / LMTP delivery with nodemailer's SMTPConnection: the raw message is sent as given, with the
 * envelope's MAIL FROM / RCPT TO (SMTPConnection does the dot-stuffing). Sessions are pooled per
 * destination (smtp-pool.ts) and reused for the next message; `smtpSend` is one session for one
 * message (tests, one-off sends). Each recipient gets an outcome: delivered, temporary or permanent.
 */
import { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { InDoubt, InDoubtGate } from './in-doubt.ts';

export interface RecipientOutcome {
  recipient: string;
  kind: 'delivered' | 'temporary' | 'permanent';
  /** The remote reply (or the local error). */
  reply: string;
  /** Where it was tried (smtp://host:port, mx:domain); default: the configured next hop. */
  nextHop?: string;
  /** The MX host name that gave the reply (outbound). */
  remoteMta?: string;
}

export interface SmtpTarget {
  host: string;
  port: number;
  lmtp?: boolean;
  /** Our name in EHLO. */
  name: string;
  starttls: 'opportunistic' | 'require' | 'off';
  tls: ConnectionOptions;
  timeoutMs: number;
  auth?: { user: string; pass: string };
  /** Bounds, notes and measures the transactions past their "." (in-doubt.ts); none: not bounded. */
  inDoubt?: InDoubtGate;
}

export interface SmtpEnvelope {
  from: string;
  recipients: string[];
  use8BitMime: boolean;
  /** The record being sent: named in the journal's in-doubt mark (in-doubt.ts). */
  recordId?: string;
}

export interface SmtpResult {
  outcomes: RecipientOutcome[];
  /** Whether the session got as far as a TLS connection. */
  tls: boolean;
  /** Whether a session was established at all (greeting + EHLO): false means try another host. */
  connected: boolean;
}

/** Sends one message to one target: a pooled session (smtp-pool.ts) or a session of its own. */
export type SmtpSend = (t: SmtpTarget, env: SmtpEnvelope, message: Buffer) => Promise<SmtpResult>;

export interface SmtpError extends Error { code?: string; responseCode?: number; response?: string; recipient?: string; rejectedErrors?: SmtpError[]; command?: string }

export const replyOf = (e: SmtpError) => (e.response ?? `${e.code ?? 'error'}: ${e.message}`).trim();
/** 5xx is permanent; 4xx, no reply at all (connection refused, timeout, TLS) are temporary. */
export const kindOf = (e: SmtpError): RecipientOutcome['kind'] => (e.responseCode !== undefined && e.responseCode >= 500 ? 'permanent' : 'temporary');

/** What one transaction on a session came to, and whether the session can carry another. */
export interface Transaction {
  outcomes: RecipientOutcome[];
  /** The session is fine for the next message (after RSET when the envelope was refused). */
  reusable: boolean;
  /** The session had died before a byte of the message was sent: the message may go over another one. */
  unsent: boolean;
}

/**
 * One SMTP/LMTP session: connect (+ STARTTLS as configured, + AUTH), then any number of
 * transactions, one at a time. A connection-level failure (reset, timeout, the server closing an
 * idle session) marks it dead.
 */
export class SmtpSession {
  private readonly conn: SMTPConnection;
  private deadError: SmtpError | undefined;
  private readonly died: Promise<never>;
  private onDeath: ((e: SmtpError) => void) | undefined;
  /** Transactions completed on this session. */
  messages = 0;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly target: SmtpTarget) {
    const t = target;
    this.conn = new SMTPConnection({
      host: t.host, port: t.port, lmtp: t.lmtp, name: t.name,
      ignoreTLS: t.starttls === 'off', requireTLS: t.starttls === 'require', opportunisticTLS: t.starttls === 'opportunistic',
      tls: t.tls, servername: t.tls.servername,
      connectionTimeout: t.timeoutMs, greetingTimeout: t.timeoutMs, socketTimeout: t.timeoutMs,
    } as never);
    // SMTPConnection reports connection-level failures (refused, reset, timeout, an idle session
    // closed by the server) as 'error' / 'end' events, not through the callbacks: every step races them.
    this.died = new Promise<never>((_, fail) => {
      this.onDeath = (e) => { this.deadError ??= e; fail(e); };
    });
    this.died.catch(() => {});
    this.conn.on('error', (e: SmtpError) => this.onDeath?.(e));
    this.conn.once('end', () => this.onDeath?.(Object.assign(new Error('connection closed by the next hop'), { code: 'ECONNRESET' })));
  }

  get alive(): boolean {
    return this.deadError === undefined;
  }

  get tls(): boolean {
    return Boolean((this.conn as unknown as { secure?: boolean }).secure);
  }

  /** Runs one step of the protocol, failing when the session dies or the deadline passes. */
  private step<T>(deadlineMs: number, fn: (done: (err: SmtpError | null | undefined, v?: T) => void) => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        const e = Object.assign(new Error(`no answer within ${deadlineMs} ms`), { code: 'ETIMEDOUT' });
        this.onDeath?.(e);
        this.destroy();
        fail(e);
      }, deadlineMs);
    });
    return Promise.race([new Promise<T>((ok, fail) => fn((err, v) => (err ? fail(err) : ok(v as T)))), this.died, deadline]).finally(() => clearTimeout(timer));
  }

  /** Greeting, EHLO, STARTTLS, AUTH: throws the failure (an SmtpError) when the session cannot be set up. */
  async open(): Promise<void> {
    const t = this.target;
    await this.step<void>(t.timeoutMs * 2, (done) => this.conn.connect((err?: SmtpError) => done(err)));
    if (t.auth) await this.step<void>(t.timeoutMs * 2, (done) => this.conn.login(t.auth!, (err) => done(err as SmtpError | null)));
  }

  /**
   * One transaction: MAIL FROM, RCPT TO for each recipient, DATA (LMTP: a reply per recipient).
   * With a gate (the target's `inDoubt`), the end of the body — after which SMTPConnection writes the final "." — waits for
   * an in-doubt slot (in-doubt.ts), and the doubt ends in the same turn the reply is handled.
   */
  async transact(env: SmtpEnvelope, message: Buffer): Promise<Transaction> {
    const recipients = env.recipients;
    const gate = this.target.inDoubt;
    // A stream rather than the buffer: whether it was read tells if any byte of the message left;
    // and its end (the ".") is ours to release.
    let over = false;
    let doubt: InDoubt | null = null;
    let pushed = false;
    let asked = false;
    const body = new Readable({
      read() {
        if (!pushed) { pushed = true; this.push(message); return; }
        if (!gate) { this.push(null); return; }
        if (asked || over) return;
        asked = true;
        // The body is taken up (the 354 came): only the "." is left; it goes once the gate lets it.
        void gate.enter({ recordId: env.recordId, recipients }, () => over).then((d) => {
          if (!d) return;
          doubt = d;
          this.push(null);
        });
      },
    });
    const settled = () => {
      over = true;
      doubt?.end();
    };
    const perRecipient = (rejectedErrors: SmtpError[] | undefined, rest: (recipient: string) => RecipientOutcome) => {
      const rejected = new Map((rejectedErrors ?? []).map((r) => [r.recipient ?? '', r]));
      return recipients.map((recipient) => {
        const r = rejected.get(recipient);
        return r ? { recipient, kind: kindOf(r), reply: replyOf(r) } : rest(recipient);
      });
    };
    try {
      const info = await this.step<{ rejectedErrors?: SmtpError[]; response: string }>(this.target.timeoutMs * 2, (done) =>
        this.conn.send({ from: env.from, to: recipients, use8BitMime: env.use8BitMime } as never, body as never, (err, res) => done(err as SmtpError | null, res as never)));
      settled();
      this.messages++;
      return { outcomes: perRecipient(info.rejectedErrors, (recipient) => ({ recipient, kind: 'delivered', reply: info.response })), reusable: this.alive, unsent: false };
    } catch (err) {
      settled();
      const x = err as SmtpError;
      const unsent = !body.readableDidRead && (x.responseCode === undefined || x.responseCode === 421);
      const outcomes = x.rejectedErrors?.length
        ? perRecipient(x.rejectedErrors, (recipient) => ({ recipient, kind: kindOf(x), reply: replyOf(x) }))
        : recipients.map((recipient) => ({ recipient, kind: kindOf(x), reply: replyOf(x) }));
      // The server refused this message (envelope or data), not the session: RSET and keep it.
      let reusable = false;
      if (this.alive && (x.code === 'EENVELOPE' || x.code === 'EMESSAGE') && x.responseCode !== 421) {
        reusable = await this.step<boolean>(this.target.timeoutMs, (done) => this.conn.reset((e) => done(e as SmtpError | null, true))).catch(() => false);
      }
      this.messages++;
      return { outcomes, reusable, unsent };
    }
  }

  /** QUIT, then closes the socket (at once when the session is dead). */
  close(): void {
    clearTimeout(this.idleTimer);
    if (!this.alive) { this.destroy(); return; }
    this.onDeath?.(Object.assign(new Error('session closed'), { code: 'ECLOSED' }));
    try { this.conn.quit(); } catch { /* already closed */ }
    setTimeout(() => this.destroy(), 1000).unref();
  }

  private destroy(): void {
    try { this.conn.close(); } catch { /* already closed */ }
  }
}

/** All recipients with the outcome an error means (a session that could not be set up). */
export const failAll = (recipients: string[], e: SmtpError): RecipientOutcome[] => recipients.map((recipient) => ({ recipient, kind: kindOf(e), reply: replyOf(e) }));

/**
 * One message over a session of its own (opened and closed here). The message is sent as given:
 * SMTPConnection dot-stuffs it and ends DATA with CRLF.CRLF (it would also turn a bare CR or LF
 * into CRLF; the outbound path refuses such messages before they get here, see wire.ts).
 */
export async function smtpSend(t: SmtpTarget, env: SmtpEnvelope, message: Buffer): Promise<SmtpResult> {
  const s = new SmtpSession(t);
  try {
    try {
      await s.open();
    } catch (e) {
      return { outcomes: failAll(env.recipients, e as SmtpError), tls: s.tls, connected: false };
    }
    const r = await s.transact(env, message);
    return { outcomes: r.outcomes, tls: s.tls, connected: true };
  } finally {
    s.close();
  }
}
