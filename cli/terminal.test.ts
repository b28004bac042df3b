/** printable / printableJson: no character that acts on a terminal survives; everything else is unchanged. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { printable, printableJson } from './terminal.ts';

/** What a terminal acts on: C0 (all of it), DEL, C1, and the bidi / invisible format characters. */
const ACTIVE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

test('escape sequences, C1 controls and bidi overrides come out as visible escapes', () => {
  assert.equal(printable('\u001b]0;pwned\u0007 hi \u001b[2J'), '\\x1b]0;pwned\\x07 hi \\x1b[2J');
  assert.equal(printable('a\u009b31mb'), 'a\\x9b31mb');
  assert.equal(printable('invoice\u202Efdp.exe'), 'invoice\\u{202e}fdp.exe');
  assert.equal(printable('two\r\nlines\tand tab'), 'two\\r\\nlines\\tand tab');
  assert.equal(printable('Grüße, 日本語, émoji 🎉, back\\slash'), 'Grüße, 日本語, émoji 🎉, back\\slash');
  assert.equal(printable(null), '');
});

test('printableJson is the same JSON value, with nothing active left raw', () => {
  const v = { s: 'x\u001b[31m\u009b\u202e\u2028y', n: [1, 'ü'] };
  const out = printableJson(v);
  assert.doesNotMatch(out, ACTIVE);
  assert.deepEqual(JSON.parse(out), v);
});

test('property: for any string, no active character survives and JSON round-trips', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
    assert.doesNotMatch(printable(s), ACTIVE);
    const j = printableJson({ s });
    assert.doesNotMatch(j, ACTIVE);
    assert.equal((JSON.parse(j) as { s: string }).s, s);
  }), { numRuns: 200 });
});
