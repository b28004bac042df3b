/**
 * The header block the relay puts on top of the raw message: Received (this hop), the decision,
 * X-Spam-* from the spam section and Authentication-Results from the auth section. The raw message
 * below it is never altered.
 */
import type { MailRecord } from '../../schemas/types.ts';

/** Values from sections end up in header lines: keep CRLF folds, drop any other CR, LF or control character. */
export function headerValue(v: string): string {
  return v
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

export interface SpamView {
  score: number | null;
  threshold: number | null;
  isSpam: boolean | null;
  tests: string[];
}

/**
 * Reads the spam section (schemas/spam.avsc, processors/spam) by the fields the relay needs. Kept
 * loose on purpose: the relay must not fail on a record written before that section existed.
 */
export function spamView(record: MailRecord): SpamView | null {
  const s = (record as unknown as { spam?: Record<string, unknown> | null }).spam;
  if (!s || typeof s !== 'object') return null;
  const num = (...keys: string[]) => { for (const k of keys) if (typeof s[k] === 'number') return s[k] as number; return null; };
  const score = num('score', 'spamScore');
  const threshold = num('threshold', 'required', 'requiredScore');
  let isSpam: boolean | null = null;
  for (const k of ['isSpam', 'spam']) if (typeof s[k] === 'boolean') isSpam = s[k] as boolean;
  if (isSpam === null && typeof s.verdict === 'string') isSpam = /spam/i.test(s.verdict) && !/ham|not/i.test(s.verdict);
  if (isSpam === null && score !== null && threshold !== null) isSpam = score >= threshold;
  const rules = (s.tests ?? s.rules ?? s.hits) as unknown;
  const tests = Array.isArray(rules) ? rules.map((r) => (typeof r === 'string' ? r : String((r as { name?: unknown; rule?: unknown })?.name ?? (r as { rule?: unknown })?.rule ?? ''))).filter(Boolean) : [];
  return { score, threshold, isSpam, tests };
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
  const spam = spamView(record);
  const flag = o.junk || spam?.isSpam === true;
  if (spam || o.junk) {
    lines.push(`X-Spam-Flag: ${flag ? 'YES' : 'NO'}`);
    if (spam?.score !== null && spam?.score !== undefined) {
      lines.push(`X-Spam-Score: ${spam.score.toFixed(1)}`);
      const req = spam.threshold !== null ? ` required=${spam.threshold.toFixed(1)}` : '';
      const tests = spam.tests.length ? `\r\n\ttests=${spam.tests.join(',')}` : '';
      lines.push(`X-Spam-Status: ${flag ? 'Yes' : 'No'}, score=${spam.score.toFixed(1)}${req}${tests}`);
    }
  }
  if (record.auth?.authenticationResults) lines.push(`Authentication-Results: ${record.auth.authenticationResults}`);
  return lines.map((l) => `${headerValue(l)}\r\n`).join('');
}

/** The message as delivered: our header block, then the raw bytes exactly as the ingress stored them. */
export function withTrace(record: MailRecord, o: TraceOptions): Buffer {
  return Buffer.concat([Buffer.from(traceHeaders(record, o), 'utf8'), record.envelope.raw]);
}
