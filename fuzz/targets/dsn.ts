/**
 * Delivery status notifications (egress/relay/dsn.ts). Nothing in scop parses incoming bounces (a
 * bounce is ordinary inbound mail); the outside bytes the DSN code reads are the remote MX's reply
 * text (statusOf, Diagnostic-Code folding), the recipient and MX names, and the original message's
 * header section (copied into text/rfc822-headers). Those are what this target controls.
 *
 * Input fields (NUL-separated): reply, recipient, remote MTA, original message, sender; byte 0 of
 * field 5 picks bounced/dead and whether there is a second recipient.
 *
 * Invariants: the DSN builds (none for a sender longer than an SMTP path); CRLF line ends only and no line over 998 octets; the top-level header
 * holds exactly the fields the DSN writes (no injection from any field); a MIME parser finds the
 * text part, message/delivery-status and text/rfc822-headers, and the delivery-status part reads
 * back as deliveryStatusText() (round trip), with one Status per recipient of the RFC 3463 form;
 * the DSN's record fits the MailRecord schema; cost linear (growth probe: every field repeated).
 */
import PostalMime from 'postal-mime';
import { deliveryStatusText, dsnRecord, type FailedRecipient } from '../../egress/relay/dsn.ts';
import { lineEndingProblem } from '../../egress/relay/wire.ts';
import { schema } from '../../schemas/index.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { Fields, growFields, joinFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

const NOW = Date.UTC(2024, 0, 2, 12);
const MTA = 'egress.out.test';
const recordType = schema('MailRecord').type;
const TOP_FIELDS = ['content-type', 'from', 'to', 'subject', 'date', 'message-id', 'auto-submitted', 'mime-version', 'content-transfer-encoding'];

function record(raw: Buffer, mailFrom: string): MailRecord {
  return recordType.clone({
    envelope: {
      id: '0190f4a2-0000-7000-8000-000000000001', receivedAt: Date.UTC(2024, 0, 1, 10), listener: 'SUBMISSION', clientIp: '192.0.2.10', clientPort: 40000,
      clientHostname: null, helo: 'client.example', tls: null, authUser: 'alice', mailFrom, rcptTo: ['bob@far.test'], smtpUtf8: false,
      bodyType: 'EIGHT_BIT_MIME', size: raw.length, ingressHost: 'submit.test', raw, traceLength: 0, messageSha256: '',
    },
  }) as MailRecord;
}

function failures(f: Fields): FailedRecipient[] {
  const flags = f.byte(5);
  const one: FailedRecipient = { recipient: f.utf8(1), reply: f.utf8(0), remoteMta: f.utf8(2) || undefined, kind: flags & 1 ? 'dead' : 'bounced', attempts: 1 + (flags >> 4) };
  return flags & 2 ? [one, { ...one, recipient: `${one.recipient}2`, kind: 'dead', remoteMta: undefined }] : [one];
}

export default defineTarget({
  name: 'dsn',
  about: 'DSN composition from a remote reply, recipient, MX name and the original header section',
  instrument: ['egress/relay/dsn.ts'],
  async: true,
  maxLen: 8 * 1024,
  dict: 'smtp.dict',
  budgetMs: 500,
  growth: { grow: growFields, bytes: 8 * 1024, every: 64 },
  *seeds(): Generator<Seed> {
    const msg = 'Received: from client by submit.test; Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Alice <alice@out.test>\r\nSubject: lunch?\r\n\r\nbody\r\n';
    const replies = ['550 5.1.1 <bob@far.test>: Recipient address rejected: User unknown', '554-5.7.1 first\r\n554 5.7.1 second', '451 4.3.0 try later', 'ECONNREFUSED: connect', '550 no such user'];
    for (const [i, r] of replies.entries()) yield { name: `reply-${i}`, data: joinFields([r, 'bob@far.test', i % 2 ? '' : 'mx.far.test', msg, 'alice@out.test', Buffer.from([i])]) };
  },
  async run(data) {
    const f = new Fields(data);
    const sender = f.utf8(4) || 'alice@out.test';
    const rec = record(f.bytes(3), sender);
    const failed = failures(f);
    const dsn = await dsnRecord(rec, failed, { reportingMta: MTA, now: NOW });
    if (Buffer.byteLength(sender) > 256) return invariant(dsn === null, 'a DSN to a sender longer than any SMTP path');
    invariant(dsn !== null && recordType.isValid(dsn), 'no DSN record, or one that does not fit MailRecord');
    const raw = dsn.envelope.raw;
    invariant(lineEndingProblem(raw) === undefined, () => `DSN has a ${lineEndingProblem(raw)}`);
    const text = raw.toString('latin1');
    const long = text.split('\r\n').find((l) => l.length > 998);
    invariant(long === undefined, () => `a DSN line of ${long!.length} octets`);
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    const names = head.split('\r\n').filter((l) => !/^[ \t]/.test(l)).map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
    for (const n of names) invariant(TOP_FIELDS.includes(n), () => `unexpected top-level header field ${JSON.stringify(n)} (header injection?)`);
    invariant(new Set(names).size === names.length, 'a top-level header field appears twice');

    const parsed = await PostalMime.parse(raw);
    invariant(parsed.attachments.map((a) => a.mimeType).join() === 'message/delivery-status,text/rfc822-headers', () => `parts: ${parsed.attachments.map((a) => a.mimeType).join()}`);
    const status = Buffer.from(parsed.attachments[0]!.content as ArrayBuffer).toString('utf8').replace(/\r?\n/g, '\r\n');
    const expected = deliveryStatusText(rec, failed, { reportingMta: MTA, now: NOW });
    invariant(status.trimEnd() === expected.trimEnd(), 'the delivery-status part does not read back as written');
    const statuses = [...expected.matchAll(/^Status: (.*)$/gm)].map((m) => m[1]!);
    invariant(statuses.length === failed.length, () => `${statuses.length} Status fields for ${failed.length} recipients`);
    for (const s of statuses) invariant(/^[245]\.\d{1,3}\.\d{1,3}$/.test(s), () => `Status ${JSON.stringify(s)} is not an RFC 3463 code`);

  },
});
