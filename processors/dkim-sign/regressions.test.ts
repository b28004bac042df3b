/**
 * One regression test per signer defect of mailauth 4.13.3 fixed in patches/mailauth+4.13.3.patch
 * (README "Patches"), calling mailauth directly. Where a defect would make signer and mailauth's
 * own verifier agree on a wrong answer (relaxed canonicalization), the reference is dkimpy
 * (python3-dkim) with keys over real DNS (in-process authoritative server).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
// @ts-expect-error: mailauth ships no types for lib/tools.js
import tools from 'mailauth/lib/tools.js';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { dnsTxtValue } from './keys.ts';
import { dkimpyMissing, dkimpyVerify, mailauthVerify } from './testing/verifiers.ts';

const { formatRelaxedLine, parseHeaders } = tools as unknown as { formatRelaxedLine(b: Buffer, s?: string): Buffer; parseHeaders(b: Buffer): { parsed: { key: string }[] } };

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const dns = new TestDnsServer();
before(async () => {
  await dns.start();
  dns.add('s._domainkey.reg.test', { type: 'TXT', data: dnsTxtValue(rsa) });
});
after(() => dns.stop());
const server = () => ({ host: '127.0.0.1', port: dns.port });

const message = (extra = '') => Buffer.from(`From: a@reg.test\r\nTo: b@example.net\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n${extra}\r\nbody\r\n`, 'utf8');
const rsaPem = rsa.export({ format: 'pem', type: 'pkcs8' }) as string;
const sign = async (m: Buffer, opts: Record<string, unknown> = {}, key: KeyObject | string = rsaPem) => {
  const r = await dkimSign(m, { signatureData: [{ signingDomain: 'reg.test', selector: 's', privateKey: key, algorithm: 'rsa-sha256' }], signTime: new Date(1700000000000), ...opts } as never) as unknown as { signatures: string; errors: { err: Error }[] };
  return { ...r, field: r.signatures.replace(/\r\n$/, ''), signed: Buffer.concat([Buffer.from(r.signatures), m]) };
};
const hTag = (field: string) => /[;\s]h=([^;]*)/.exec(field.replace(/\r\n/g, ''))![1]!.replace(/\s+/g, ' ').trim();

describe('tools.js', () => {
  test('relaxed header canonicalization treats only SP/HTAB as white space (0xA0 is UTF-8 data: "à" = C3 A0)', () => {
    const line = Buffer.from('Subject:  voilà  café à \r\n\tà', 'utf8');
    assert.deepEqual(formatRelaxedLine(line), Buffer.from('subject:voilà café à à', 'utf8'));
    // unpatched: /\s/ on the 'binary' string takes 0xA0 → the trailing "à" lost its second byte
    assert.deepEqual(formatRelaxedLine(Buffer.from('X-A : à\r\n', 'utf8'), '\r\n'), Buffer.from('x-a:à\r\n', 'utf8'));
  });
  test('a header line starting with byte 0xA0 is not a continuation line (RFC 5322 §2.2.3: WSP only)', () => {
    const h = parseHeaders(Buffer.from('X-A: 1\r\n\xa0X-B: 2\r\n', 'latin1'));
    assert.equal(h.parsed.length, 2);
  });
  test('a parsed KeyObject is accepted as privateKey (no PEM parse per message)', async () => {
    const r = await sign(message(), {}, rsa);
    assert.deepEqual(r.errors, []);
    assert.match(r.field, /^DKIM-Signature: /);
  });
});

describe('dkim-signer.js / header/relaxed.js / simple.js', () => {
  test('headerList given as an array is honoured, in its order (was silently replaced by the default list)', async () => {
    const r = await sign(message(), { headerList: ['Subject', 'From'] });
    assert.equal(hTag(r.field), 'Subject: From');
    const ma = await mailauthVerify(r.signed, server());
    assert.equal(ma[0]!.result, 'pass', ma[0]!.comment);
  });
  test('a colon-separated string keeps the legacy behaviour (message order, bottom-up)', async () => {
    const r = await sign(message(), { headerList: 'Subject:From' });
    assert.equal(hTag(r.field), 'Subject: From');
    const r2 = await sign(message(), { headerList: 'From:Subject' });
    assert.equal(hTag(r2.field), 'Subject: From');
  });
  test('oversigning: h= names a field once more than it occurs, so an added instance breaks the signature', async () => {
    const r = await sign(message(), { headerList: ['From', 'Subject'], oversignHeaderList: ['From', 'Reply-To'] });
    assert.equal(hTag(r.field), 'From: Subject: From: Reply-To');
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
    const added = Buffer.concat([Buffer.from(r.signatures), Buffer.from('Reply-To: evil@evil.test\r\n'), message()]);
    assert.equal((await mailauthVerify(added, server()))[0]!.result, 'fail');
    // without oversigning the same addition goes unnoticed (the reason for the feature)
    const plain = await sign(message(), { headerList: ['From', 'Subject'] });
    const added2 = Buffer.concat([Buffer.from(plain.signatures), Buffer.from('Reply-To: evil@evil.test\r\n'), message()]);
    assert.equal((await mailauthVerify(added2, server()))[0]!.result, 'pass');
  });
  test('i= is emitted (identity was ignored) and must lie within d=', async () => {
    const r = await sign(message(), { identity: 'a@mail.reg.test' });
    assert.match(r.field.replace(/\r\n/g, ''), /; i=a@mail\.reg\.test;/);
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
    const bad = await sign(message(), { identity: 'a@other.test' });
    assert.equal(bad.signatures.trim(), '');
    assert.match(bad.errors[0]!.err.message, /not within the signing domain/);
  });
  test('tag order can be chosen; tags not named keep their default place after', async () => {
    const r = await sign(message(), { tagOrder: ['v', 'a', 'c', 'd', 'i', 'q', 's', 't', 'h', 'bh', 'b'], identity: '@reg.test', headerSeparator: ' : ', headerList: ['From', 'To'] });
    const tags = r.field.replace(/\r\n/g, '').slice('DKIM-Signature:'.length).split(';').map((p) => p.trim().split('=')[0]);
    assert.deepEqual(tags, ['v', 'a', 'c', 'd', 'i', 'q', 's', 't', 'h', 'bh', 'b']);
    assert.equal(hTag(r.field), 'From : To');
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
  });
  test('t= is fixed once: the hashed and the written header agree even when the clock moves between them', async () => {
    const realNow = Date.now;
    let calls = 0;
    Date.now = () => realNow() + 1000 * calls++;
    let r;
    try {
      r = await sign(message(), { signTime: undefined });
    } finally {
      Date.now = realNow;
    }
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
  });
});

describe('independent verifier (dkimpy) agrees', { skip: dkimpyMissing() }, () => {
  test('mailauth signature over "Subject: voilà café à" verifies with dkimpy (failed before the fix)', async () => {
    const m = Buffer.from(message('X-Note: voilà café à\r\n').toString('utf8').replace('Subject: hi', 'Subject: voilà café à'), 'utf8');
    const r = await sign(m, { headerList: ['From', 'Subject', 'X-Note'] });
    const py = await dkimpyVerify(r.signed, server());
    assert.deepEqual(py.map((x) => x.ok), [true], JSON.stringify(py));
  });
});
