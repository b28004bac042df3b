/**
 * Every reader of raw header field names takes a tricky name the same way (runtime/header-fields.ts):
 * the MIME stage's structure scan, the spam stage's raw fields, the DKIM signer's sender policy, the
 * egress relay's forged-field removal and the quarantine listing. Each row is one way of writing a
 * field and whether it is still the field it names; each reader is asked about a field it reads.
 * Two defences outside that reading are checked against the same rows: the DKIM signer refuses
 * exactly the rows that are not the field (a receiver may still read them as one), and the egress
 * removes a trust field written in any of these ways (a lookalike). Then two header shapes the
 * headers fuzz target found, read alike by the MIME stage's scan and the spam stage. It lives in cli/
 * because only cli may import every stage.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withoutForgedTrustFields } from '../egress/relay/headers.ts';
import { headerFields } from '../processors/dkim-sign/policy.ts';
import { scanStructure } from '../processors/mime/structure.ts';
import { rawFields } from '../processors/spam/input.ts';
import { fieldName, headerBlock, malformedFields } from '../runtime/header-fields.ts';
import { headerOf } from '../runtime/operator/quarantine.ts';

/** A way to write the field named `n` (as a header line, before its value), and whether it is still that field. */
const SHAPES: { what: string; line: (n: string) => string; same: boolean; only?: (n: string) => boolean }[] = [
  { what: 'plain', line: (n) => `${n}:`, same: true },
  { what: 'upper case', line: (n) => `${n.toUpperCase()}:`, same: true },
  { what: 'trailing space (obsolete syntax)', line: (n) => `${n} :`, same: true },
  { what: 'trailing tab', line: (n) => `${n}\t:`, same: true },
  { what: 'trailing form feed', line: (n) => `${n}\f:`, same: true },
  { what: 'trailing vertical tab', line: (n) => `${n}\v:`, same: true },
  { what: 'trailing bare CR', line: (n) => `${n}\r:`, same: true },
  { what: 'trailing no-break space (byte A0)', line: (n) => `${n}\xa0:`, same: true },
  { what: 'trailing UTF-8 no-break space (C2 A0)', line: (n) => `${n}\xc2\xa0:`, same: false },
  { what: 'trailing NUL', line: (n) => `${n}\0:`, same: false },
  { what: 'NUL inside', line: (n) => `${n.slice(0, 2)}\0${n.slice(2)}:`, same: false },
  { what: 'leading form feed', line: (n) => `\f${n}:`, same: false },
  { what: 'leading no-break space', line: (n) => `\xa0${n}:`, same: false },
  { what: 'obs-fold between name and colon', line: (n) => `${n}\r\n :`, same: false },
  { what: 'obs-fold inside the name', line: (n) => `${n.slice(0, 2)}\r\n ${n.slice(2)}:`, same: false },
  { what: 'no colon on the line', line: (n) => `${n}`, same: false },
  { what: 'non-ASCII letter (latin1 é)', line: (n) => `${n}\xe9:`, same: false },
  { what: 'Kelvin sign for the k (UTF-8 E2 84 AA; Unicode lower-cases it to k)', line: (n) => `${n.replace('k', '\xe2\x84\xaa')}:`, same: false, only: (n) => n.includes('k') },
];

/** Each reader, asked whether the message has the field `name` (which it reads) with the value `v`. */
const READERS: { reader: string; name: string; value: string; sees: (raw: Buffer) => boolean }[] = [
  { reader: 'MIME structure scan', name: 'x-mailer', value: 'v', sees: (raw) => scanStructure(raw).headers.some((h) => h.name.toLowerCase() === 'x-mailer' && h.value.trim() === 'v') },
  { reader: 'MIME structure scan (a k in the name)', name: 'dkim-signature', value: 'v', sees: (raw) => scanStructure(raw).headers.some((h) => h.name.toLowerCase() === 'dkim-signature') },
  { reader: 'spam raw fields', name: 'x-mailer', value: 'v', sees: (raw) => rawFields(raw)['x-mailer'] === 'v' },
  { reader: 'DKIM sender policy', name: 'sender', value: 'v', sees: (raw) => headerFields(raw).some(([n, v]) => n === 'sender' && v.trim() === 'v') },
  { reader: 'quarantine listing', name: 'keywords', value: 'v', sees: (raw) => headerOf(raw, 'Keywords') === 'v' },
  { reader: 'egress forged-field removal (ours)', name: 'x-spam-checker-version', value: 'SpamAssassin', sees: (raw) => withoutForgedTrustFields(raw, []).removed.includes('x-spam-checker-version') },
  { reader: 'egress forged-field removal (authserv-id)', name: 'authentication-results', value: 'mx.scop.test; spf=pass', sees: (raw) => withoutForgedTrustFields(raw, ['mx.scop.test']).removed.includes('authentication-results') },
  { reader: 'egress Message-ID check', name: 'message-id', value: '<a@b>', sees: (raw) => withoutForgedTrustFields(raw, []).hasMessageId },
];

const message = (line: string, value: string) => Buffer.from(`Date: Mon, 7 Dec 2026 01:00:00 +0000\r\n${line} ${value}\r\nFrom: a@example.org\r\n\r\nbody\r\n`, 'latin1');

describe('header field names: one reading for every reader', () => {
  for (const s of SHAPES) {
    it(`${s.what}: ${s.same ? 'the same field' : 'not the field'} for every reader`, () => {
      const readers = READERS.filter((r) => s.only?.(r.name) ?? true);
      assert.ok(readers.length >= 2, 'the row asks at least two readers');
      for (const r of readers) {
        const line = s.line(r.name);
        const canonical = fieldName(`${line} ${r.value}`);
        assert.equal(canonical === r.name, s.same, `runtime/header-fields.ts reads ${JSON.stringify(line)} as ${JSON.stringify(canonical)}`);
        assert.equal(r.sees(message(line, r.value)), s.same, `${r.reader} on ${JSON.stringify(line)}`);
      }
    });
  }

  it('a way of writing a field that is not the field for every reader is a line the DKIM signer refuses to sign (and only then)', () => {
    for (const s of SHAPES) {
      const name = s.only?.('from') === false ? 'keywords' : 'from';
      const raw = message(s.line(name), 'ceo@example.org');
      assert.equal(malformedFields(headerBlock(raw)).length, s.same ? 0 : 1, s.what);
    }
  });

  it('the egress removes a trust field written in any of these ways (but without a colon): a reader outside scop may still take it for ours', () => {
    for (const s of SHAPES.filter((x) => x.what !== 'no colon on the line')) {
      for (const [name, value] of [['authentication-results', 'mx.scop.test; spf=pass'], ['x-spam-checker-version', 'SpamAssassin']] as const) {
        if (!(s.only?.(name) ?? true)) continue;
        const raw = message(s.line(name), value);
        const kept = Buffer.concat(withoutForgedTrustFields(raw, ['mx.scop.test']).parts).toString('latin1');
        assert.equal(kept, 'Date: Mon, 7 Dec 2026 01:00:00 +0000\r\nFrom: a@example.org\r\n\r\nbody\r\n', `${s.what}: ${name}`);
      }
    }
  });

  it('an empty name is no field, and the line is not taken for one', () => {
    assert.equal(fieldName(': v'), null);
    assert.equal(fieldName('\f: v'), null);
    assert.equal(fieldName(' X-Mailer: v'), null, 'a continuation line starts no field');
    const raw = message(':', 'v');
    assert.ok(scanStructure(raw).defects.some((d) => d.code === 'invalid-header-line'));
    assert.deepEqual(headerFields(raw).map(([n]) => n), ['date', 'from']);
  });

  it('each reader sees its field at all (the table above is not vacuous)', () => {
    for (const r of READERS) assert.ok(r.sees(message(`${r.name}:`, r.value)), r.reader);
    for (const r of READERS) assert.ok(!r.sees(message('X-Other:', r.value)), `${r.reader} without the field`);
  });
});

describe('the MIME structure scan and the spam stage read the same header (found by fuzz/targets/headers.ts)', () => {
  it('a continuation after a line that is not a field stays with that line, for both', () => {
    const raw = Buffer.from('MIME-Version: 1.0\r\nContent\xdamultipart/alternative;\r\n boundary="bound"\r\nFrom: a@example.org\r\n\r\nbody\r\n', 'latin1');
    assert.equal(scanStructure(raw).headers.find((h) => h.name === 'MIME-Version')?.value, '1.0');
    assert.equal(rawFields(raw)['mime-version'], '1.0', 'the spam stage reads the same value');
  });

  for (const [name, eol] of [['CRLF', '\r\n'], ['LF', '\n']] as const) {
    it(`a message that starts with its blank line (${name}) has no fields for both: the rest is the body`, () => {
      const raw = Buffer.from(`${eol}Content-Type: text/html${eol}Subject: not a header${eol}${eol}body${eol}`);
      assert.deepEqual(scanStructure(raw).headers, []);
      assert.deepEqual(rawFields(raw), {}, 'the spam stage reads the same empty header');
      assert.ok(Object.keys(rawFields(Buffer.from(`X-Mailer: v${eol}${eol}body${eol}`))).length > 0, 'the spam stage reads a header that is there');
    });
  }
});
