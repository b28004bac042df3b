/**
 * The header block the relay puts on top of the raw message: Received (this hop), the decision,
 * X-Spam-* from the spam section and Authentication-Results from the auth section. Below it, the
 * raw message without the trust fields a sender may have forged (RFC 8601 §5: Authentication-Results
 * carrying our authserv-id; our own X-Spam-* / X-Scop-*). The record in Kafka is never altered:
 * only the delivered copy is.
 *
 * Every copy carries `X-Scop-Record-Id: <record id>` (and a `Message-ID` made from the record id
 * when the message has none), so a receiver can recognise a redelivery after a crash — same
 * Message-ID, same record id — and tools can map a stored message back to its record.
 */
import type { MailRecord } from '../../schemas/types.ts';
import { asciiLower, authservIdReadings, fieldName, lenientField } from '../../runtime/header-fields.ts';

/** Values from sections end up in header lines: keep CRLF folds, drop any other CR, LF or control character. */
export function headerValue(v: string): string {
  return v
    .replace(/\u0000/g, '')                 // NUL marks the folds below; one in the input must not become a line end
    .replace(/\r?\n(?=[ \t])/g, '\u0000')  // keep folds
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/\u0000/g, '\r\n');
}

/** RFC 5322 date-time in UTC, e.g. `Tue, 5 Mar 2024 10:00:00 +0000`. */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface TraceOptions {
  hostname: string;
  /** authserv-ids that are ours (EGRESS_AUTHSERV_IDS); the auth section's own id is always added. */
  authservIds?: readonly string[];
  recipient?: string;
  protocol: 'SMTP' | 'LMTP' | 'local';
  now?: number;
  junk: boolean;
}

/**
 * The raw message bytes of a record: the one place the egress reads them (issue 15 item 2 makes
 * records carry the raw message by reference; only this accessor has to learn to fetch it).
 */
export const rawMessage = (record: MailRecord): Buffer => record.envelope.raw;

/** The header field that names the record a delivered copy came from (README "Recognising a redelivery"). */
export const RECORD_ID_FIELD = 'X-Scop-Record-Id';

/**
 * The Message-ID given to a message that arrived without one: derived from the record id, so every
 * (re)delivery of the record carries the same one.
 */
export const messageIdFor = (recordId: string, hostname: string) => `<${recordId.replace(/[^A-Za-z0-9._-]/g, '')}@${hostname}>`;

/** The lines to prepend (each ends in CRLF). `hasMessageId: false` adds a Message-ID derived from the record id. */
export function traceHeaders(record: MailRecord, o: TraceOptions & { hasMessageId?: boolean }): string {
  const e = record.envelope;
  const lines: string[] = [];
  const forPart = o.recipient ? `\r\n\tfor <${o.recipient}>` : '';
  lines.push(`Received: by ${o.hostname} (scop egress) with ${o.protocol === 'local' ? 'local' : o.protocol === 'LMTP' ? 'LMTP' : 'ESMTP'} id ${e.id}${forPart};\r\n\t${rfc5322Date(o.now ?? Date.now())}`);
  // The record id: redelivery is recognisable, and a move into or out of Junk labels this record
  // (processors/spam/README.md "Feedback from the mailbox"). A forged one was removed with every X-Scop-* field.
  lines.push(`${RECORD_ID_FIELD}: ${e.id}`);
  if (o.hasMessageId === false) lines.push(`Message-ID: ${messageIdFor(e.id, o.hostname)}`);
  const d = record.decision;
  if (d) lines.push(`X-Scop-Decision: ${d.action}${d.reasons.length ? `; ${d.reasons.join('; ')}` : ''}`);
  // add_header (the policy's mildest action): delivered to the inbox, marked for the reader's filters.
  if (d?.action === 'add_header') lines.push('X-Spam: Yes');
  const spam = record.spam;
  const flag = o.junk || spam?.verdict === 'spam';
  if (spam || o.junk) {
    lines.push(`X-Spam-Flag: ${flag ? 'YES' : 'NO'}`);
    if (spam) {
      lines.push(`X-Spam-Score: ${spam.score.toFixed(1)}`);
      const tokens = spam.topTokens.length ? `\r\n\ttokens=${spam.topTokens.slice(0, 5).map((t) => JSON.stringify(t.token)).join(',')}` : '';
      lines.push(`X-Spam-Status: ${flag ? 'Yes' : 'No'}, verdict=${spam.verdict} probability=${spam.probability.toFixed(4)} score=${spam.score.toFixed(1)}\r\n\tmodel=${spam.modelVersion}${tokens}`);
    }
  }
  if (record.auth?.authenticationResults) lines.push(`Authentication-Results: ${record.auth.authenticationResults}`);
  return lines.map((l) => `${headerValue(l)}\r\n`).join('');
}

/** Fields only this system writes: a copy arriving from outside is forged (or stale) and must not reach a mailbox. */
const OWN_FIELD = /^x-(?:spam|scop)(?:-|$)/;

/** A trust field only we write, by its (lookalike) name; Authentication-Results only with our authserv-id (or none readable). */
const isTrustName = (name: string) => OWN_FIELD.test(name) || name === 'authentication-results';

/**
 * Whether a field starting with this byte can be a trust field or the Message-ID: names starting with
 * a, m or x, and anything that starts outside printable ASCII (a control character, white space other
 * than the space and tab of a continuation, a non-ASCII byte), which a lenient reader may drop.
 */
const mayMatter = (b: number) => b < 0x21 || b > 0x7e || (b | 0x20) === 0x61 || (b | 0x20) === 0x78 || (b | 0x20) === 0x6d;

/**
 * The raw message as pieces without the forged trust fields of its header section: every
 * Authentication-Results field whose authserv-id is one of ours or cannot be read (a field a mail
 * reader might take for ours), and every X-Spam-* / X-Scop-* field. Header names compare without
 * case and with white space before the colon (obsolete syntax), folded fields go whole.
 *
 * Lookalikes go too: a field whose name, in the lenient view (runtime/header-fields.ts lenientField:
 * control characters, white space, folds and non-ASCII bytes dropped), is a trust field's. Every reader in
 * scop says `Authentication-Results\0:` or `\x01X-Spam-Flag:` names no such field, but a mail
 * client or filter that stops at NUL or drops control characters may take it for one, and with our
 * authserv-id it forges our verdict. Control characters in the authserv-id are dropped for the same
 * reason (`mx.scop\x01.test` is ours). A valid field name is its own lookalike, so no valid field
 * of someone else's is removed.
 *
 * One pass over the header section: each field that may matter is read once (as latin1 text: its
 * first colon, the name before it, for Authentication-Results the value's CFWS and id), so the cost
 * is linear in the header section however long one field is; the body is not read. `removed` names what went as every reader reads it (lower-cased), a lookalike as written.
 */
export function withoutForgedTrustFields(raw: Buffer, authservIds: Iterable<string>): { parts: Buffer[]; removed: string[]; hasMessageId: boolean } {
  const ours = new Set([...authservIds].map((id) => id.trim().toLowerCase()).filter(Boolean));
  const parts: Buffer[] = [];
  const removed: string[] = [];
  let hasMessageId = false;
  let keptFrom = 0;
  let pos = 0;
  const lineEnd = (from: number) => {
    const nl = raw.indexOf(0x0a, from);
    return nl < 0 ? raw.length : nl + 1;
  };
  while (pos < raw.length) {
    let end = lineEnd(pos);
    if (raw[pos] === 0x0a || (raw[pos] === 0x0d && raw[pos + 1] === 0x0a)) break; // the blank line: the body follows
    while (end < raw.length && (raw[end] === 0x20 || raw[end] === 0x09)) end = lineEnd(end); // continuation lines
    // Only fields that may matter are read (most of a header section is not), once each.
    const text = mayMatter(raw[pos]!) ? raw.toString('latin1', pos, end) : null;
    // The lenient view (runtime/header-fields.ts): the colon anywhere in the field, after a fold too.
    const field = text === null ? null : lenientField(text);
    if (text !== null && field) {
      // The strict name, white space of any kind before the colon dropped as every reader in scop
      // drops it (trimming only spaces and tabs once let `Authentication-Results\f:` through: a
      // fuzzing finding): for the Message-ID, and to name what went.
      const name = fieldName(text) ?? '';
      if (name === 'message-id') hasMessageId = true;
      let drop = OWN_FIELD.test(field.name);
      if (!drop && field.name === 'authentication-results') {
        // Ours or unreadable by either reading (authservIdReadings): `(c) \fe"mx.t-` is unreadable
        // strictly and reads `e` leniently.
        const { strict, lenient } = authservIdReadings(field.value);
        drop = [strict, lenient].some((id) => id === null || ours.has(id));
      }
      if (drop) {
        if (pos > keptFrom) parts.push(raw.subarray(keptFrom, pos));
        keptFrom = end;
        removed.push(isTrustName(name) ? name : asciiLower(text.slice(0, text.length - field.value.length - 1)));
      }
    }
    pos = end;
  }
  if (keptFrom < raw.length) parts.push(raw.subarray(keptFrom));
  return { parts, removed, hasMessageId };
}

/**
 * The message as delivered: our header block, then the raw bytes as the ingress stored them minus
 * the forged trust fields (withoutForgedTrustFields).
 */
export function withTrace(record: MailRecord, o: TraceOptions): Buffer {
  const ids = [...(o.authservIds ?? []), ...(record.auth?.authservId ? [record.auth.authservId] : [])];
  const { parts, hasMessageId } = withoutForgedTrustFields(rawMessage(record), ids);
  return Buffer.concat([Buffer.from(traceHeaders(record, { ...o, hasMessageId }), 'utf8'), ...parts]);
}
