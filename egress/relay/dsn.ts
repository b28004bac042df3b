/**
 * Delivery status notifications (RFC 3464) for outbound mail that failed: a multipart/report
 * (report-type=delivery-status) with a text part for people, the message/delivery-status part
 * (Reporting-MTA, Arrival-Date; per recipient Final-Recipient, Action: failed, Status, Remote-MTA,
 * Diagnostic-Code with the remote reply, Last-Attempt-Date) and the original header section as
 * text/rfc822-headers. Built with nodemailer's MimeNode (the MIME tree, boundaries, transfer
 * encodings); only the delivery-status fields are written here (no library formats them).
 *
 * The DSN is a new MailRecord with the null reverse-path (MAIL FROM:<>) to the original sender,
 * so it can never cause another DSN. Its id is derived from the original record id and the failed
 * recipients: a replay that fails the same way makes the same id, which the delivery log
 * de-duplicates.
 */
import { createHash } from 'node:crypto';
import MimeNode from 'nodemailer/lib/mime-node';
import { v5 as uuidv5 } from 'uuid';
import type { MailRecord } from '../../schemas/types.ts';
import { rawMessage, rfc5322Date } from './headers.ts';

/** Namespace of DSN record ids (uuid v5). */
const DSN_NAMESPACE = '4f0f6b0e-7c1e-4a53-9a83-5b0c2d6a9e11';

export interface FailedRecipient {
  recipient: string;
  /** The remote reply, or our own reason (DNS, MTA-STS, connection) when no server answered. */
  reply: string;
  /** The MX host that gave the reply, when one did. */
  remoteMta?: string;
  /** bounced: a permanent (5xx) answer; dead: temporary failures until retries ran out. */
  kind: 'bounced' | 'dead';
  attempts: number;
}

export interface DsnOptions {
  reportingMta: string;
  now?: number;
}

/** A path (address) is at most 256 octets (RFC 5321 §4.5.3.1.3); a DNS name is shorter still. */
const MAX_PATH = 256;
/** Longest reply text kept: with the field name, every line stays under 998 octets (RFC 5322 §2.1.1). */
const MAX_REPLY = 900;

/**
 * Only printable US-ASCII in a report field; CR/LF and controls become spaces. Capped: the values
 * come from a remote server or a record, and a DSN line may not exceed 998 octets.
 */
const fieldText = (s: string, max: number) => s.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, max);

/** Folds a field at spaces so no line is longer than ~78 octets (RFC 5322 §2.1.1). */
function fold(line: string): string {
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur && cur.length + 1 + word.length > 76) { out.push(cur); cur = ` ${word}`; } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out.join('\r\n');
}

/** The enhanced status code (RFC 3463) of a reply, or one derived from its class. */
export function statusOf(reply: string, kind: FailedRecipient['kind']): string {
  const m = /^([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply.trim());
  if (m) return m[2]!;
  const code = /^([245])\d\d\b/.exec(reply.trim());
  if (code?.[1] === '5') return '5.0.0';
  // No enhanced code and no permanent answer: "delivery time expired" for exhausted retries.
  return kind === 'dead' ? '4.4.7' : '5.0.0';
}

function diagnostic(f: FailedRecipient): string {
  const text = fieldText(f.reply, MAX_REPLY);
  return /^[245]\d\d\b/.test(text) && f.remoteMta ? `smtp; ${text}` : `X-Scop; ${text}`;
}

/**
 * The original message's header section: the signatures we sent on top of it, then raw's header.
 * Line ends become CRLF and NULs go: the ingress refuses both, but a record from another writer
 * must not make a DSN that the relay's wire check refuses to send.
 */
export function originalHeaders(record: MailRecord): string {
  const raw = rawMessage(record);
  const end = raw.indexOf('\r\n\r\n');
  const head = (end < 0 ? raw : raw.subarray(0, end + 2)).toString('utf8');
  return `${record.dkimSign?.headers ?? ''}${head}`.replace(/\0/g, '').replace(/\r\n|\r|\n/g, '\r\n');
}

export function deliveryStatusText(record: MailRecord, failed: FailedRecipient[], o: DsnOptions & { now: number }): string {
  const e = record.envelope;
  const perMessage = [`Reporting-MTA: dns; ${o.reportingMta}`, `X-Scop-Record-Id: ${e.id}`, `Arrival-Date: ${rfc5322Date(e.receivedAt)}`];
  const perRecipient = failed.map((f) => [
    `Final-Recipient: rfc822; ${fieldText(f.recipient, MAX_PATH)}`,
    'Action: failed',
    `Status: ${statusOf(f.reply, f.kind)}`,
    ...(f.remoteMta ? [`Remote-MTA: dns; ${fieldText(f.remoteMta, MAX_PATH)}`] : []),
    fold(`Diagnostic-Code: ${diagnostic(f)}`),
    `Last-Attempt-Date: ${rfc5322Date(o.now)}`,
  ].join('\r\n'));
  return `${[perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n')}\r\n`;
}

function humanText(record: MailRecord, failed: FailedRecipient[], o: DsnOptions): string {
  const lines = [
    `This is the mail system at host ${o.reportingMta}.`, '',
    'Your message could not be delivered to the recipients below. This is a permanent error;',
    'the headers of your message are attached.', '',
  ];
  for (const f of failed) {
    const why = f.kind === 'dead' ? `gave up after ${f.attempts} attempts; last error` : f.remoteMta ? `host ${fieldText(f.remoteMta, MAX_PATH)} said` : 'reason';
    lines.push(fold(`<${fieldText(f.recipient, MAX_PATH)}>: ${why}: ${fieldText(f.reply, MAX_REPLY)}`));
  }
  lines.push('', `(record id ${record.envelope.id})`, '');
  return lines.join('\r\n');
}

export const dsnRecordId = (record: MailRecord, failed: FailedRecipient[]) =>
  uuidv5(`${record.envelope.id}|${failed.map((f) => `${f.recipient.toLowerCase()}:${f.kind}`).sort().join(',')}`, DSN_NAMESPACE);

/** The DSN message bytes (CRLF line ends). */
export async function buildDsn(record: MailRecord, failed: FailedRecipient[], o: DsnOptions): Promise<{ id: string; raw: Buffer }> {
  const now = o.now ?? Date.now();
  const id = dsnRecordId(record, failed);
  const root = new MimeNode('multipart/report; report-type=delivery-status', { newline: '\r\n' } as never);
  root.setHeader({
    From: `Mail Delivery System <MAILER-DAEMON@${o.reportingMta}>`,
    To: `<${record.envelope.mailFrom}>`,
    Subject: 'Undelivered Mail Returned to Sender',
    Date: rfc5322Date(now),
    'Message-ID': `<dsn.${id}@${o.reportingMta}>`,
    'Auto-Submitted': 'auto-replied',
  });
  root.createChild('text/plain; charset=us-ascii').setContent(humanText(record, failed, o));
  root.createChild('message/delivery-status').setContent(deliveryStatusText(record, failed, { ...o, now }));
  root.createChild('text/rfc822-headers').setContent(originalHeaders(record));
  const raw = await new Promise<Buffer>((ok, fail) => root.build((err: Error | null, b: Buffer) => (err ? fail(err) : ok(b))));
  return { id, raw };
}

/**
 * The DSN as a record for the relay: null sender, to the original sender. Null when the original
 * had the null sender, and when its sender is longer than any SMTP path (no server would take the
 * DSN, and its To: line could not be kept under 998 octets).
 */
export async function dsnRecord(record: MailRecord, failed: FailedRecipient[], o: DsnOptions): Promise<MailRecord | null> {
  const sender = record.envelope.mailFrom;
  if (!sender || failed.length === 0) return null; // never bounce a bounce (RFC 5321 §4.5.5)
  if (Buffer.byteLength(sender) > MAX_PATH) return null;
  const now = o.now ?? Date.now();
  const { id, raw } = await buildDsn(record, failed, { ...o, now });
  return {
    envelope: {
      id, receivedAt: now, listener: 'MX', clientIp: '127.0.0.1', clientPort: 0, clientHostname: null, helo: o.reportingMta, tls: null,
      authUser: null, mailFrom: '', rcptTo: [sender], smtpUtf8: record.envelope.smtpUtf8, bodyType: raw.some((b) => b > 0x7f) ? 'EIGHT_BIT_MIME' : 'SEVEN_BIT',
      size: raw.length, ingressHost: o.reportingMta, raw, traceLength: 0, messageSha256: createHash('sha256').update(raw).digest('hex'), submissionMac: null,
      clientHostnameConfirmed: null,
    },
    auth: null, mime: null, spam: null, firewall: null, decision: null, dkimSign: null, symbols: [], rawRef: null,
  };
}
