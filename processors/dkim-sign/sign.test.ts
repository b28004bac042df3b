/**
 * The signer: RFC 8463 signing vectors reproduced byte for byte through the stage's signMessage;
 * messages signed by the stage (RSA, Ed25519, both; RFC 6532 UTF-8 headers) verified by dkimpy
 * (python3-dkim) and by mailauth with keys served by a real Knot DNS on loopback; refusals.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KnotServer, KNOTD } from '../../infra/dns/knot.ts';
import { skipWithoutTestdata, testdataPath } from '../../runtime/testdata.ts';
import { loadDkimSignConfig, type DkimSignConfig } from './config.ts';
import { dnsTxtValue, generateKey } from './keys.ts';
import { SigningRefused } from './policy.ts';
import { signMessage } from './sign.ts';
import { dkimpyMissing, dkimpyVerify, mailauthVerify } from './testing/verifiers.ts';

const rfc8463 = (file: string) => testdataPath('rfc8463-dkim', file);
const tmp = mkdtempSync(join(tmpdir(), 'dkim-sign-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Ed25519 PKCS#8 DER = fixed 16-byte prefix + the 32-byte seed. */
function ed25519Pem(seedB64: string): string {
  const seed = Buffer.from(seedB64.trim(), 'base64');
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** b= / bh= of each DKIM-Signature field, whitespace removed, keyed by selector. */
function tagsBySelector(fields: string): Record<string, { b: string; bh: string; h: string }> {
  const out: Record<string, { b: string; bh: string; h: string }> = {};
  for (const f of fields.split(/\r\n(?![ \t])/).filter((x) => x.startsWith('DKIM-Signature:'))) {
    const v = f.replace(/\r\n/g, '');
    const tag = (t: string) => new RegExp(`(?:^|;)\\s*${t}=([^;]*)`).exec(v.slice(v.indexOf(':') + 1))?.[1] ?? '';
    out[tag('s').trim()] = { b: tag('b').replace(/\s+/g, ''), bh: tag('bh').replace(/\s+/g, ''), h: tag('h').replace(/\s+/g, ' ').trim() };
  }
  return out;
}

test('RFC 8463: the stage re-signs the example with its keys, t= and oversigned h= and reproduces both published b= byte for byte', { skip: skipWithoutTestdata('rfc8463-dkim') }, async () => {
  const edFile = join(tmp, 'brisbane.pem');
  writeFileSync(edFile, ed25519Pem(readFileSync(rfc8463('ed25519-private-seed.b64'), 'utf8')));
  const config = loadDkimSignConfig({
    DKIM_KEYS: `football.example.com:brisbane:${edFile},football.example.com:test:${rfc8463('rsa-private-key.pem')}`,
    DKIM_SENDERS: '{"joe":["football.example.com"]}',
    DKIM_SIGN_HEADERS: 'from,to,subject,date,message-id',
    DKIM_OVERSIGN_HEADERS: 'from,subject,date',
    DKIM_AUID: 'domain',
    DKIM_TAG_ORDER: 'v,a,c,d,i,q,s,t,h,bh,b',
    DKIM_H_SEPARATOR: 'spaced-colon',
  });
  const unsigned = readFileSync(rfc8463('unsigned-message.eml'));
  const { section } = await signMessage(unsigned, { config, authUser: 'joe', now: new Date(1528637909 * 1000) });
  const published = tagsBySelector(readFileSync(rfc8463('signed-message.eml'), 'latin1'));
  const ours = tagsBySelector(section.headers);
  for (const s of ['brisbane', 'test']) {
    assert.equal(ours[s]!.bh, published[s]!.bh, `${s} bh=`);
    assert.equal(ours[s]!.h, 'from : to : subject : date : message-id : from : subject : date');
    assert.equal(ours[s]!.b, published[s]!.b, `${s} b= (${s === 'brisbane' ? 'ed25519' : 'rsa'}-sha256)`);
  }
  assert.deepEqual(section.signatures.map((x) => [x.algorithm, x.selector, x.identity, x.keyBits]), [['rsa-sha256', 'test', '@football.example.com', 1024], ['ed25519-sha256', 'brisbane', '@football.example.com', null]]);
  assert.deepEqual(section.signatures[0]!.signedHeaders, ['from', 'to', 'subject', 'date', 'message-id', 'from', 'subject', 'date']);
  // The record's raw is untouched: the fields are separate, each CRLF-terminated, ASCII.
  assert.match(section.headers, /^DKIM-Signature: [^\n]*\r\n( [^\n]*\r\n)*DKIM-Signature: [^\n]*\r\n( [^\n]*\r\n)*$/);
});

// Keys for the verifier tests: one RSA-2048 domain, one Ed25519 domain, one with both; an IDN domain.
const keys = {
  rsa: generateKey('rsa', 2048),
  ed: generateKey('ed25519'),
  dualRsa: generateKey('rsa', 2048),
  dualEd: generateKey('ed25519'),
  idn: generateKey('ed25519'),
};
const keyDir = join(tmp, 'keys');
function writeKeys(): void {
  const put = (domain: string, selector: string, pem: string) => {
    const dir = join(keyDir, domain);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${selector}.pem`), pem, { mode: 0o600 });
  };
  put('rsa.example.test', 'r1', keys.rsa.pem);
  put('ed.example.test', 'e1', keys.ed.pem);
  put('dual.example.test', 'r2', keys.dualRsa.pem);
  put('dual.example.test', 'e2', keys.dualEd.pem);
  put('xn--exmple-cua.test', 'idn', keys.idn.pem);
}

describe('stage-signed messages verify with dkimpy (python3-dkim) and mailauth over real DNS (Knot)', { skip: !KNOTD ? 'knotd not installed' : dkimpyMissing() }, () => {
  const knot = new KnotServer();
  let config: DkimSignConfig;
  const dns = () => ({ host: '127.0.0.1', port: knot.port });
  before(async () => {
    writeKeys();
    config = loadDkimSignConfig({
      DKIM_KEY_DIR: keyDir,
      DKIM_SENDERS: JSON.stringify({ alice: ['*.example.test', 'xn--exmple-cua.test'] }),
      DKIM_AUID: 'from',
    });
    await knot.start({
      test: [
        { name: 'r1._domainkey.rsa.example.test', type: 'TXT', value: dnsTxtValue(keys.rsa.key) },
        { name: 'e1._domainkey.ed.example.test', type: 'TXT', value: dnsTxtValue(keys.ed.key) },
        { name: 'r2._domainkey.dual.example.test', type: 'TXT', value: dnsTxtValue(keys.dualRsa.key) },
        { name: 'e2._domainkey.dual.example.test', type: 'TXT', value: dnsTxtValue(keys.dualEd.key) },
        { name: 'idn._domainkey.xn--exmple-cua.test', type: 'TXT', value: dnsTxtValue(keys.idn.key) },
      ],
    });
  });
  after(() => knot.stop());

  const msg = (from: string, extra = '', body = 'Hello.\r\n') => Buffer.from(
    `From: ${from}\r\nTo: Bob <bob@example.net>\r\nCc: carol@example.net\r\nSubject: test\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n` +
    `Message-ID: <m1@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n${extra}\r\n${body}`, 'utf8');
  const signed = async (m: Buffer) => {
    const { section } = await signMessage(m, { config, authUser: 'alice' });
    return { section, message: Buffer.concat([Buffer.from(section.headers, 'ascii'), m]) };
  };

  for (const [name, domain, algos] of [
    ['RSA-2048', 'rsa.example.test', ['rsa-sha256']],
    ['Ed25519', 'ed.example.test', ['ed25519-sha256']],
    ['dual (RSA + Ed25519)', 'dual.example.test', ['rsa-sha256', 'ed25519-sha256']],
  ] as const) {
    test(`${name}: every signature passes both verifiers`, async () => {
      const { section, message } = await signed(msg(`Alice <alice@${domain}>`, 'List-Id: <l.example.test>\r\n'));
      assert.deepEqual(section.signatures.map((s) => s.algorithm), algos);
      assert.ok(section.signatures.every((s) => s.identity === `alice@${domain}`));
      assert.deepEqual(section.signatures[0]!.signedHeaders, ['From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding', 'List-Id', 'From']);
      const py = await dkimpyVerify(message, dns());
      assert.deepEqual(py.map((r) => [r.a, r.ok]), algos.map((a) => [a, true]), JSON.stringify(py));
      const ma = await mailauthVerify(message, dns());
      assert.deepEqual(ma.map((r) => [r.a, r.result]), algos.map((a) => [a, 'pass']), JSON.stringify(ma));
    });
  }

  test('RFC 6532 UTF-8 header text ("voilà café", trailing "à", IDN From) passes both verifiers', async () => {
    const m = msg('"Zoë Ünïcödé" <zoë@exämple.test>', 'Subject: voilà café\r\nX-Note: à\r\n').toString('utf8').replace('Subject: test\r\n', '');
    const { section, message } = await signed(Buffer.from(m, 'utf8'));
    assert.equal(section.fromDomain, 'xn--exmple-cua.test');
    assert.equal(section.signatures[0]!.identity, 'zo=C3=AB@xn--exmple-cua.test', 'i= local part in dkim-quoted-printable');
    assert.ok(message.includes(Buffer.from([0xc3, 0xa0])), 'the message carries 0xA0 bytes inside UTF-8');
    const py = await dkimpyVerify(message, dns());
    assert.deepEqual(py.map((r) => r.ok), [true], JSON.stringify(py));
    const ma = await mailauthVerify(message, dns());
    assert.deepEqual(ma.map((r) => r.result), ['pass'], JSON.stringify(ma));
  });

  test('the verifiers do fail: a changed body, an added From above (oversigned) and a changed Subject', async () => {
    const { message } = await signed(msg('alice@dual.example.test'));
    for (const bad of [
      Buffer.from(message.toString('latin1').replace('Hello.', 'Hello!'), 'latin1'),
      Buffer.concat([Buffer.from('From: mallory@evil.test\r\n'), message]),
      Buffer.from(message.toString('latin1').replace('Subject: test', 'Subject: tezt'), 'latin1'),
    ]) {
      const py = await dkimpyVerify(bad, dns());
      assert.deepEqual(py.map((r) => r.ok), [false, false], JSON.stringify(py));
      const ma = await mailauthVerify(bad, dns());
      assert.ok(ma.every((r) => r.result !== 'pass'), JSON.stringify(ma));
    }
  });
});

describe('refusals (SigningRefused → dead letter)', () => {
  let config: DkimSignConfig;
  before(() => {
    writeKeys();
    config = loadDkimSignConfig({ DKIM_KEY_DIR: keyDir, DKIM_SENDERS: JSON.stringify({ alice: ['rsa.example.test', 'nokey.test'], bob: ['*.example.test'], any: ['*'] }), DKIM_PARENT_DOMAIN_KEYS: 'true' });
  });
  const m = (fromLines: string) => Buffer.from(`${fromLines}To: x@example.net\r\nSubject: s\r\n\r\nbody\r\n`);
  const refused = async (message: Buffer, authUser: string | null, code: string) => {
    await assert.rejects(signMessage(message, { config, authUser }), (e: unknown) => e instanceof SigningRefused && e.code === code && /dkim-sign refused/.test(e.message));
  };
  test('user not allowed for the From domain / address', async () => {
    await refused(m('From: alice@ed.example.test\r\n'), 'alice', 'not-authorized');
    await refused(m('From: carol@rsa.example.test\r\n'), 'carol', 'not-authorized');
    // bob: *.example.test covers subdomains, not example.test itself
    await refused(m('From: bob@example.test\r\n'), 'bob', 'not-authorized');
  });
  test('no key for the From domain (nor a parent)', async () => {
    await refused(m('From: alice@nokey.test\r\n'), 'alice', 'no-key');
  });
  test('no / several From fields, several From domains, no SMTP AUTH user', async () => {
    await refused(m(''), 'any', 'no-from');
    await refused(m('From: undisclosed:;\r\n'), 'any', 'no-from');
    await refused(m('From: a@rsa.example.test\r\nFrom: a@rsa.example.test\r\n'), 'any', 'multiple-from');
    await refused(m('From: a@rsa.example.test, b@ed.example.test\r\nSender: a@rsa.example.test\r\n'), 'any', 'multiple-from-domains');
    await refused(m('From: a@rsa.example.test\r\n'), null, 'no-auth-user');
  });
  test('allowed: own address login, wildcard, parent-domain key (d= the parent)', async () => {
    const own = await signMessage(m('From: Me <me@ed.example.test>\r\n'), { config, authUser: 'me@ed.example.test' });
    assert.equal(own.section.signatures[0]!.domain, 'ed.example.test');
    const sub = await signMessage(m('From: x@sub.rsa.example.test\r\n'), { config, authUser: 'bob' });
    assert.deepEqual([sub.section.fromDomain, sub.section.signatures[0]!.domain], ['sub.rsa.example.test', 'rsa.example.test']);
    const noParent = { ...config, parentDomainKeys: false };
    await assert.rejects(signMessage(m('From: x@sub.rsa.example.test\r\n'), { config: noParent, authUser: 'bob' }), (e: unknown) => e instanceof SigningRefused && e.code === 'no-key');
  });
});

describe('configuration errors name the key', () => {
  const err = (env: NodeJS.ProcessEnv, key: RegExp) => assert.throws(() => loadDkimSignConfig(env), (e: Error) => e.name === 'ConfigError' && key.test(e.message));
  test('short RSA key, two keys of one algorithm, unreadable file, bad senders, bad header name', () => {
    const short = join(tmp, 'short.pem');
    writeFileSync(short, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    err({ DKIM_KEYS: `a.test:s:${short}`, DKIM_MIN_RSA_BITS: '2048' }, /DKIM_KEYS: .*1024-bit RSA key/);
    const r2 = join(tmp, 'r2.pem');
    writeFileSync(r2, keys.rsa.pem);
    err({ DKIM_KEYS: `a.test:s1:${r2},a.test:s2:${r2}` }, /two rsa-sha256 keys for a\.test/);
    err({ DKIM_KEYS: 'a.test:s:/nonexistent.pem' }, /DKIM_KEYS: cannot read/);
    err({ DKIM_KEYS: 'a.test:/x.pem' }, /DKIM_KEYS/);
    err({ DKIM_SENDERS: '{"alice": "example.org"}' }, /DKIM_SENDERS/);
    err({ DKIM_SENDERS: '{"alice": ["not a domain"]}' }, /DKIM_SENDERS/);
    err({ DKIM_SIGN_HEADERS: 'From,Sub ject' }, /DKIM_SIGN_HEADERS/);
    err({ DKIM_KEY_DIR: '/nonexistent-dir' }, /DKIM_KEY_DIR/);
    // no keys at all is allowed (the stage starts and refuses with no-key)
    assert.equal(loadDkimSignConfig({}).keys.size, 0);
  });
});
