/**
 * Verdicts against a real authoritative DNS server: Knot DNS on a loopback port, serving one zone
 * ("test.") with SPF, DKIM (RSA and Ed25519), DMARC, ARC and BIMI records generated here. Messages
 * are signed and sealed in the test with keys made for it (mailauth's signer).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { sealMessage } from 'mailauth/lib/arc/index.js';
import { DnsResolver } from './dns.ts';
import { authSymbols } from './symbols.ts';
import { verifyMessage } from './verify.ts';
import { KnotServer, KNOTD, type ZoneRecord } from '../../infra/dns/knot.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');
const edRaw = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64');
const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString();

const Z = (name: string, type: ZoneRecord['type'], value: string, ttl?: number): ZoneRecord => ({ name, type, value, ttl });
const records: ZoneRecord[] = [
  // SPF, one domain per result
  Z('spf-pass.test', 'TXT', 'v=spf1 ip4:192.0.2.0/24 -all'),
  Z('spf-fail.test', 'TXT', 'v=spf1 -all exp=exp.spf-fail.test'),
  Z('exp.spf-fail.test', 'TXT', '%{i} is not one of %{d}\'s senders'),
  Z('spf-softfail.test', 'TXT', 'v=spf1 ~all'),
  Z('spf-neutral.test', 'TXT', 'v=spf1 ?all'),
  Z('spf-permerror.test', 'TXT', 'v=spf1 ip4:192.0.2.0/24 bogus:x -all'),
  // elsewhere.invalid is outside every zone Knot serves: it answers REFUSED → temperror
  Z('spf-temperror.test', 'TXT', 'v=spf1 include:elsewhere.invalid -all'),
  Z('spf-none.test', 'A', '192.0.2.99'),
  Z('spf-limit.test', 'TXT', `v=spf1 ${Array.from({ length: 11 }, (_, i) => `include:l${i}.spf-limit.test`).join(' ')} -all`),
  ...Array.from({ length: 11 }, (_, i) => Z(`l${i}.spf-limit.test`, 'TXT', 'v=spf1 ?all')),
  Z('spf-void.test', 'TXT', 'v=spf1 a:nx1.spf-void.test a:nx2.spf-void.test a:nx3.spf-void.test -all'),
  // DKIM keys
  Z('rsa._domainkey.dkim.test', 'TXT', `v=DKIM1; k=rsa; p=${spki(rsa.publicKey)}`),
  Z('ed._domainkey.dkim.test', 'TXT', `v=DKIM1; k=ed25519; p=${edRaw(ed.publicKey)}`),
  Z('sel._domainkey.reject.test', 'TXT', `v=DKIM1; p=${spki(rsa2.publicKey)}`),
  Z('arc._domainkey.arc.test', 'TXT', `v=DKIM1; p=${spki(rsa2.publicKey)}`),
  // DMARC
  Z('_dmarc.reject.test', 'TXT', 'v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:agg@reject.test'),
  Z('reject.test', 'TXT', 'v=spf1 -all'),
  Z('_dmarc.quarantine.test', 'TXT', 'v=DMARC1; p=quarantine; pct=100'),
  Z('_dmarc.none.test', 'TXT', 'v=DMARC1; p=none'),
  Z('_dmarc.pct0.test', 'TXT', 'v=DMARC1; p=reject; pct=0'),
  Z('_dmarc.testing.test', 'TXT', 'v=DMARC1; p=reject; t=y; pct=0'),
  Z('_dmarc.np.test', 'TXT', 'v=DMARC1; p=none; sp=quarantine; np=reject'),
  Z('real.np.test', 'A', '192.0.2.80'),
  Z('_dmarc.spf-pass.test', 'TXT', 'v=DMARC1; p=reject'),
  Z('default._bimi.reject.test', 'TXT', 'v=BIMI1; l=https://reject.test/logo.svg; a='),
];

const knot = new KnotServer();
let dns: DnsResolver;
before(async () => {
  if (!KNOTD) return;
  await knot.start({ test: records });
  dns = new DnsResolver({ servers: [{ host: '127.0.0.1', port: knot.port }], timeoutMs: 1000, retries: 1, cacheSize: 1000, maxTtl: 3600 });
});
after(() => knot.stop());

const message = (from: string, subject = 'hello') => Buffer.from([
  `From: Alice <${from}>`, 'To: bob@example.net', `Subject: ${subject}`, 'Date: Mon, 1 Jan 2024 10:00:00 +0000',
  `Message-ID: <${Math.random().toString(36).slice(2)}@scop.test>`, 'MIME-Version: 1.0', 'Content-Type: text/plain', '', 'Hello, Bob.', '',
].join('\r\n'));

async function sign(raw: Buffer, domain: string, selector: string, key: KeyObject, algorithm: string): Promise<Buffer> {
  const res = await dkimSign(raw, { signatureData: [{ signingDomain: domain, selector, privateKey: pem(key), algorithm }] } as never) as { signatures: string; errors: unknown[] };
  assert.deepEqual(res.errors, []);
  return Buffer.concat([Buffer.from(res.signatures), raw]);
}

const verify = (raw: Buffer, env: { ip?: string; mailFrom?: string; helo?: string; id?: string } = {}, resolver = dns) => verifyMessage(
  { raw, clientIp: env.ip ?? '192.0.2.10', helo: env.helo ?? 'mail.client.test', mailFrom: env.mailFrom ?? '', messageId: env.id ?? 'msg-1' },
  { dns: resolver, authservId: 'mx.scop.test', minKeyBits: 1024 },
);

describe('Knot DNS zones', { skip: !KNOTD && 'knotd not installed (apt-get install -y knot)' }, () => {
  describe('SPF', () => {
    const cases: [string, string][] = [
      ['spf-pass.test', 'pass'], ['spf-fail.test', 'fail'], ['spf-softfail.test', 'softfail'], ['spf-neutral.test', 'neutral'],
      ['spf-permerror.test', 'permerror'], ['spf-temperror.test', 'temperror'], ['spf-none.test', 'none'],
    ];
    for (const [domain, want] of cases) {
      test(`${domain} → ${want}`, async () => {
        const { section } = await verify(message('a@x.test'), { mailFrom: `bounce@${domain}` });
        assert.equal(section.spf.result, want, section.spf.reason);
        assert.equal(section.spf.domain, domain);
        assert.match(section.authenticationResults, new RegExp(`spf=${want} `));
        assert.match(section.receivedSpf, new RegExp(`^Received-SPF: ${want}`));
      });
    }
    test('fail carries the exp= explanation, expanded for the checked domain', async () => {
      const { section } = await verify(message('a@x.test'), { mailFrom: 'bounce@spf-fail.test' });
      assert.equal(section.spf.explanation, "192.0.2.10 is not one of spf-fail.test's senders");
    });
    test('eleven DNS-querying terms: permerror, lookups counted for the message', async () => {
      const { section } = await verify(message('a@x.test'), { mailFrom: 'bounce@spf-limit.test' });
      assert.equal(section.spf.result, 'permerror');
      assert.match(section.spf.reason, /Too many DNS requests/);
      assert.equal(section.spf.lookups, 11);
    });
    test('three void lookups: permerror', async () => {
      const { section } = await verify(message('a@x.test'), { mailFrom: 'bounce@spf-void.test' });
      assert.equal(section.spf.result, 'permerror');
      assert.match(section.spf.reason, /void/);
      assert.equal(section.spf.voidLookups, 3);
    });
    test('null sender: the HELO identity is checked', async () => {
      const { section } = await verify(message('a@x.test'), { mailFrom: '', helo: 'spf-pass.test' });
      assert.equal(section.spf.identity, 'helo');
      assert.equal(section.spf.result, 'pass');
      assert.equal(section.heloSpf, null);
    });
  });

  describe('DKIM', () => {
    test('RSA signature passes', async () => {
      const { section } = await verify(await sign(message('alice@dkim.test'), 'dkim.test', 'rsa', rsa.privateKey, 'rsa-sha256'));
      assert.deepEqual(section.dkim.map((s) => [s.result, s.algorithm, s.keyBits]), [['pass', 'rsa-sha256', 2048]]);
      assert.match(section.authenticationResults, /dkim=pass [^;]*header\.i=@dkim\.test/);
    });
    test('Ed25519 signature passes', async () => {
      const { section } = await verify(await sign(message('alice@dkim.test'), 'dkim.test', 'ed', ed.privateKey, 'ed25519-sha256'));
      assert.deepEqual(section.dkim.map((s) => [s.result, s.algorithm]), [['pass', 'ed25519-sha256']]);
    });
    test('a header changed after signing: fail', async () => {
      const signed = await sign(message('alice@dkim.test', 'original'), 'dkim.test', 'rsa', rsa.privateKey, 'rsa-sha256');
      const { section } = await verify(Buffer.from(signed.toString().replace('Subject: original', 'Subject: changed')));
      assert.equal(section.dkim[0]!.result, 'fail');
      assert.equal(section.dkim[0]!.bodyHashMatched, true);
    });
    test('the body changed after signing: fail (body hash)', async () => {
      const signed = await sign(message('alice@dkim.test'), 'dkim.test', 'ed', ed.privateKey, 'ed25519-sha256');
      const { section } = await verify(Buffer.from(signed.toString().replace('Hello, Bob.', 'Hello, Eve.')));
      assert.equal(section.dkim[0]!.result, 'fail');
      assert.match(section.dkim[0]!.reason, /body hash/);
    });
    test('no key published for the selector: neutral (no key), as RFC 8601 §2.7.1 reports a signature that cannot be processed', async () => {
      const { section } = await verify(await sign(message('alice@dkim.test'), 'dkim.test', 'gone', rsa.privateKey, 'rsa-sha256'));
      assert.equal(section.dkim[0]!.result, 'neutral');
      assert.match(section.dkim[0]!.reason, /no key/);
    });
    test('unsigned: no signatures, dkim=none', async () => {
      const { section } = await verify(message('alice@dkim.test'));
      assert.deepEqual(section.dkim, []);
      assert.match(section.authenticationResults, /dkim=none/);
    });
  });

  describe('DMARC', () => {
    test('p=reject, aligned DKIM: pass, disposition none, BIMI looked up', async () => {
      const { section } = await verify(await sign(message('alice@reject.test'), 'reject.test', 'sel', rsa2.privateKey, 'rsa-sha256'), { mailFrom: 'bounce@spf-fail.test' });
      assert.equal(section.dmarc.result, 'pass');
      assert.equal(section.dmarc.dkimAligned, true);
      assert.equal(section.dmarc.spfAligned, false);
      assert.equal(section.dmarc.disposition, 'none');
      assert.equal(section.bimi.result, 'pass');
      assert.equal(section.bimi.location, 'https://reject.test/logo.svg');
    });
    test('p=reject, nothing aligned: fail, disposition reject', async () => {
      const { section } = await verify(message('alice@reject.test'), { mailFrom: 'bounce@spf-pass.test' });
      assert.equal(section.spf.result, 'pass');
      assert.equal(section.dmarc.result, 'fail');
      assert.equal(section.dmarc.spfAligned, false);
      assert.equal(section.dmarc.policy, 'reject');
      assert.equal(section.dmarc.disposition, 'reject');
      assert.ok(section.tags.includes('dmarc-reject'));
      assert.match(section.authenticationResults, /dmarc=fail/);
    });
    test('two From fields of one domain: still evaluated, p=reject still rejects', async () => {
      const raw = Buffer.from(message('alice@reject.test').toString().replace('From: ', 'From: ceo@reject.test\r\nFrom: '));
      const { section } = await verify(raw, { mailFrom: 'bounce@spf-pass.test' });
      assert.deepEqual([section.dmarc.fromDomain, section.dmarc.result, section.dmarc.disposition], ['reject.test', 'fail', 'reject']);
    });
    test('subdomain From: sp= applies; adkim=s refuses the parent domain\'s signature', async () => {
      const { section } = await verify(await sign(message('alice@sub.reject.test'), 'reject.test', 'sel', rsa2.privateKey, 'rsa-sha256'));
      assert.equal(section.dkim[0]!.result, 'pass');
      assert.equal(section.dmarc.adkim, 's');
      assert.equal(section.dmarc.dkimAligned, false, 'strict alignment needs d= equal to the From domain');
      assert.equal(section.dmarc.result, 'fail');
      assert.equal(section.dmarc.appliedPolicy, 'quarantine');
      assert.equal(section.dmarc.disposition, 'quarantine');
    });
    test('the verdicts as symbols (the contract with the decision): names, and the domains as options', async () => {
      const names = (syms: { symbol: string; options: string[] }[]) => syms.map((x) => (x.options.length ? `${x.symbol}{${x.options.join(',')}}` : x.symbol));
      const signed = await verify(await sign(message('alice@reject.test'), 'reject.test', 'sel', rsa2.privateKey, 'rsa-sha256'), { mailFrom: 'bounce@spf-fail.test' });
      assert.deepEqual(names(authSymbols(signed.section)), ['SPF_FAIL{spf-fail.test}', 'SPF_HELO_NONE{mail.client.test}', 'DKIM_VALID{d=reject.test}', 'DMARC_POLICY_ALLOW{reject.test}', 'ARC_NA']);
      const forged = await verify(message('alice@reject.test'), { mailFrom: 'bounce@spf-pass.test' });
      assert.deepEqual(names(authSymbols(forged.section)).filter((n) => /^(DKIM|DMARC)/.test(n)), ['DKIM_NONE', 'DMARC_POLICY_REJECT{reject.test}']);
      const sampled = await verify(message('alice@pct0.test'));
      assert.ok(names(authSymbols(sampled.section)).includes('DMARC_POLICY_QUARANTINE{pct0.test,sampled-out}'));
      const softfail = await verify(message('alice@none.test'));
      assert.ok(names(authSymbols(softfail.section)).includes('DMARC_POLICY_SOFTFAIL{none.test}'));
    });
    test('p=quarantine without alignment: quarantine', async () => {
      const { section } = await verify(message('alice@quarantine.test'));
      assert.deepEqual([section.dmarc.result, section.dmarc.disposition], ['fail', 'quarantine']);
    });
    test('p=none without alignment: fail, disposition none', async () => {
      const { section } = await verify(message('alice@none.test'));
      assert.deepEqual([section.dmarc.result, section.dmarc.disposition], ['fail', 'none']);
    });
    test('p=reject; pct=0: sampled out, one step milder (quarantine)', async () => {
      const { section } = await verify(message('alice@pct0.test'));
      assert.deepEqual([section.dmarc.result, section.dmarc.pct, section.dmarc.disposition, section.dmarc.sampledOut], ['fail', 0, 'quarantine', true]);
    });
    test('RFC 9989 t=y: one step milder, and a pct= beside t= is ignored', async () => {
      const { section } = await verify(message('alice@testing.test'));
      assert.deepEqual([section.dmarc.result, section.dmarc.appliedPolicy, section.dmarc.pct, section.dmarc.disposition, section.dmarc.sampledOut], ['fail', 'quarantine', 100, 'quarantine', false]);
      assert.ok(section.tags.includes('dmarc-test-mode'));
    });
    test('RFC 9989 np=: a From subdomain that does not exist gets np, one that exists sp (tree walk to np.test)', async () => {
      const ghost = await verify(message('alice@ghost.np.test'));
      assert.deepEqual([ghost.section.dmarc.result, ghost.section.dmarc.appliedPolicy, ghost.section.dmarc.disposition], ['fail', 'reject', 'reject']);
      const real = await verify(message('alice@real.np.test'));
      assert.deepEqual([real.section.dmarc.result, real.section.dmarc.appliedPolicy, real.section.dmarc.disposition], ['fail', 'quarantine', 'quarantine']);
    });
    test('aligned SPF pass: pass', async () => {
      const { section } = await verify(message('alice@spf-pass.test'), { mailFrom: 'bounce@spf-pass.test' });
      assert.deepEqual([section.dmarc.result, section.dmarc.spfAligned, section.dmarc.alignedSpfDomain], ['pass', true, 'spf-pass.test']);
    });
    test('no DMARC record: none', async () => {
      const { section } = await verify(message('alice@dkim.test'));
      assert.equal(section.dmarc.result, 'none');
      assert.equal(section.dmarc.disposition, 'none');
    });
  });

  describe('ARC', () => {
    const seal = async (raw: Buffer, cv: string) => Buffer.concat([
      await sealMessage(raw, { signingDomain: 'arc.test', selector: 'arc', privateKey: pem(rsa2.privateKey), authResults: 'mx.arc.test; spf=pass smtp.mailfrom=spf-pass.test', cv } as never),
      raw,
    ]);
    test('a valid two-hop chain: pass', async () => {
      const once = await seal(await sign(message('alice@dkim.test'), 'dkim.test', 'rsa', rsa.privateKey, 'rsa-sha256'), 'none');
      const { section: first } = await verify(once);
      assert.equal(first.arc.result, 'pass', first.arc.reason);
      const twice = await seal(once, 'pass');
      const { section } = await verify(twice);
      assert.equal(section.arc.result, 'pass', section.arc.reason);
      assert.deepEqual(section.arc.chain.map((h) => [h.instance, h.cv, h.domain]), [[1, 'none', 'arc.test'], [2, 'pass', 'arc.test']]);
      assert.match(section.authenticationResults, /arc=pass/);
    });
    test('a chain broken by a body change after sealing: fail', async () => {
      const sealed = await seal(message('alice@dkim.test'), 'none');
      const { section } = await verify(Buffer.from(sealed.toString().replace('Hello, Bob.', 'Hello, Eve.')));
      assert.equal(section.arc.result, 'fail');
    });
    test('a chain with a tampered seal: fail', async () => {
      const sealed = (await seal(message('alice@dkim.test'), 'none')).toString();
      const { section } = await verify(Buffer.from(sealed.replace(/(ARC-Seal:[^]*?; )t=(\d+)/, (_m, a, t) => `${a}t=${Number(t) + 1}`)));
      assert.equal(section.arc.result, 'fail');
      assert.match(section.arc.reason, /seal/);
    });
  });

  describe('DNS cache over the real server', () => {
    test('a second message for the same domains is answered from the cache', async () => {
      const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: knot.port }], timeoutMs: 1000, retries: 0, cacheSize: 100, maxTtl: 3600 });
      const raw = await sign(message('alice@reject.test'), 'reject.test', 'sel', rsa2.privateKey, 'rsa-sha256');
      const a = await verify(raw, { mailFrom: 'bounce@spf-pass.test' }, resolver);
      const b = await verify(raw, { mailFrom: 'bounce@spf-pass.test' }, resolver);
      assert.ok(a.stats.queries > 0);
      assert.equal(b.stats.queries, 0, 'everything cached, negative answers included');
      assert.equal(b.stats.cacheHits, b.stats.lookups);
      assert.deepEqual(b.section.dmarc.result, a.section.dmarc.result);
    });
  });
});

describe('DNS timeouts', () => {
  let hole: Socket;
  let port = 0;
  before(async () => {
    // A server that swallows every query: each lookup times out.
    hole = createSocket('udp4');
    await new Promise<void>((ok) => hole.bind(0, '127.0.0.1', () => ok()));
    port = hole.address().port;
  });
  after(() => new Promise<void>((ok) => hole.close(() => ok())));

  test('every method reports temperror (never pass, never a crash)', async () => {
    const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port }], timeoutMs: 100, retries: 1, cacheSize: 100, maxTtl: 60 });
    const raw = await sign(message('alice@reject.test'), 'reject.test', 'sel', rsa2.privateKey, 'rsa-sha256');
    const { section, stats } = await verify(raw, { mailFrom: 'bounce@spf-pass.test' }, resolver);
    assert.equal(section.spf.result, 'temperror');
    assert.equal(section.dkim[0]!.result, 'temperror');
    assert.equal(section.dmarc.result, 'temperror');
    assert.equal(section.dmarc.disposition, 'none');
    assert.ok(stats.timeouts >= 2);
    assert.ok(section.tags.includes('dns-timeout'));
    // timeouts are not cached
    assert.equal(resolver.cacheEntries, 0);
  });
});
