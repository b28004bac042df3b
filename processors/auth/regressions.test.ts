/**
 * One regression test per defect the old patches/mailauth+4.13.3.patch fixed, each over real DNS
 * (in-process authoritative server). mailauth 7 (strict mode) fixes them upstream (README "mailauth"
 * lists the version per defect); these keep it that way. A few pin what our resolver and wrapper add
 * around it (NXDOMAIN for impossible names, ARC temperror from a key lookup that timed out).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { emptyStats } from './dns.ts';
import { checkSpf } from './spf.ts';
import { authSymbols } from './symbols.ts';
import { verifyMessage } from './verify.ts';
import { loadKeyedMessage, txtChunks } from './testing/suites.ts';
import { authoritativeDns } from './testing/dns.ts';
import { skipWithoutTestdata } from '../../runtime/testdata.ts';

const fx = authoritativeDns({ timeoutMs: 200, retries: 0 });
const dns = fx.server;
beforeEach(() => dns.clear());

const txt = (name: string, value: string) => dns.add(name, { type: 'TXT', data: value });
const spf = (mailFrom: string, ip = '192.0.2.10', helo = 'mail.client.test') => checkSpf({ ip, helo, mailFrom, mta: 'mx.test', resolver: fx.resolver.forMessage(emptyStats()) });
const verify = (raw: Buffer, now?: Date) => verifyMessage({ raw, clientIp: '192.0.2.10', helo: 'h.test', mailFrom: '', messageId: 'r' }, { dns: fx.resolver, authservId: 'mx.test', minKeyBits: 1024, now });

describe('SPF (spf-verify.js, macro.js, index.js)', () => {
  test('exp= gives the explanation; twice is a permerror; a bad exp domain-spec is a permerror', async () => {
    txt('e.test', 'v=spf1 -all exp=why.e.test');
    txt('why.e.test', 'Not from %{i}');
    assert.equal((await spf('a@e.test')).explanation, 'Not from 192.0.2.10');
    txt('twice.test', 'v=spf1 -all exp=why.e.test exp=why.e.test');
    assert.equal((await spf('a@twice.test')).result, 'permerror');
    txt('badexp.test', 'v=spf1 exp=-all');
    assert.equal((await spf('a@badexp.test')).result, 'permerror');
  });
  test('%{d} inside include: expands to the included domain, not the MAIL FROM domain', async () => {
    txt('outer.test', 'v=spf1 include:inner.test -all');
    txt('inner.test', 'v=spf1 exists:%{d}.ok.test -all');
    dns.add('inner.test.ok.test', { type: 'A', data: '127.0.0.2' });
    assert.equal((await spf('a@outer.test')).result, 'pass');
  });
  test('a bare ptr inside include: matches against the included domain', async () => {
    txt('outer.test', 'v=spf1 include:inner.test -all');
    txt('inner.test', 'v=spf1 ptr -all');
    dns.add('10.2.0.192.in-addr.arpa', { type: 'PTR', data: 'mx.inner.test' });
    dns.add('mx.inner.test', { type: 'A', data: '192.0.2.10' });
    assert.equal((await spf('a@outer.test')).result, 'pass');
  });
  test('syntax is checked before macro expansion: an odd HELO just does not match', async () => {
    txt('h.test', 'v=spf1 a:%{h}.h.test -all');
    assert.equal((await spf('a@h.test', '192.0.2.10', "JUMPIN' JUPITER")).result, 'fail');
  });
  test('%{p} is the validated PTR name', async () => {
    txt('p.test', 'v=spf1 exists:%{p}.allow.p.test -all');
    dns.add('10.2.0.192.in-addr.arpa', { type: 'PTR', data: 'mx.p.test' });
    dns.add('mx.p.test', { type: 'A', data: '192.0.2.10' });
    dns.add('mx.p.test.allow.p.test', { type: 'A', data: '127.0.0.2' });
    assert.equal((await spf('a@p.test')).result, 'pass');
  });
  test('mechanism arguments are checked even when not reached (bare ip6)', async () => {
    txt('ip.test', 'v=spf1 ip4:192.0.2.10 ip6 -all');
    assert.equal((await spf('a@ip.test')).result, 'permerror');
  });
  test('a 64-octet label in the MAIL FROM domain: none, not temperror', async () => {
    assert.equal((await spf(`a@${'x'.repeat(64)}.test`)).result, 'none');
  });
  test('SERVFAIL inside include: and redirect= is temperror', async () => {
    txt('inc.test', 'v=spf1 include:broken.test -all');
    txt('red.test', 'v=spf1 redirect=broken.test');
    dns.set('broken.test', 'servfail');
    assert.equal((await spf('a@inc.test')).result, 'temperror');
    assert.equal((await spf('a@red.test')).result, 'temperror');
  });
  test('underscore labels are valid DNS names (_spf.example)', async () => {
    txt('_spf.u.test', 'v=spf1 ip4:192.0.2.10 -all');
    assert.equal((await spf('a@_spf.u.test')).result, 'pass');
  });
  test('mx: a match within the first ten MX hosts passes; needing an eleventh is a permerror', async () => {
    txt('mx.test', 'v=spf1 mx -all');
    for (let i = 0; i < 11; i++) {
      dns.add('mx.test', { type: 'MX', data: { preference: i, exchange: `m${i}.mx.test` } });
      dns.add(`m${i}.mx.test`, { type: 'A', data: `198.51.100.${i}` });
    }
    assert.equal((await spf('a@mx.test', '198.51.100.3')).result, 'pass');
    assert.equal((await spf('a@mx.test', '203.0.113.1')).result, 'permerror');
  });
});

describe('ARC / DKIM (parse-dkim-headers.js, arc/index.js, tools.js, dkim-verifier.js)', () => {
  const stalwartArc = () => {
    const { records, message } = loadKeyedMessage('stalwart-mail-auth/resources/arc/002.txt');
    for (const [n, v] of records) dns.add(n, { type: 'TXT', data: txtChunks(v) });
    return message;
  };
  const STALWART = { skip: skipWithoutTestdata('stalwart-mail-auth') };
  test('Ed25519 ARC-Seal is verified over the SHA-256 hash (Stalwart arc/002)', STALWART, async () => {
    const { section } = await verify(stalwartArc(), new Date(1667843664000));
    assert.equal(section.arc.result, 'pass', section.arc.reason);
    assert.ok(section.arc.chain.some((h) => h.algorithm === 'ed25519-sha256'));
  });
  for (const [name, edit] of [
    ['a duplicate tag', (s: string) => s.replace(/(ARC-Seal: )/, '$1s=dup; ')],
    ['an upper-case tag name', (s: string) => s.replace(/(ARC-Seal:[^]*?[;\s])s=/, '$1S=')],
    ['an empty tag-spec (;;)', (s: string) => s.replace(/(ARC-Seal:[^]*?);/, '$1;;')],
    ['an invalid tag name', (s: string) => s.replace(/(ARC-Seal: )/, '$1_=; ')],
  ] as const) {
    test(`an ARC-Seal with ${name} fails the chain`, STALWART, async () => {
      const raw = Buffer.from(edit(stalwartArc().toString('latin1')), 'latin1');
      const { section } = await verify(raw, new Date(1667843664000));
      assert.equal(section.arc.result, 'fail', section.arc.reason);
    });
  }
  test('a DKIM-Signature with a duplicate tag is reported (neutral: syntax error), not ignored', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
    txt('sel._domainkey.d.test', `v=DKIM1; p=${key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`);
    const body = Buffer.from('From: a@d.test\r\nSubject: x\r\n\r\nhi\r\n');
    const sig = ((await dkimSign(body, { signatureData: [{ signingDomain: 'd.test', selector: 'sel', privateKey: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) }] } as never)) as { signatures: string }).signatures;
    const ok = await verify(Buffer.concat([Buffer.from(sig), body]));
    assert.equal(ok.section.dkim[0]!.result, 'pass');
    const bad = await verify(Buffer.concat([Buffer.from(sig.replace('DKIM-Signature: ', 'DKIM-Signature: s=sel; ')), body]));
    // RFC 8601 §2.7.1 neutral: "the signature or signatures contained syntax errors".
    assert.equal(bad.section.dkim[0]!.result, 'neutral');
    assert.match(bad.section.dkim[0]!.reason, /syntax error/);
    assert.match(bad.section.authenticationResults, /dkim=neutral \(signature syntax error\)/);
  });
  test('a DKIM key published as PKCS#1 RSAPublicKey verifies (Stalwart dkim/002)', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
    txt('pk1._domainkey.d.test', `v=DKIM1; k=rsa; p=${key.publicKey.export({ type: 'pkcs1', format: 'der' }).toString('base64')}`);
    const body = Buffer.from('From: a@d.test\r\nSubject: x\r\n\r\nhi\r\n');
    const sig = ((await dkimSign(body, { signatureData: [{ signingDomain: 'd.test', selector: 'pk1', privateKey: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) }] } as never)) as { signatures: string }).signatures;
    const { section } = await verify(Buffer.concat([Buffer.from(sig), body]));
    assert.equal(section.dkim[0]!.result, 'pass', section.dkim[0]!.reason);
  });
  test('an ARC-Seal key lookup that times out is a temporary failure, not a crash on an undefined key', STALWART, async () => {
    const raw = stalwartArc();
    dns.clear();
    dns.onMissing = () => 'timeout';
    try {
      const { section } = await verify(raw, new Date(1667843664000));
      assert.equal(section.arc.result, 'temperror');
      assert.match(section.arc.reason, /temporary DNS failure|no valid signature/);
      assert.match(section.authenticationResults, /arc=fail \(temporary DNS failure\)/);
    } finally {
      dns.onMissing = undefined;
    }
  });
});

describe('a From without a readable domain (DMARC has no Author Domain)', () => {
  test('`ceo@bank.test:` gets DMARC_FROM_UNREADABLE and a second From domain DMARC_FROM_MULTIPLE (junk each), while the same From well-formed gets DMARC_POLICY_REJECT', async () => {
    txt('_dmarc.bank.test', 'v=DMARC1; p=reject');
    const dmarcOf = async (from: string) => {
      const { section } = await verify(Buffer.from(`From: ${from}\r\nTo: a@b.test\r\nSubject: x\r\n\r\nhi\r\n`));
      return { fromDomain: section.dmarc.fromDomain, symbols: authSymbols(section).filter((s) => s.symbol.startsWith('DMARC_')).map((s) => s.symbol) };
    };
    assert.deepEqual(await dmarcOf('ceo@bank.test'), { fromDomain: 'bank.test', symbols: ['DMARC_POLICY_REJECT'] });
    for (const from of ['ceo@bank.test:', '"CEO" <ceo@bank.test>:', 'ceo', 'undisclosed-recipients:;']) {
      assert.deepEqual(await dmarcOf(from), { fromDomain: null, symbols: ['DMARC_FROM_UNREADABLE'] }, from);
    }
    for (const from of ['ceo@bank.test, me@evil.test', 'ceo@bank.test, CEO <ceo@bank.test.evil.test>']) {
      assert.deepEqual(await dmarcOf(from), { fromDomain: null, symbols: ['DMARC_FROM_MULTIPLE'] }, from);
    }
    const { section } = await verify(Buffer.from('To: a@b.test\r\nSubject: no From at all\r\n\r\nhi\r\n'));
    assert.deepEqual(authSymbols(section).filter((s) => s.symbol.startsWith('DMARC_')).map((s) => s.symbol), ['DMARC_FROM_UNREADABLE']);
  });
});
