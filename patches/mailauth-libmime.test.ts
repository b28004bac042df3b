/**
 * mailauth depends on its own libmime (node_modules/mailauth/node_modules/libmime, 5.4.4 with mailauth
 * 7.1.0), not on the top-level one that patches/libmime+5.6.4.patch changes. The auth stage reaches two
 * of its functions with attacker text: parseHeaderValue (the message's Content-Type, for the multipart
 * boundary; RFC 2231 parameters go through decodeWords and the charset decoders) and foldLines(…, 160)
 * (the Received-SPF field, which holds the MAIL FROM and SPF error texts). The hostile-family method over
 * them, libmime alone: each fragment repeated to 25k and 100k characters in each place; the larger may
 * cost at most 8× the CPU (quadratic code costs 16×) unless it is under 50 ms. On 2026-12-07 the worst
 * 100k case cost 52 ms and nothing was over the ratio (processors/auth/README.md, "Limits"). About 3 s.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { FLOOR_MS, MAX_RATIO, slowCases } from '../runtime/linear-testing.ts';

// Resolved from mailauth's own directory, as mailauth's require('libmime') is.
const requireFromMailauth = createRequire(createRequire(import.meta.url).resolve('mailauth/lib/dkim/dkim-verifier.js'));
const libmime = requireFromMailauth('libmime') as { parseHeaderValue(s: string): unknown; foldLines(s: string, n: number): string };
const version = (requireFromMailauth('libmime/package.json') as { version: string }).version;

const FRAGMENTS = ['=;', ';=', '""', '="', "''", '*', '*0*=', '%2', '%%', '!', ' ', '\t', '_', '=?utf-8?q?a?= ', '%', '.', '@', '"', '\\', '(',
  '=\r\n', 'a=', ';', ':', '<', '>', '=?', '?=', '\r\n ', 'x', '-', '--', '"a"', ',', '[', ']', "'", '=?a?B?', '=?a?Q?', '%e9', '%1b$B', '\x1b$B', '\x1b(B', '?', '\u00e9', 'a ', ' a', '*1'];

const PLACES: [string, (f: string) => unknown][] = [
  ['value', (f) => libmime.parseHeaderValue(`a${f}b`)],
  ['parameter value', (f) => libmime.parseHeaderValue(`text/plain; a=x${f}y`)],
  ['quoted parameter value', (f) => libmime.parseHeaderValue(`text/plain; a="x${f}y"`)],
  ['boundary', (f) => libmime.parseHeaderValue(`multipart/mixed; boundary="${f}"`)],
  ['parameter name', (f) => libmime.parseHeaderValue(`text/plain; a${f}b=c`)],
  ...['utf-8', 'iso-8859-1', 'iso-2022-jp', 'shift_jis', 'gb18030', 'utf-16', 'x-unknown'].map((cs): [string, (f: string) => unknown] =>
    [`RFC 2231 ${cs}`, (f) => libmime.parseHeaderValue(`text/plain; name*=${cs}''a${f}b`)]),
  ['RFC 2231 charset', (f) => libmime.parseHeaderValue(`text/plain; name*=a${f}b''x`)],
  ['RFC 2231 continuation without charset', (f) => libmime.parseHeaderValue(`text/plain; name*0=a${f}b; name*1=c`)],
  ['RFC 2231 many continuations', (f) => libmime.parseHeaderValue(`text/plain; ${Array.from({ length: Math.ceil(f.length / 8) }, (_, i) => `n*${i}=${f[0] === ';' ? 'x' : f[0]}`).join('; ')}`)],
  ['encoded words in a continuation', (f) => libmime.parseHeaderValue(`text/plain; name*0==?utf-8?B?${f}?= =?utf-8?B?${f}?=`)],
  ['Received-SPF fold', (f) => libmime.foldLines(`Received-SPF: fail (mx.test: domain of a${f}b@amp.test does not designate 192.0.2.1 as permitted sender)`, 160)],
  ['Received-SPF fold, spaces around', (f) => libmime.foldLines(`Received-SPF: fail (mx.test: ${f} x ${f})`, 160)],
];

const [SMALL, LARGE] = [25_000, 100_000];

describe(`mailauth's own libmime (${version}): linear on a generated family of hostile header values`, () => {
  it('is a copy of its own, not the patched top-level libmime (else this file tests nothing new)', () => {
    assert.notEqual(requireFromMailauth.resolve('libmime'), createRequire(import.meta.url).resolve('libmime'),
      'mailauth now loads the top-level libmime, which processors/mime/hostile-family.test.ts covers: this file can go');
  });

  it(`${PLACES.length} places × ${FRAGMENTS.length} fragments: ${LARGE / 1000}k characters cost at most ${MAX_RATIO}× ${SMALL / 1000}k (or < ${FLOOR_MS} ms)`, async () => {
    assert.deepEqual(await slowCases(PLACES, FRAGMENTS, { small: SMALL, large: LARGE }), []);
  });
});
