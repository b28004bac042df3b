/**
 * The header block the relay puts on top of the raw message: Received (this hop), the decision,
 * X-Spam-* from the spam section and Authentication-Results from the auth section. The raw message
 * below it is never altered.
 */
import type { MailRecord } from '../../schemas/types.ts';

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
  recipient?: string;
  protocol: 'SMTP' | 'LMTP' | 'local';
  now?: number;
  junk: boolean;
}

/** The lines to prepend (each ends in CRLF). */
export function traceHeaders(record: MailRecord, o: TraceOptions): string {
  const e = record.envelope;
  const lines: string[] = [];
  const forPart = o.recipient ? `\r\n\tfor <${o.recipient}>` : '';
  lines.push(`Received: by ${o.hostname} (scop egress) with ${o.protocol === 'local' ? 'local' : o.protocol === 'LMTP' ? 'LMTP' : 'ESMTP'} id ${e.id}${forPart};\r\n\t${rfc5322Date(o.now ?? Date.now())}`);
  const d = record.decision;
  if (d) lines.push(`X-Scop-Decision: ${d.action}${d.reasons.length ? `; ${d.reasons.join('; ')}` : ''}`);
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

/** The message as delivered: our header block, then the raw bytes exactly as the ingress stored them. */
export function withTrace(record: MailRecord, o: TraceOptions): Buffer {
  return Buffer.concat([Buffer.from(traceHeaders(record, o), 'utf8'), record.envelope.raw]);
}
