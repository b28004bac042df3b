/**
 * A generated family of hostile messages: each of ~45 fragments (separators, quotes, escapes, encoded-word
 * and comment openers, HTML openers, white space …) repeated to 25,000 and to 100,000 characters in each
 * of ~26 places a message has (header values and parameters, RFC 2231 names, addresses, bodies of each
 * encoding, HTML attributes, boundaries, lines that are not fields). The stage must stay linear: the
 * 4× larger message may cost at most 8× the CPU (quadratic code costs 16×), unless it is cheap; a
 * case that breaks the rule is measured again before it counts (runtime/linear-testing.ts).
 * Fuzzers find such inputs only where random growth reaches them; this family found the `;` runs in
 * libmime's parameter parser (fuzz/README.md "Findings"). About 15 s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FLOOR_MS, MAX_RATIO, superlinear } from '../../runtime/linear-testing.ts';
import { analyseMime } from './parse.ts';

const FRAGMENTS = ['=;', ';=', '""', '="', "''", '*', '*0*=', '%2', '%%', '!', ' ', '\t', '_', '<a ', '=?utf-8?q?a?= ', 'http://', '&amp;', '%', '.', '@', '"', '\\', '(',
  '=\r\n', 'a=', ';', ':', '<', '>', '=?', '?=', '\r\n ', 'x', '-', '--', '<!--', '<b>', '&#', 'www.', '"a"', ',', '[', ']'];

const message = (headers: string[], body: string, contentType = 'text/plain') =>
  ['From: a@example.org', 'To: b@example.net', 'MIME-Version: 1.0', ...headers, `Content-Type: ${contentType}`, '', body, ''].join('\r\n');
const attachment = (headers: string) => message(['Subject: x'], `--b\r\n${headers}\r\n\r\nMZ\r\n--b--`, 'multipart/mixed; boundary="b"');

const PLACES: [string, (f: string) => string][] = [
  ['Subject', (f) => message([`Subject: ${f}`], 'x')],
  ['a display name', (f) => message([`Reply-To: "${f}" <c@example.org>`], 'x')],
  ['an address list', (f) => message([`Cc: ${f}`], 'x')],
  ['Sender', (f) => message([`Sender: ${f}`], 'x')],
  ['the text', (f) => message(['Subject: x'], f)],
  ['the HTML', (f) => message(['Subject: x'], `<html><body>${f}</body></html>`, 'text/html; charset=utf-8')],
  ['HTML attributes', (f) => message(['Subject: x'], `<html><body><a href="${f}">x</a><img src=${f}></body></html>`, 'text/html')],
  ['a quoted-printable body', (f) => message(['Subject: x', 'Content-Transfer-Encoding: quoted-printable'], f)],
  ['a quoted file name', (f) => attachment(`Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${f}.exe"`)],
  ['an unquoted file name', (f) => attachment(`Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=${f}`)],
  ['an RFC 2231 file name', (f) => attachment(`Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''${f}`)],
  ['a Content-Type name', (f) => attachment(`Content-Type: application/octet-stream; name="${f}"`)],
  ['a quoted charset', (f) => message(['Subject: x'], 'x', `text/plain; charset="${f}"`)],
  ['Content-Type parameters', (f) => message(['Subject: x'], 'x', `text/plain; ${f}`)],
  ['an unquoted parameter value', (f) => message(['Subject: x'], 'x', `text/plain; a=${f}`)],
  ['a boundary', (f) => message(['Subject: x'], `--${f}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${f}--`, `multipart/mixed; boundary="${f.slice(0, 60)}"`)],
  ['Message-ID', (f) => message([`Message-ID: <${f}@x>`], 'x')],
  ['Date', (f) => message([`Date: ${f}`], 'x')],
  ['Received', (f) => message([`Received: from ${f} by x; Mon, 1 Jan 2024 10:00:00 +0000`], 'x')],
  ['Authentication-Results', (f) => message([`Authentication-Results: mx.example; ${f}`], 'x')],
  ['DKIM-Signature', (f) => message([`DKIM-Signature: v=1; a=rsa-sha256; d=${f}; s=x; b=${f}`], 'x')],
  ['List-Id and List-Unsubscribe', (f) => message([`List-Id: ${f}`, `List-Unsubscribe: <${f}>`], 'x')],
  ['Content-Language', (f) => message([`Content-Language: ${f}`], 'x')],
  ['an encoded-word Subject', (f) => message([`Subject: =?utf-8?B?${Buffer.from(f).toString('base64')}?=`], 'x')],
  ['a line that is not a field', (f) => message([`X-A${f}`], 'x')],
  ['a continuation line', (f) => message(['Subject: x', ` ${f}`], 'x')],
];

const SMALL = 25_000;
const LARGE = 100_000;

describe('MIME stage: linear on a generated family of hostile messages', () => {
  it(`${PLACES.length} places × ${FRAGMENTS.length} fragments: ${LARGE / 1000}k characters cost at most ${MAX_RATIO}× ${SMALL / 1000}k (or < ${FLOOR_MS} ms)`, async () => {
    const slow: string[] = [];
    for (const [place, build] of PLACES) {
      for (const fragment of FRAGMENTS) {
        const sized = (n: number) => Buffer.from(build(fragment.repeat(Math.ceil(n / fragment.length))), 'latin1');
        const [small, large] = [sized(SMALL), sized(LARGE)];
        const analyse = (raw: Buffer) => () => analyseMime(raw, { now: () => 0 });
        const s = await superlinear(analyse(small), analyse(large), { runs: 2, confirmRuns: 5 });
        if (s) slow.push(`${place}, ${JSON.stringify(fragment)} repeated: ${s.smallMs.toFixed(0)} ms at ${SMALL / 1000}k, ${s.largeMs.toFixed(0)} ms at ${LARGE / 1000}k`);
      }
    }
    assert.deepEqual(slow, []);
  });
});
