/**
 * The hostile-family method (processors/auth/hostile-family.test.ts, processors/mime/) over the ingress's
 * own parsing of attacker text, each function alone: the HELO/EHLO argument (domain, address literal,
 * IPv6 literal and zone), the domain and ASCII checks of MAIL/RCPT, PTR names (fcrdns), recipient
 * domains and local parts (recipients.ts, IDNA through domainToASCII as aLabels() does for SMTPUTF8), the
 * postmaster exemption, AUTH user names, the greylist key and the line-ending / header-size scanner.
 * smtp-server bounds a command line at 16 KiB and the ingress a header section at 1 MiB; each function is
 * run on 25k and 100k characters anyway: the larger may cost at most 8× the CPU (quadratic code costs
 * 16×) unless it is under 50 ms. On 2026-12-07 the worst 100k case cost ~20 ms (the scanner on 50,000
 * CRLF lines) and at 250k vs 1M ~90 ms, nothing over the ratio (ingress/README.md "Abuse limits"). ~2 s.
 * SPF at SMTP time is mailauth's: its family is processors/auth/hostile-family.test.ts.
 */
import assert from 'node:assert/strict';
import { domainToASCII } from 'node:url';
import { describe, it } from 'node:test';
import { FLOOR_MS, MAX_RATIO, slowCases } from '../runtime/linear-testing.ts';
import { looksLikeHostname } from './fcrdns.ts';
import { Greylist } from './greylist.ts';
import { LineEndingScanner } from './line-endings.ts';
import { normalizeDomain, RecipientPolicy } from './recipients.ts';
import { isAscii, isValidDomain, isValidHelo } from './syntax.ts';
import { validUserName } from './users.ts';

const FRAGMENTS = [' ', '\t', '.', ';', '=', ':', '"', '\\', '(', ')', '<', '>', '@', ',', '-', 'a', '0', '%', '*', '[', ']', 'IPv6:', 'a.', '.-', '_', '!', '/', '+', 'a@',
  '"a"', '\u00e9', '\u00e9.', 'xn--', '\u00e4', '\u3002', '\u0000', '\r\n', '\r', '\n', '[a', 'ipv6:', '1.', '1:', '::', 'ff:', '%25', '\x7f', '\u200b', '\u00df'];

const recipients = new RecipientPolicy({ localDomains: ['example.org'], delimiter: '+' });
/** The scanner as the ingress feeds it: the DATA stream in 64 KiB chunks. */
function scan(data: string): unknown {
  const s = new LineEndingScanner(1 << 20);
  const b = Buffer.from(data, 'latin1');
  for (let at = 0; at < b.length; at += 65536) s.push(b.subarray(at, at + 65536));
  return s.finish();
}

const PLACES: [string, (f: string) => unknown][] = [
  ['HELO domain', (f) => isValidHelo(`a${f}b`)],
  ['HELO address literal', (f) => isValidHelo(`[${f}]`)],
  ['HELO IPv6 literal', (f) => isValidHelo(`[IPv6:${f}]`)],
  ['HELO IPv6 literal with a zone', (f) => isValidHelo(`[IPv6:fe80::1%${f}]`)],
  ['domain syntax', (f) => isValidDomain(`a${f}b`)],
  ['ASCII check (MAIL/RCPT without SMTPUTF8)', (f) => isAscii(`a${f}b`)],
  ['PTR name', (f) => looksLikeHostname(`a${f}b`)],
  ['recipient domain normalized', (f) => normalizeDomain(`a${f}b`)],
  ['RCPT local part', (f) => recipients.check(`a${f}b@example.org`, false)],
  ['RCPT domain', (f) => recipients.check(`a@a${f}b`, false)],
  ['RCPT without @', (f) => recipients.check(`a${f}b`, false)],
  ['postmaster exemption', (f) => /^postmaster(@|$)/i.test(`postmaster${f}`)],
  ['AUTH user name', (f) => validUserName(`a${f}b`)],
  ['A-labels of an SMTPUTF8 domain', (f) => domainToASCII(`a${f}b`)],
  ['greylist triplet', (f) => Greylist.key('192.0.2.0/24', `a${f}b@x.test`, `c${f}@example.org`)],
  ['header section scanner', (f) => scan(`X-A: a${f}\r\nX-B: ${f}\r\n\r\nbody\r\n`)],
];

const [SMALL, LARGE] = [25_000, 100_000];

describe('ingress: its own parsing of attacker text is linear on a generated family', () => {
  it(`${PLACES.length} places × ${FRAGMENTS.length} fragments: ${LARGE / 1000}k characters cost at most ${MAX_RATIO}× ${SMALL / 1000}k (or < ${FLOOR_MS} ms)`, async () => {
    assert.deepEqual(await slowCases(PLACES, FRAGMENTS, { small: SMALL, large: LARGE }), []);
  });

  it('the family reaches the checks it means to: a valid HELO, literal and recipient pass, their runs do not', () => {
    assert.ok(isValidHelo('mail.example.org') && isValidHelo('[192.0.2.1]') && isValidHelo('[IPv6:2001:db8::1]'));
    assert.ok(!isValidHelo(`a${'.'.repeat(1000)}b`) && !isValidHelo(`[IPv6:${'1:'.repeat(1000)}]`));
    assert.deepEqual(recipients.check('a@example.org', false), { ok: true });
    assert.equal(recipients.check(`a@a${'\u3002'.repeat(1000)}b`, false).ok, false);
    assert.equal(scan('X-A: a\r\n\r\nbody\r\n'), undefined);
    assert.equal(scan('X-A: a\nb\r\n\r\n'), 'bare-lf');
  });
});
