/**
 * Header reading and writing outside the MIME parser: the structure scan's header reader and its
 * Content-Type parameter parser (processors/mime/structure.ts), the spam stage's raw field reader
 * (processors/spam/input.ts rawFields), and the egress's trace header writer
 * (egress/relay/headers.ts headerValue / traceHeaders), which puts values from stage sections —
 * text an attacker influences — into header lines of the delivered message, and the egress's
 * removal of forged trust fields (withoutForgedTrustFields: Authentication-Results with our
 * authserv-id, X-Spam-*, X-Scop-*).
 *
 * Input fields (NUL-separated): a header block (bare CR and LF dropped: the ingress refuses them); then values that end up in the egress's headers:
 * Authentication-Results, a decision reason, a spam token, the recipient.
 *
 * Invariants: the two header readers agree on every field both read (first value, white space
 * normalised): a stage must not see a different header than another; Content-Type parameters come
 * back with lower-case names; the egress's header block is only its own fields plus continuation
 * lines (no header injection, CRLF line ends, no control characters but tab) and headerValue is
 * idempotent; after the forged-field removal the structure scan's reader finds no X-Spam-*,
 * X-Scop-* or Authentication-Results of ours (or unreadable) left, nor a lookalike of one (a name with
 * control characters, white space, folds or non-ASCII bytes a lenient reader drops), and the body is untouched;
 * cost linear (growth probe: every field repeated).
 */
import { headerValue, traceHeaders, withoutForgedTrustFields } from '../../egress/relay/headers.ts';
import { parseContentType, scanStructure } from '../../processors/mime/structure.ts';
import { RAW_FIELDS, rawFields } from '../../processors/spam/input.ts';
import { authservIdOf, authservIdReadings, headerBlock, lenientField, splitFields } from '../../runtime/header-fields.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { Fields, growFields, joinFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { corpusMessages, headerAndBody } from '../harness/mail-seeds.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

// What the egress adds (egress/relay/README.md): X-Spam for the policy's add_header action, the record id on every copy,
// a Message-ID only when the message has none.
const OURS = new Set(['received', 'x-scop-record-id', 'message-id', 'x-scop-decision', 'x-spam', 'x-spam-flag', 'x-spam-score', 'x-spam-status', 'authentication-results']);
const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

function record(f: Fields): MailRecord {
  return {
    envelope: { id: '0190f4a2-0000-7000-8000-000000000001', raw: Buffer.alloc(0) },
    auth: { authenticationResults: f.utf8(1) },
    decision: { action: 'deliver', reasons: [f.utf8(2)] },
    spam: { verdict: 'ham', score: 1.5, probability: 0.1, modelVersion: 'm1', topTokens: [{ token: f.utf8(3), weight: 1 }] },
  } as unknown as MailRecord;
}

export default defineTarget({
  name: 'headers',
  about: 'header readers (structure scan, spam raw fields) against each other; the egress trace header writer',
  instrument: ['processors/mime/structure.ts', 'processors/spam/input.ts', 'egress/relay/headers.ts', 'runtime/header-fields.ts'],
  async: false,
  maxLen: 8 * 1024,
  dict: 'mime.dict',
  budgetMs: 500,
  growth: { grow: growFields, bytes: 16 * 1024, every: 32 },
  *seeds(testdata): Generator<Seed> {
    yield { name: 'folded', data: joinFields(['Subject: a\r\n b\r\nContent-Type: multipart/mixed;\r\n\tboundary="x y"; charset*0=utf-8\'\'a; charset*1=b\r\nX-Mailer: m 1.0', 'mx.test; dkim=pass\r\n header.d=a.test', 'reason', 'tok', 'bob@example.net']) };
    if (!testdata) return;
    for (const s of corpusMessages(testdata, 16 * 1024)) yield { name: s.name, data: joinFields([headerAndBody(s.data).header, 'mx.test; spf=pass', 'deliver', 'word', 'rcpt@example.net']) };
  },
  run(data) {
    const f = new Fields(data);
    // CRLF line ends only, as the ingress stores every message (it refuses bare CR and LF).
    const head = Buffer.from(f.latin1(0).replace(/\r(?!\n)|(?<!\r)\n/g, ''), 'latin1');
    const raw = Buffer.concat([head, Buffer.from('\r\n\r\nbody\r\n')]);
    const fields = rawFields(raw);
    const scanned = scanStructure(raw).headers;
    // Each reader has its own size cap (the spam stage reads the first 64 KiB): compare below both.
    for (const name of f.bytes(0).length < 64 * 1024 ? RAW_FIELDS : []) {
      const a = fields[name];
      const b = scanned.find((h) => h.name.toLowerCase() === name)?.value;
      if (a === undefined || b === undefined) continue;
      invariant(norm(a) === norm(b), () => `the two header readers disagree on ${name}: ${JSON.stringify(a.slice(0, 100))} vs ${JSON.stringify(b.slice(0, 100))}`);
    }
    const ct = scanned.find((h) => h.name.toLowerCase() === 'content-type')?.value;
    if (ct !== undefined) {
      for (const k of Object.keys(parseContentType(ct).params)) invariant(k === k.toLowerCase(), () => `parameter name ${JSON.stringify(k)} not lower-cased`);
    }

    const stripped = Buffer.concat(withoutForgedTrustFields(raw, ['mx.scop.test']).parts);
    const t = stripped.toString('latin1');
    invariant(t.endsWith('\r\n\r\nbody\r\n') || t === '\r\nbody\r\n', 'the forged-field removal changed the body');
    // Read as delivered: withTrace always puts our Received field first, so a message that starts with a blank
    // line has no header fields of its own (a reader that skips leading blank lines, as the structure scan
    // does, would otherwise see the body's first lines as fields).
    for (const h of scanStructure(Buffer.concat([Buffer.from('Received: by mx.scop.test\r\n'), stripped])).headers) {
      const name = h.name.toLowerCase();
      invariant(!/^x-(?:spam|scop)(?:-|$)/.test(name), () => `a forged ${h.name} field survived: ${JSON.stringify(h.value.slice(0, 80))}`);
      if (name === 'authentication-results') {
        const id = authservIdOf(h.value);
        invariant(id !== null && id !== 'mx.scop.test', () => `an Authentication-Results field of ours (or unreadable) survived: ${JSON.stringify(h.value.slice(0, 80))}`);
      }
    }

    // Nor does a reader outside scop that drops control characters, white space, folds or non-ASCII bytes from a
    // name (the lenient view: lenientField) find one: `Authentication-Results\x01:` is no field for us, but may be ours for a mail client.
    for (const field of splitFields(headerBlock(stripped))) {
      const lenient = lenientField(field);
      if (lenient === null || /^[ \t]/.test(field)) continue;
      invariant(!/^x-(?:spam|scop)(?:-|$)/.test(lenient.name), () => `a lookalike of a trust field survived: ${JSON.stringify(field.slice(0, 80))}`);
      if (lenient.name === 'authentication-results') {
        // Either reading of its authserv-id: the strict one, as scop's readers read a value, and the lenient one.
        for (const id of Object.values(authservIdReadings(lenient.value))) {
          invariant(id !== null && id !== 'mx.scop.test', () => `a lookalike Authentication-Results of ours (or unreadable) survived: ${JSON.stringify(field.slice(0, 80))}`);
        }
      }
    }

    for (const v of [f.utf8(1), f.utf8(2), f.latin1(0)]) {
      const once = headerValue(v);
      invariant(headerValue(once) === once, () => `headerValue is not idempotent on ${JSON.stringify(v.slice(0, 100))}`);
    }
    const block = traceHeaders(record(f), { hostname: 'mx.scop.test', recipient: f.utf8(4) || undefined, protocol: 'SMTP', now: 0, junk: false });
    invariant(block.endsWith('\r\n') && !/\r(?!\n)|(?<!\r)\n/.test(block), 'trace headers with a bare CR or LF');
    invariant(!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(block), 'trace headers with a control character');
    for (const line of block.slice(0, -2).split('\r\n')) {
      if (/^[ \t]/.test(line)) continue;
      const name = line.slice(0, line.indexOf(':')).toLowerCase();
      invariant(OURS.has(name), () => `the egress wrote a header field it does not own: ${JSON.stringify(line.slice(0, 100))}`);
    }
  },
});
