/**
 * Forged trust fields do not reach a mailbox (RFC 8601 §5): an incoming Authentication-Results
 * carrying our authserv-id (any case, quoted, after a comment, folded, with white space before the
 * colon) and incoming X-Spam-* / X-Scop-* fields are left out of what the egress writes, next to
 * ours; other fields, other hosts' Authentication-Results and the body stay byte for byte, and the
 * record itself is not altered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { testDecision, testMailRecord } from '../../runtime/stage-testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { authservIdOf } from '../../runtime/header-fields.ts';
import { withoutForgedTrustFields, withTrace } from './headers.ts';
import { deliverMaildir } from './maildir.ts';

const OURS = 'mx.scop.test';
const body = 'Hello.\r\nAuthentication-Results: mx.scop.test; dkim=pass (a body line, not a field)\r\nX-Spam-Flag: NO\r\n';
const forged = [
  'Received: from client.example by mx.scop.test; Mon, 1 Jan 2024 10:00:00 +0000',
  'Authentication-Results: mx.scop.test; dkim=pass header.d=paypal.com',
  'authentication-results: MX.SCOP.TEST;\r\n\tdkim=pass header.d=paypal.com',
  'Authentication-Results :\r\n (checked by) "mx.scop.test" 1; spf=pass smtp.mailfrom=paypal.com',
  'Authentication-Results: (unterminated comment; dkim=pass',
  'Authentication-Results: other.example.net; dkim=fail header.d=paypal.com',
  'X-Spam-Flag: NO',
  'x-spam-status: No, score=-100\r\n\ttokens="x"',
  'X-Spam: no',
  'X-SCOP-Decision: deliver; all good',
  'X-Scop-Record-Id: 00000000-0000-7000-8000-000000000000',
  'X-Spamassassin-Version: 4.0 (not ours: kept)',
  'From: PayPal <service@paypal.com>',
  'Subject: Your account',
].join('\r\n');
const raw = Buffer.from(`${forged}\r\n\r\n${body}`, 'latin1');

const record = (): MailRecord => ({
  ...testMailRecord(raw, { rcptTo: ['bob@example.net'] }),
  auth: { authservId: OURS, authenticationResults: `${OURS};\r\n dkim=none; spf=softfail smtp.mailfrom=paypal.com` } as MailRecord['auth'],
  spam: { score: 7.5, probability: 0.99, verdict: 'spam', topTokens: [], modelVersion: 'm1' } as unknown as MailRecord['spam'],
  decision: testDecision('junk', ['spam'], { decidedAt: 0 }),
});

const fieldsOf = (message: Buffer) => {
  const text = message.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return head.split(/\r\n(?![ \t])/).map((f) => f.replace(/\r\n/g, ''));
};

describe('forged trust fields', () => {
  it('every copy names its record (X-Scop-Record-Id, a forged one removed); a message without Message-ID gets one derived from the record id, the same on every redelivery', () => {
    const withForged = testMailRecord('X-Scop-Record-Id: forged\r\nSubject: no id\r\n\r\nhi\r\n', { rcptTo: ['bob@example.net'] });
    const first = fieldsOf(withTrace(withForged, { hostname: 'egress.scop.test', protocol: 'SMTP', junk: false }));
    const again = fieldsOf(withTrace(withForged, { hostname: 'egress.scop.test', protocol: 'SMTP', junk: false }));
    assert.deepEqual(first.filter((f) => /^x-scop-record-id/i.test(f)), [`X-Scop-Record-Id: ${withForged.envelope.id}`]);
    const ids = first.filter((f) => /^message-id/i.test(f));
    assert.equal(ids.length, 1);
    assert.match(ids[0]!, /^Message-ID: <[A-Za-z0-9._-]+@egress\.scop\.test>$/);
    assert.deepEqual(again.filter((f) => /^message-id/i.test(f)), ids, 'a redelivery carries the same Message-ID');
    const own = testMailRecord('message-id : <own@example.net>\r\nSubject: has one\r\n\r\nhi\r\n', { rcptTo: ['bob@example.net'] });
    assert.deepEqual(fieldsOf(withTrace(own, { hostname: 'egress.scop.test', protocol: 'SMTP', junk: false })).filter((f) => /^message-id/i.test(f)), ['message-id : <own@example.net>'], 'its own Message-ID is kept, none added');
  });

  it('reads the authserv-id after CFWS, quoted or not, in any case; null when unreadable', () => {
    assert.equal(authservIdOf(' mx.scop.test; dkim=pass'), 'mx.scop.test');
    assert.equal(authservIdOf(' (a (nested) comment) "MX.Scop.Test" 1; none'), 'mx.scop.test');
    assert.equal(authservIdOf('\tmx.scop.test 1 ; none'), 'mx.scop.test');
    assert.equal(authservIdOf(' ; dkim=pass'), null);
    assert.equal(authservIdOf(' (never closed; dkim=pass'), null);
    assert.equal(authservIdOf(' "never closed; dkim=pass'), null);
  });

  it('the delivered copy has our Authentication-Results and X-Spam-* / X-Scop-* only; the rest byte for byte', () => {
    const rec = record();
    const out = withTrace(rec, { hostname: 'egress.scop.test', protocol: 'local', junk: true, recipient: 'bob@example.net' });
    const fields = fieldsOf(out);
    const named = (re: RegExp) => fields.filter((f) => re.test(f));
    assert.deepEqual(named(/^authentication-results\s*:/i), [`Authentication-Results: ${OURS}; dkim=none; spf=softfail smtp.mailfrom=paypal.com`, 'Authentication-Results: other.example.net; dkim=fail header.d=paypal.com']);
    assert.deepEqual(named(/^x-spam(-|:)/i).map((f) => f.split(':')[0]), ['X-Spam-Flag', 'X-Spam-Score', 'X-Spam-Status']);
    assert.ok(named(/^x-spam-flag/i)[0]!.endsWith('YES'), 'our junk flag, not the forged NO');
    assert.deepEqual(named(/^x-scop-/i), [`X-Scop-Record-Id: ${rec.envelope.id}`, 'X-Scop-Decision: junk; spam'], 'our record id (what a move into Junk reports), no forged X-Scop-*');
    for (const kept of ['Received: from client.example by mx.scop.test; Mon, 1 Jan 2024 10:00:00 +0000', 'X-Spamassassin-Version: 4.0 (not ours: kept)', 'From: PayPal <service@paypal.com>', 'Subject: Your account']) {
      assert.ok(fields.includes(kept), kept);
    }
    assert.ok(out.toString('latin1').endsWith(`\r\n\r\n${body}`), 'the body is untouched');
    assert.deepEqual(rec.envelope.raw, raw, 'the record is not altered');
  });

  it('add_header: delivered with X-Spam: Yes (the forged X-Spam: no left out), not flagged as junk', () => {
    const rec = { ...record(), spam: null, decision: testDecision('add_header', ['add_header: score 4 >= 3 (add_header)'], { decidedAt: 0 }) } as MailRecord;
    const fields = fieldsOf(withTrace(rec, { hostname: 'egress.scop.test', protocol: 'local', junk: false }));
    assert.deepEqual(fields.filter((f) => /^x-spam(-|\s*:)/i.test(f)), ['X-Spam: Yes']);
    assert.deepEqual(fieldsOf(withTrace(record(), { hostname: 'egress.scop.test', protocol: 'local', junk: true })).filter((f) => /^x-spam\s*:/i.test(f)), [], 'only for add_header');
  });

  it('EGRESS_AUTHSERV_IDS adds further ids of ours; without an auth section the configured ones still apply', () => {
    const rec = { ...record(), auth: null } as MailRecord;
    const { removed } = withoutForgedTrustFields(rec.envelope.raw, ['other.example.net']);
    assert.deepEqual(removed.filter((n) => n === 'authentication-results').length, 2, 'the unreadable one and other.example.net');
    const mine = withoutForgedTrustFields(rec.envelope.raw, [OURS, 'other.example.net']);
    assert.equal(mine.removed.filter((n) => n === 'authentication-results').length, 5);
    assert.deepEqual(fieldsOf(Buffer.concat(mine.parts)).filter((f) => /^authentication-results/i.test(f)), []);
  });

  it('a field name followed by other white space than spaces and tabs (a form feed, a vertical tab, NBSP) before its colon is still removed (fuzzing finding)', () => {
    for (const ws of ['\f', '\v', '\xa0', ' \f\t']) {
      const raw = Buffer.from(`Subject: a\r\nAuthentication-Results${ws}: (c) "${OURS}"; spf=pass\r\nX-Spam-Flag${ws}: YES\r\nTo: b@example.net\r\n\r\nbody\r\n`, 'latin1');
      const out = Buffer.concat(withoutForgedTrustFields(raw, [OURS]).parts).toString('latin1');
      assert.equal(out, 'Subject: a\r\nTo: b@example.net\r\n\r\nbody\r\n', JSON.stringify(ws));
    }
    // A Message-ID written that way is one: the egress adds none.
    assert.equal(withoutForgedTrustFields(Buffer.from('Message-ID\f: <a@b>\r\n\r\nx', 'latin1'), [OURS]).hasMessageId, true);
  });

  it('a trust field written with a control character (NUL, \\x01, DEL, vertical tab, form feed) before, inside or after its name, or folded before its colon, is removed: a reader that drops them takes it for ours', () => {
    const clean = 'Subject: a\r\nTo: b@example.net\r\n\r\nbody\r\n';
    const names = [
      (c: string, n: string) => `${n}${c}`,
      (c: string, n: string) => `${c}${n}`,
      (c: string, n: string) => `${n.slice(0, 6)}${c}${n.slice(6)}`,
      (c: string, n: string) => `${n}${c} `,
    ];
    for (const c of ['\0', '\x01', '\x7f', '\v', '\f', '\x1b', '\0\x01\x7f', '\r\n ', '\xc2\xa0', '\xe2\x80\x8b']) {
      for (const name of names) {
        if (c.startsWith('\r\n') && name === names[1]) continue; // a continuation of the Subject line, a field for no reader
        const ar = name(c, 'Authentication-Results');
        const raw = Buffer.from(`Subject: a\r\n${ar}: (c) "${OURS}"; spf=pass\r\n${name(c, 'X-Spam-Flag')}: NO\r\nTo: b@example.net\r\n\r\nbody\r\n`, 'latin1');
        const r = withoutForgedTrustFields(raw, [OURS]);
        assert.equal(Buffer.concat(r.parts).toString('latin1'), clean, JSON.stringify(ar));
        assert.equal(r.removed.length, 2, JSON.stringify(ar));
      }
    }
    // Another host's Authentication-Results written that way is not ours: kept, as it would be when well-formed.
    const other = Buffer.from('Authentication-Results\0: other.example.net; spf=pass\r\n\r\nx', 'latin1');
    assert.equal(Buffer.concat(withoutForgedTrustFields(other, [OURS]).parts).toString('latin1'), other.toString('latin1'));
    // Control characters inside the authserv-id: a reader that drops them reads ours.
    for (const id of ['mx.scop\0.test', 'mx.\x01scop.test', 'mx.scop.test\x7f', 'mx.scop\v.test']) {
      const raw = Buffer.from(`Authentication-Results: ${id}; spf=pass\r\nTo: b@example.net\r\n\r\nx`, 'latin1');
      assert.equal(Buffer.concat(withoutForgedTrustFields(raw, [OURS]).parts).toString('latin1'), 'To: b@example.net\r\n\r\nx', JSON.stringify(id));
    }
    // Unreadable to one reading and readable to the other (found by fuzzing): the strict reading stops at the form
    // feed (no authserv-id), the lenient one drops it and reads `e"mx.t-`. Unreadable to either is removed.
    const split = Buffer.from('Authentication-Results: (c) \fe"mx.t-: id\r\nTo: b@example.net\r\n\r\nx', 'latin1');
    assert.equal(Buffer.concat(withoutForgedTrustFields(split, [OURS]).parts).toString('latin1'), 'To: b@example.net\r\n\r\nx');
    // Valid names that only resemble ours are someone else's: kept.
    const near = Buffer.from('X-Spamassassin: 1\r\nAuthentication-Results-Copy: mx.scop.test; spf=pass\r\nX-Scopes: 2\r\nAuthentication: mx.scop.test\r\n\r\nx', 'latin1');
    assert.equal(Buffer.concat(withoutForgedTrustFields(near, [OURS]).parts).toString('latin1'), near.toString('latin1'));
  });

  it('a message without a body, and one with bare LF line ends, are handled the same way', () => {
    const noBody = Buffer.from('Subject: x\r\nX-Spam-Flag: YES\r\nAuthentication-Results: mx.scop.test; dkim=pass', 'latin1');
    assert.equal(Buffer.concat(withoutForgedTrustFields(noBody, [OURS]).parts).toString('latin1'), 'Subject: x\r\n');
    const lf = Buffer.from('Subject: x\nX-Scop-Decision: deliver\n  folded\nTo: b@example.net\n\nX-Spam-Flag: body\n', 'latin1');
    assert.equal(Buffer.concat(withoutForgedTrustFields(lf, [OURS]).parts).toString('latin1'), 'Subject: x\nTo: b@example.net\n\nX-Spam-Flag: body\n');
  });

  it('is linear in the header size: 8 times the forged fields cost about 8 times as much (quadratic: 64)', () => {
    // Lookalikes too: a control character first, the colon after a fold, a kept line without a colon.
    const many = (n: number) => Buffer.from(`${'X-Spam-Flag: YES\r\nAuthentication-Results: mx.scop.test;\r\n dkim=pass\r\nX-Keep: 1\r\n\x01Authentication-Results\r\n\t: mx.scop.test\r\n\x01no colon\r\n here\r\n'.repeat(n)}\r\nbody\r\n`, 'latin1');
    const best = (m: Buffer, n: number) => {
      let t = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const r = withoutForgedTrustFields(m, [OURS]);
        t = Math.min(t, performance.now() - t0);
        assert.equal(r.removed.length, 3 * n);
      }
      return t;
    };
    const tSmall = best(many(5_000), 5_000);
    const tLarge = best(many(40_000), 40_000);
    // Wide margin: GC and other engineers' jobs move single runs by 2-3x on this machine.
    assert.ok(tLarge < 24 * tSmall + 50, `40k: ${tLarge.toFixed(0)} ms, 5k: ${tSmall.toFixed(0)} ms`);
  });

  it('is linear in one field of megabytes, whatever its shape (the lenient view reads it whole): 8 times the length costs about 8 times as much', () => {
    // Each shape: one field of a repeated unit between two kept fields, and whether it goes.
    const shapes: [string, (n: number) => string, boolean][] = [
      ['a lookalike name of control characters between letters', (n) => `\x01X-Spam-${'a\x01\xa0'.repeat(n)}: x`, true],
      ['folds before the colon', (n) => `X-Spam-${'\r\n a'.repeat(n)}: x`, true],
      ['no colon at all', (n) => `Authentication-Results${'\r\n \x01'.repeat(n)}`, false],
      ['unclosed nested comments before the authserv-id', (n) => `Authentication-Results: ${'(\x01'.repeat(n)}`, true],
      ['control characters and folds before the authserv-id', (n) => `Authentication-Results: ${' \x01\r\n '.repeat(n)}other.example;`, false],
      ['a quoted authserv-id that never ends (longer than any id: read up to the bound, not ours)', (n) => `Authentication-Results: "${'\\a'.repeat(n)}`, false],
      ['a long value of a field that is not ours', (n) => `X-Keep: ${'a b'.repeat(n)}`, false],
    ];
    for (const [what, shape, goes] of shapes) {
      const message = (n: number) => Buffer.from(`Subject: a\r\n${shape(n)}\r\nTo: b@example.net\r\n\r\nbody\r\n`, 'latin1');
      const best = (m: Buffer) => {
        let t = Infinity;
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          const r = withoutForgedTrustFields(m, [OURS]);
          t = Math.min(t, performance.now() - t0);
          assert.equal(r.removed.length, goes ? 1 : 0, what);
        }
        return t;
      };
      const small = message(100_000);
      const large = message(800_000);
      assert.ok(large.length >= 1_600_000, `${what}: ${large.length} bytes`);
      const tSmall = best(small);
      const tLarge = best(large);
      assert.ok(tLarge < 24 * tSmall + 50, `${what}: ${large.length} bytes ${tLarge.toFixed(0)} ms, ${small.length} bytes ${tSmall.toFixed(0)} ms`);
    }
  });

  it('Maildir delivery writes the cleaned copy', async () => {
    const root = mkdtempSync(join(tmpdir(), 'scop-trust-'));
    try {
      const [o] = await deliverMaildir(root, 'egress.scop.test', record(), ['bob@example.net'], false, [OURS]);
      assert.equal(o!.kind, 'delivered', o!.reply);
      const dir = join(root, 'bob@example.net', 'new');
      const stored = readFileSync(join(dir, readdirSync(dir)[0]!));
      const fields = fieldsOf(stored);
      assert.equal(fields.filter((f) => /^authentication-results\s*:\s*(\(.*\)\s*)?"?mx\.scop\.test/i.test(f)).length, 1);
      assert.equal(fields.filter((f) => /^x-spam-flag/i.test(f)).length, 1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
