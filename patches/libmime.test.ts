/**
 * Regression tests for patches/libmime+5.6.4.patch. Both hunks are shortcuts that must not change
 * a result (found by profiling the corpus round trip, where these functions ran on every header):
 *
 * 1. decodeWords — a string without an encoded word (`=?`) and without the joiner marker the
 *    regex passes insert is returned as it is, instead of going through five regex passes.
 * 2. decodeHeader — a line without a line break is not unfolded by a regex.
 *
 * Each case is checked against the ESM and the CommonJS build (mailparser loads one, mailsplit the other).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import libmimeEsm from 'libmime';

const libmimeCjs = createRequire(import.meta.url)('libmime') as typeof libmimeEsm;

const WORDS: [string, string][] = [
  ['plain text, no words', 'plain text, no words'],
  ['', ''],
  ['a = b ? c', 'a = b ? c'],
  ['=?UTF-8?Q?J=C3=B6ns?=', 'Jöns'],
  ['x =?UTF-8?B?w7Y=?= =?UTF-8?B?w7Y=?= y', 'x öö y'],
  ['=?ISO-8859-1?Q?caf=E9?= =?UTF-8?Q?_=E2=82=AC?=', 'café €'],
  // The marker the passes insert to join words is removed from any input, as before.
  ['a__\u0000JOIN\u0000__b', 'ab'],
];

const HEADERS: [string, { key: string; value: string }][] = [
  ['Subject: hello', { key: 'subject', value: 'hello' }],
  ['Subject:  hello  ', { key: 'subject', value: 'hello' }],
  ['Subject: hello\r\n  world', { key: 'subject', value: 'hello world' }],
  ['X-Folded: a\n\tb\rc', { key: 'x-folded', value: 'a b c' }],
  ['no colon', { key: '', value: '' }],
];

describe('libmime hunks (patches/libmime+5.6.4.patch)', () => {
  for (const [name, lib] of [['esm', libmimeEsm], ['cjs', libmimeCjs]] as const) {
    it(`${name}: decodeWords gives the same text with or without encoded words`, () => {
      for (const [input, want] of WORDS) assert.equal(lib.decodeWords(input), want, JSON.stringify(input));
    });

    it(`${name}: decodeHeader unfolds only folded lines and splits every line the same`, () => {
      for (const [input, want] of HEADERS) assert.deepEqual(lib.decodeHeader(input), want, JSON.stringify(input));
    });
  }
});
