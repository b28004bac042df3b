/**
 * Delivery to the next hop: SMTP or LMTP with nodemailer's SMTPConnection (the raw message is sent
 * as given, with the envelope's MAIL FROM / RCPT TO; SMTPConnection does the dot-stuffing), or a
 * local Maildir per recipient. Each recipient gets an outcome: delivered, temporary or permanent.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { MailRecord } from '../../schemas/types.ts';
import type { NextHop, RelayConfig } from './config.ts';
import { withTrace } from './headers.ts';

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

interface SmtpError extends Error { code?: string; responseCode?: number; response?: string; recipient?: string; rejectedErrors?: SmtpError[] }

const replyOf = (e: SmtpError) => (e.response ?? `${e.code ?? 'error'}: ${e.message}`).trim();
/** 5xx is permanent; 4xx, no reply at all (connection refused, timeout, TLS) are temporary. */
const kindOf = (e: SmtpError): RecipientOutcome['kind'] => (e.responseCode !== undefined && e.responseCode >= 500 ? 'permanent' : 'temporary');

export async function deliverSmtp(hop: Extract<NextHop, { kind: 'smtp' | 'lmtp' }>, cfg: RelayConfig, record: MailRecord, recipients: string[], junk: boolean): Promise<RecipientOutcome[]> {
  const message = withTrace(record, { hostname: cfg.hostname, authservIds: cfg.authservIds, protocol: hop.kind === 'lmtp' ? 'LMTP' : 'SMTP', junk, recipient: recipients.length === 1 ? recipients[0] : undefined });
  const r = await smtpSend({
    host: hop.host, port: hop.port, lmtp: hop.kind === 'lmtp', name: cfg.hostname, starttls: cfg.starttls,
    // EGRESS_TLS_CA_FILE: a next hop with a private CA can be verified rather than trusted blindly.
    tls: { rejectUnauthorized: !cfg.tlsInsecure, ...(cfg.outbound.extraCa.length ? { ca: [...rootCertificates, ...cfg.outbound.extraCa] } : {}) }, timeoutMs: cfg.timeoutMs, auth: cfg.auth,
  }, { from: record.envelope.mailFrom, recipients, use8BitMime: record.envelope.bodyType !== 'SEVEN_BIT' }, message);
  return r.outcomes;
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
}

export interface SmtpResult {
  outcomes: RecipientOutcome[];
  /** Whether the session got as far as a TLS connection. */
  tls: boolean;
  /** Whether a session was established at all (greeting + EHLO): false means try another host. */
  connected: boolean;
}

/**
 * One SMTP/LMTP transaction with SMTPConnection. The message is sent as given: SMTPConnection
 * dot-stuffs it and ends DATA with CRLF.CRLF (it would also turn a bare CR or LF into CRLF; the
 * outbound path refuses such messages before they get here, see wire.ts).
 */
export async function smtpSend(t: SmtpTarget, env: { from: string; recipients: string[]; use8BitMime: boolean }, message: Buffer): Promise<SmtpResult> {
  const conn = new SMTPConnection({
    host: t.host, port: t.port, lmtp: t.lmtp, name: t.name,
    ignoreTLS: t.starttls === 'off', requireTLS: t.starttls === 'require', opportunisticTLS: t.starttls === 'opportunistic',
    tls: t.tls, servername: t.tls.servername,
    connectionTimeout: t.timeoutMs, greetingTimeout: t.timeoutMs, socketTimeout: t.timeoutMs,
  } as never);
  const recipients = env.recipients;
  let connected = false;
  const all = (kind: RecipientOutcome['kind'], reply: string) => recipients.map((recipient) => ({ recipient, kind, reply }));
  // SMTPConnection reports connection-level failures (refused, reset, timeout) as 'error' events,
  // not through the callbacks: every step races them, and a hard deadline bounds the whole exchange.
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, fail) => {
    conn.once('error', fail);
    conn.once('end', () => fail(Object.assign(new Error('connection closed by the next hop'), { code: 'ECONNRESET' })));
    timer = setTimeout(() => fail(Object.assign(new Error(`no answer within ${t.timeoutMs * 2} ms`), { code: 'ETIMEDOUT' })), t.timeoutMs * 2);
  });
  failed.catch(() => {});
  const step = <T>(fn: (done: (err: SmtpError | null | undefined, v?: T) => void) => void) => Promise.race([new Promise<T>((ok, fail) => fn((err, v) => (err ? fail(err) : ok(v as T)))), failed]);
  const result = (outcomes: RecipientOutcome[]): SmtpResult => ({ outcomes, tls: Boolean((conn as unknown as { secure?: boolean }).secure), connected });
  try {
    await step<void>((done) => conn.connect((err?: SmtpError) => done(err)));
    connected = true;
    if (t.auth) await step<void>((done) => conn.login(t.auth!, (err) => done(err as SmtpError | null)));
    const info = await step<{ accepted: string[]; rejected: string[]; rejectedErrors?: SmtpError[]; response: string }>((done) =>
      conn.send({ from: env.from, to: recipients, use8BitMime: env.use8BitMime } as never, message, (err, res) => done(err as SmtpError | null, res as never)));
    const rejected = new Map((info.rejectedErrors ?? []).map((r) => [r.recipient ?? '', r]));
    return result(recipients.map((recipient) => {
      const r = rejected.get(recipient);
      return r ? { recipient, kind: kindOf(r), reply: replyOf(r) } : { recipient, kind: 'delivered' as const, reply: info.response };
    }));
  } catch (err) {
    const x = err as SmtpError;
    if (x.rejectedErrors?.length) {
      const rejected = new Map(x.rejectedErrors.map((r) => [r.recipient ?? '', r]));
      return result(recipients.map((recipient) => {
        const r = rejected.get(recipient);
        return r ? { recipient, kind: kindOf(r), reply: replyOf(r) } : { recipient, kind: kindOf(x), reply: replyOf(x) };
      }));
    }
    return result(all(kindOf(x), replyOf(x)));
  } finally {
    clearTimeout(timer);
    try { conn.quit(); } catch { /* already closed */ }
    setTimeout(() => conn.close(), 1000).unref();
  }
}

/**
 * A recipient's mailbox identity: local part and domain in Unicode normalisation form KC and lower
 * case (then NFKC again: lower-casing can leave a non-normalised sequence), the domain as an
 * A-label. So `\u212Aelvin` (KELVIN SIGN), `ｋelvin` (full width), `Kelvin` and `kelvin` are one
 * mailbox, and `bob@bücher.example` is `bob@xn--bcher-kva.example` — consistently, not by accident.
 */
export function mailboxKey(recipient: string): string {
  const fold = (s: string) => s.normalize('NFKC').toLowerCase().normalize('NFKC');
  const at = recipient.lastIndexOf('@');
  if (at < 0) return fold(recipient);
  const domain = fold(recipient.slice(at + 1)).replace(/\.$/, '');
  const ascii = /[^\x00-\x7f]/.test(domain) ? domainToASCII(domain) || domain : domain;
  return `${fold(recipient.slice(0, at))}@${ascii}`;
}

/** Longest file name (NAME_MAX) of the file systems a Maildir lives on (ext4, XFS, btrfs, tmpfs). */
export const MAX_FOLDER_BYTES = 255;

/**
 * A recipient's folder name: its mailboxKey with every byte outside [a-z0-9@._+=-] (UTF-8) written
 * as %XX, `%` included, and a leading dot too. The encoding is reversible, so two different
 * mailboxes never share a folder (before, every non-ASCII character became `_`: `é@x` and `ü@x`
 * were one folder), and no name can climb out of the root or hide as a dot folder.
 */
export function mailboxFolder(recipient: string): string {
  let out = '';
  for (const b of Buffer.from(mailboxKey(recipient), 'utf8')) {
    const safe = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x40 || b === 0x2e || b === 0x5f || b === 0x2b || b === 0x3d || b === 0x2d;
    out += safe && !(out === '' && b === 0x2e) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out || '%'; // the empty address: a name no encoding produces
}

function ensureMaildir(dir: string): void {
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(dir, sub), { recursive: true });
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Maildir delivery (tmp → fsync → rename into new). The file name carries the record id, so a
 * replayed delivery finds its earlier file and writes nothing: exactly once per recipient.
 */
export function deliverMaildir(root: string, hostname: string, record: MailRecord, recipients: string[], junk: boolean, authservIds: readonly string[] = []): RecipientOutcome[] {
  const e = record.envelope;
  return recipients.map((recipient) => {
    const folder = mailboxFolder(recipient);
    // Too long for a file name: no retry can fix that, so a permanent failure, not a temporary one forever.
    if (folder.length > MAX_FOLDER_BYTES) {
      return { recipient, kind: 'permanent' as const, reply: `553 5.1.3 mailbox name too long for a Maildir folder (${folder.length} bytes encoded, limit ${MAX_FOLDER_BYTES})` };
    }
    try {
      const box = join(root, folder);
      const dir = junk ? join(box, '.Junk') : box;
      ensureMaildir(dir);
      const name = `${Math.floor(e.receivedAt / 1000)}.${e.id.replace(/[^A-Za-z0-9-]/g, '')}.${hostname.replace(/[/:]/g, '_')}`;
      if (existsSync(join(dir, 'new', name)) || readdirSync(join(dir, 'cur')).some((f) => f === name || f.startsWith(`${name}:`))) {
        return { recipient, kind: 'delivered' as const, reply: `already in ${dir} (${name})` };
      }
      const bytes = withTrace(record, { hostname, authservIds, protocol: 'local', junk, recipient });
      const tmp = join(dir, 'tmp', name);
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(dir, 'new', name));
      fsyncDir(join(dir, 'new'));
      return { recipient, kind: 'delivered' as const, reply: `stored in ${join(dir, 'new', name)}` };
    } catch (err) {
      // A name the file system refuses will be refused again: permanent.
      if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return { recipient, kind: 'permanent' as const, reply: `553 5.1.3 maildir: ${(err as Error).message}` };
      // A full disk or a permission problem: the operator can fix it, so retry.
      return { recipient, kind: 'temporary' as const, reply: `maildir: ${(err as Error).message}` };
    }
  });
}

export async function deliver(cfg: RelayConfig, record: MailRecord, recipients: string[], junk: boolean): Promise<RecipientOutcome[]> {
  const hop = cfg.nextHop;
  if (hop.kind === 'maildir') return deliverMaildir(hop.dir, cfg.hostname, record, recipients, junk, cfg.authservIds);
  return deliverSmtp(hop, cfg, record, recipients, junk);
}
