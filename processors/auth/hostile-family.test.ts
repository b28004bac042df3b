/**
 * A generated family of hostile messages for the auth stage, as processors/mime/hostile-family.test.ts
 * is for the MIME stage: each fragment (white space, separators, quotes, escapes, brackets, folding,
 * macro and literal openers …) repeated to a run in each place of a message or its DNS answers that
 * mailauth parses synchronously — the first header line as a field name, DKIM/ARC tags, From, Received,
 * Authentication-Results, a folded field, MAIL FROM and HELO (at the sizes the ingress admits), From and a
 * null sender's Return-Path (at the 8 KiB the stage parses, runtime/header-fields.ts MAX_ADDRESS_FIELD_LENGTH), the SPF,
 * DMARC, DKIM key and BIMI TXT records. `verifyMessage` must stay linear: the 4× larger run may cost at
 * most 8× the CPU (quadratic code costs 16×) unless it is cheap (the rule: runtime/linear-testing.ts). The places matter: spaces in the
 * first line's field name cost 3.6 s at 64 KiB before patches/mailauth+7.1.0.patch hunk 5, and a family
 * over header values alone did not find them. With hunk 5 taken out, this test names 19 places (16k → 64k
 * spaces ~0.2 s → ~3.3 s); a 60,000-letter SPF include: target is slow only when a bad character follows it.
 * About 20–30 s on a loaded 2-core box (most cases cost ~3 ms: under the floor the smaller run is not even measured).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { cpuMs, FLOOR_MS, MAX_RATIO, superlinear } from '../../runtime/linear-testing.ts';
import { verifyMessage } from './verify.ts';
import { authoritativeDns } from './testing/dns.ts';

const fx = authoritativeDns({ timeoutMs: 200, retries: 0 });

// No bare CR or LF: the ingress refuses a message holding one (554 5.6.0), and an LF run is ~5 µs a line anyway.
const FRAGMENTS = [' ', '\t', '.', ';', '=', ':', '"', '\\', '(', ')', '<', '>', '@', ',', '-', 'a', '0', '\r\n ', '%', '*', '[', ']', 'IPv6:',
  '=;', ';=', 'a=', '; ', ' ;', 'a.', '.-', '%{', '%%', '_', '!', '/', '+', 'a@', '"a"', ' \t'];

// The domain every message claims: SPF passes for the client, DMARC p=reject, so BIMI is looked up too.
const KEY = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const ZONE: Record<string, string> = {
  'amp.test': 'v=spf1 ip4:192.0.2.1 -all',
  'h.test': 'v=spf1 ip4:192.0.2.1 -all',
  '_dmarc.amp.test': 'v=DMARC1; p=reject; rua=mailto:d@amp.test',
  's._domainkey.amp.test': `v=DKIM1; k=rsa; p=${KEY}`,
  'default._bimi.amp.test': 'v=BIMI1; l=https://amp.test/l.svg; a=',
};
const setZone = (over: Record<string, string> = {}) => {
  for (const [name, txt] of Object.entries({ ...ZONE, ...over })) fx.server.set(name, [{ type: 'TXT', data: txt }]);
};

// The body hash of `hello\r\n` (simple and relaxed): signatures get as far as the key and the header hash.
const B64 = createHash('sha256').update('hello\r\n').digest('base64');
const sig = (tags: Partial<Record<string, string>> = {}) =>
  `DKIM-Signature: ${Object.entries({ v: '1', a: 'rsa-sha256', c: 'relaxed/relaxed', d: 'amp.test', s: 's', h: 'from:to:subject:sender:reply-to:x-a', bh: B64, b: 'AAAA', ...tags })
    .filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('; ')}`;
const arcSet = (o: { seal?: string; aar?: string } = {}) => [
  `ARC-Seal: i=1; a=rsa-sha256; t=1; cv=none; d=amp.test; s=s; ${o.seal ?? ''}b=AAAA`,
  `ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=amp.test; s=s; h=from:subject; bh=${B64}; b=AAAA`,
  `ARC-Authentication-Results: i=1; ${o.aar ?? 'mx.amp.test; spf=pass smtp.mailfrom=amp.test'}`,
];

/** Half (a quarter of) the run, for places that hold it twice (four times). */
const half = (f: string) => f.slice(0, Math.ceil(f.length / 2));
const quarter = (f: string) => f.slice(0, Math.ceil(f.length / 4));

interface Case { raw: Buffer; helo?: string; mailFrom?: string; zone?: Record<string, string> }
/** A message with a relaxed and a simple signature and an ARC set whose keys resolve, so canonicalization and RSA verification run. */
const message = (o: { first?: string[]; headers?: string[]; from?: string; sigs?: string[]; arc?: string[] } = {}): Buffer => Buffer.from([
  ...(o.first ?? []),
  ...(o.arc ?? arcSet()),
  ...(o.sigs ?? [sig(), sig({ c: 'simple/simple' })]),
  `From: ${o.from ?? 'Amp <a@amp.test>'}`, 'To: b@example.net', 'Subject: x', ...(o.headers ?? []), '', 'hello', ''].join('\r\n'), 'latin1');
const m = (o: Parameters<typeof message>[0]): Case => ({ raw: message(o) });

/** A place: attacker text f → one case; `sizes` are the small and large run lengths (characters). */
type Place = [name: string, build: (f: string) => Case, sizes?: [number, number]];
const HEADER: [number, number] = [16_000, 64_000];
// A TXT record is at most a DNS message (65,535 octets) less a length octet per 255.
const TXT: [number, number] = [15_000, 60_000];
// MAIL FROM: smtp-server's 16 KiB command line; HELO/EHLO: a domain or literal of at most 253 (ingress/syntax.ts).
const MAIL_FROM: [number, number] = [4_000, 16_000];
const HELO: [number, number] = [63, 253];
// From (all From fields together) and Return-Path: parsed up to MAX_ADDRESS_FIELD_LENGTH (8 KiB, runtime/header-fields.ts), past it not at all (limits.test.ts).
const FROM: [number, number] = [2_000, 8_000];

const PLACES: Place[] = [
  ['the first line as a field name', (f) => m({ first: [`a${f}b: x`] })],
  ['the first line without a colon', (f) => m({ first: [`a${f}b`] })],
  ['the first line ending in the run', (f) => m({ first: [`a${f}`] })],
  ['a field name', (f) => m({ headers: [`X-A${f}b: x`] })],
  ['a line that is not a field', (f) => m({ headers: [`X-A${f}`] })],
  ['a signed field (relaxed and simple)', (f) => m({ headers: [`X-A: a${f}b`] })],
  ['a folded field of many continuation lines', (f) => m({ headers: [`X-A: a${f.match(/[^]{1,64}/g)!.join('\r\n ')}`] })],
  ['Subject', (f) => m({ headers: [`Subject: ${f}`] })],
  // Parsed by mailauth's own libmime (5.4.4, not the top-level one scop patches) for the multipart boundary.
  ['Content-Type value', (f) => m({ headers: [`Content-Type: a${f}b`] })],
  ['Content-Type boundary', (f) => m({ headers: [`Content-Type: multipart/mixed; boundary="a${f}b"`] })],
  ['Content-Type RFC 2231 parameter', (f) => m({ headers: [`Content-Type: multipart/mixed; name*=iso-2022-jp''a${f}b; boundary*0=x; boundary*1=${f}`] })],
  ['DKIM d=', (f) => m({ sigs: [sig({ d: `amp${f}test` })] })],
  ['DKIM d= ending in the run', (f) => m({ sigs: [sig({ d: `amp.test${f}` })] })],
  ['DKIM s=', (f) => m({ sigs: [sig({ s: `s${f}x` })] })],
  ['DKIM h=', (f) => m({ sigs: [sig({ h: `from:a${f}b:subject` })] })],
  ['DKIM bh=', (f) => m({ sigs: [sig({ bh: `A${f}A` })] })],
  ['DKIM b=', (f) => m({ sigs: [sig({ b: `A${f}A` })] })],
  ['DKIM i=', (f) => m({ sigs: [sig({ i: `a${f}@amp.test` })] })],
  ['DKIM l=', (f) => m({ sigs: [sig({ l: `1${f}` })] })],
  ['DKIM z=', (f) => m({ sigs: [sig({ z: `From:a${f}b` })] })],
  ['DKIM a= and c=', (f) => m({ sigs: [sig({ a: `rsa${f}sha256`, c: `relaxed${f}/simple` })] })],
  ['DKIM t= and x=', (f) => m({ sigs: [sig({ t: `1${f}`, x: `2${f}` })] })],
  ['DKIM q= and v=', (f) => m({ sigs: [sig({ q: `dns/txt${half(f)}`, v: `1${half(f)}` })] })],
  ['a DKIM tag-spec', (f) => m({ sigs: [`${sig()}; x${f}y`] })],
  ['a DKIM tag name', (f) => m({ sigs: [`${sig()}; x${f}=y`] })],
  ['a DKIM-Signature of the fragment', (f) => m({ sigs: [`DKIM-Signature: ${f}`] })],
  ['ARC-Seal tags', (f) => m({ arc: arcSet({ seal: `z=a${f}b; ` }) })],
  ['ARC instance and cv=', (f) => m({ arc: arcSet().map((l) => l.replace('i=1', `i=1${f}`).replace('cv=none', `cv=none${f}`)) })],
  ['ARC-Seal d=', (f) => m({ arc: arcSet().map((l) => l.startsWith('ARC-Seal') ? l.replace('d=amp.test', `d=amp${f}test`) : l) })],
  ['ARC-Message-Signature h=', (f) => m({ arc: arcSet().map((l) => l.replace('h=from:subject', `h=from:a${f}b:subject`)) })],
  ['ARC-Authentication-Results', (f) => m({ arc: arcSet({ aar: `mx.amp.test; ${f}` }) })],
  ['From display name', (f) => m({ from: `"a${f}b" <a@amp.test>` }), FROM],
  ['From unquoted display name', (f) => m({ from: `a${f}b <a@amp.test>` }), FROM],
  ['From address', (f) => m({ from: `a${f}b@amp.test` }), FROM],
  ['From domain', (f) => m({ from: `<a@amp${f}test>` }), FROM],
  ['From group', (f) => m({ from: `g${f}: a@amp.test;` }), FROM],
  ['From domain ending in the run', (f) => m({ from: `a@amp.test${f}` }), FROM],
  ['From comment', (f) => m({ from: `a@amp.test (${f})` }), FROM],
  ['Sender and Reply-To', (f) => m({ headers: [`Sender: a${f}@amp.test`, `Reply-To: ${f}`] })],
  ['Received', (f) => m({ headers: [`Received: from ${f} by mx.test with ESMTP; Mon, 1 Jan 2024 10:00:00 +0000`] })],
  ['Authentication-Results', (f) => m({ headers: [`Authentication-Results: mx.test; ${f}`] })],
  ['Return-Path', (f) => m({ first: [`Return-Path: <a${f}@amp.test>`] })],
  // Read for the null sender only (an envelope MAIL FROM is read instead).
  ['Return-Path, null sender', (f) => ({ raw: message({ first: [`Return-Path: a${f}b@amp.test`] }), mailFrom: '' }), FROM],
  ['BIMI-Selector', (f) => m({ headers: [`BIMI-Selector: v=BIMI1; s=a${f}b`] })],
  ['MAIL FROM local part', (f) => ({ raw: message(), mailFrom: `a${f}b@amp.test` }), MAIL_FROM],
  ['MAIL FROM quoted local part', (f) => ({ raw: message(), mailFrom: `"a${f}b"@amp.test` }), MAIL_FROM],
  ['MAIL FROM domain', (f) => ({ raw: message(), mailFrom: `a@amp${f}test` }), MAIL_FROM],
  ['HELO', (f) => ({ raw: message(), helo: `h${f}.test` }), HELO],
  ['SPF record', (f) => ({ raw: message(), zone: { 'amp.test': `v=spf1 ${f} ip4:192.0.2.1 -all` } }), TXT],
  ['SPF include: target', (f) => ({ raw: message(), zone: { 'amp.test': `v=spf1 include:x.${f}y -all` } }), TXT],
  // A run that ends where the syntax fails: a regex backtracks only when what follows the run does not match.
  ['SPF include: target, then a bad character', (f) => ({ raw: message(), zone: { 'amp.test': `v=spf1 include:x.${f}! -all` } }), TXT],
  ['SPF redirect= target', (f) => ({ raw: message(), zone: { 'amp.test': `v=spf1 redirect=x${f}.test` } }), TXT],
  ['SPF redirect= target ending in the run', (f) => ({ raw: message(), zone: { 'amp.test': `v=spf1 redirect=x.${f}` } }), TXT],
  ['SPF exp= and a: targets', (f) => ({ raw: message(), zone: { 'amp.test': `v=spf1 a:a${half(f)}.x -all exp=e${half(f)}.test` } }), TXT],
  ['DMARC record ending in the run', (f) => ({ raw: message(), zone: { '_dmarc.amp.test': `v=DMARC1; p=reject; rua=mailto:d@amp.test${f}` } }), TXT],
  ['DMARC record', (f) => ({ raw: message(), zone: { '_dmarc.amp.test': `v=DMARC1; p=reject; rua=mailto:${half(f)}; x=${half(f)}` } }), TXT],
  ['DKIM key record', (f) => ({ raw: message(), zone: { 's._domainkey.amp.test': `v=DKIM1; k=rsa${quarter(f)}; h=sha256${quarter(f)}; n=${quarter(f)}; t=y${quarter(f)}; p=${KEY}` } }), TXT],
  ['DKIM key p=', (f) => ({ raw: message(), zone: { 's._domainkey.amp.test': `v=DKIM1; k=rsa; p=${KEY}${f}` } }), TXT],
  ['BIMI record', (f) => ({ raw: message(), zone: { 'default._bimi.amp.test': `v=BIMI1; l=https://a${half(f)}.test/l.svg; a=${half(f)}` } }), TXT],
];

/** One verification of c, its DNS zone set first. */
const verify = (c: Case) => () => {
  setZone(c.zone);
  return verifyMessage({ raw: c.raw, clientIp: '192.0.2.1', helo: c.helo ?? 'h.test', mailFrom: c.mailFrom ?? 'a@amp.test', messageId: 'r' },
    { dns: fx.resolver, authservId: 'mx.test', minKeyBits: 1024, now: new Date(0) });
};

describe('auth stage: linear on a generated family of hostile messages and DNS records', () => {
  it('the base message is what the family varies: SPF and DMARC pass, both signatures and the ARC set are verified (and fail)', async () => {
    setZone();
    const { section } = await verifyMessage({ raw: message(), clientIp: '192.0.2.1', helo: 'h.test', mailFrom: 'a@amp.test', messageId: 'r' },
      { dns: fx.resolver, authservId: 'mx.test', minKeyBits: 1024, now: new Date(0) });
    assert.equal(section.spf.result, 'pass');
    assert.equal(section.dmarc.result, 'pass');
    assert.deepEqual(section.dkim.map((s) => [s.result, s.keyBits]), [['fail', 1024], ['fail', 1024]]);
    assert.equal(section.arc.result, 'fail');
    assert.equal(section.bimi.location, 'https://amp.test/l.svg');
  });

  it(`${PLACES.length} places × ${FRAGMENTS.length} fragments: a 4× longer run costs at most ${MAX_RATIO}× the CPU (or < ${FLOOR_MS} ms)`, async () => {
    await cpuMs(verify({ raw: message() }), 3); // warm-up
    const slow: string[] = [];
    for (const [place, build, [small, large] = HEADER] of PLACES) {
      for (const fragment of FRAGMENTS) {
        const sized = (n: number) => build(fragment.repeat(Math.ceil(n / fragment.length)));
        // Most cases cost ~3 ms: under the floor the smaller run is not even measured. Once the test fails
        // anyway, later places are not confirmed (a quadratic case costs seconds a run).
        const s = await superlinear(verify(sized(small)), verify(sized(large)), { confirmRuns: slow.length ? 0 : 4 });
        if (s) {
          slow.push(`${place}, ${JSON.stringify(fragment)} repeated: ${s.smallMs.toFixed(0)} ms at ${small}, ${s.largeMs.toFixed(0)} ms at ${large} characters${s.confirmed ? '' : ' (one run, not confirmed)'}`);
          break; // one fragment is enough to name the place
        }
      }
    }
    assert.deepEqual(slow, []);
  });
});
