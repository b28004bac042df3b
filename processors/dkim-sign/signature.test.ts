/**
 * signature.ts — the DKIM-Signature layout the stage owns (h= order, oversigning, i=, tag order,
 * h= separator, a parsed KeyObject) on mailauth's canonicalization. Every signature made here is
 * checked by mailauth's verifier (strict mode) and, where it matters for canonicalization, by
 * dkimpy (python3-dkim), with keys over real DNS (in-process authoritative server).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
// @ts-expect-error: mailauth ships no types for lib/tools.js
import tools from 'mailauth/lib/tools.js';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { dnsTxtValue } from './keys.ts';
import { dkimSignatures, selectHeaders, SignatureError, type SignatureLayout, type SigningKey } from './signature.ts';
import { dkimpyMissing, dkimpyVerify, mailauthVerify } from './testing/verifiers.ts';

const { formatRelaxedLine, parseHeaders } = tools as unknown as { formatRelaxedLine(b: Buffer, s?: string): Buffer; parseHeaders(b: Buffer): { parsed: { key: string; casedKey: string; line: Buffer }[] } };

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ed = generateKeyPairSync('ed25519').privateKey;
const dns = new TestDnsServer();
before(async () => {
  await dns.start();
  dns.add('s._domainkey.reg.test', { type: 'TXT', data: dnsTxtValue(rsa) });
  dns.add('e._domainkey.reg.test', { type: 'TXT', data: dnsTxtValue(ed) });
});
after(() => dns.stop());
const server = () => ({ host: '127.0.0.1', port: dns.port });

const message = (extra = '') => Buffer.from(`From: a@reg.test\r\nTo: b@example.net\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n${extra}\r\nbody\r\n`, 'utf8');
const key = (over: Partial<SigningKey> = {}): SigningKey => ({ domain: 'reg.test', selector: 's', algorithm: 'rsa-sha256', privateKey: rsa, ...over });
const layout = (over: Partial<SignatureLayout> = {}): SignatureLayout => ({ headers: ['From', 'To', 'Subject'], oversign: [], separator: ': ', signTime: new Date(1700000000000), ...over });
async function sign(m: Buffer, l: Partial<SignatureLayout> = {}, k: SigningKey[] = [key()]) {
  const sigs = await dkimSignatures(m, k, layout(l));
  return { sigs, field: sigs[0]!.field, signed: Buffer.concat([Buffer.from(sigs.map((s) => `${s.field}\r\n`).join('')), m]) };
}
const tagOf = (field: string, t: string) => new RegExp(`(?:^|;)\\s*${t}=([^;]*)`).exec(field.replace(/\r\n/g, '').slice(field.indexOf(':') + 1))?.[1]!.replace(/\s+/g, ' ').trim();

describe('h= layout', () => {
  test('names in the configured order, every instance of each bottom-up', () => {
    const parsed = parseHeaders(Buffer.from('Received: 1\r\nSubject: s\r\nReceived: 2\r\nFrom: a@reg.test\r\n')).parsed;
    const { names, lines } = selectHeaders(parsed, { headers: ['Subject', 'From', 'Received'], oversign: [] });
    assert.deepEqual(names, ['Subject', 'From', 'Received', 'Received']);
    assert.deepEqual(lines.map((l) => l.toString()), ['Subject: s', 'From: a@reg.test', 'Received: 2', 'Received: 1']);
  });
  test('oversigning: a field listed once more than it occurs; adding an instance breaks the signature', async () => {
    const r = await sign(message(), { headers: ['From', 'Subject'], oversign: ['From', 'Reply-To'] });
    assert.equal(tagOf(r.field, 'h'), 'From: Subject: From: Reply-To');
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
    const added = Buffer.concat([Buffer.from(`${r.field}\r\nReply-To: evil@evil.test\r\n`), message()]);
    assert.equal((await mailauthVerify(added, server()))[0]!.result, 'fail');
    // without oversigning the same addition goes unnoticed (the reason for the feature)
    const plain = await sign(message(), { headers: ['From', 'Subject'] });
    const added2 = Buffer.concat([Buffer.from(`${plain.field}\r\nReply-To: evil@evil.test\r\n`), message()]);
    assert.equal((await mailauthVerify(added2, server()))[0]!.result, 'pass');
  });
  test('separator and tag order as configured; tags not named follow in the default order', async () => {
    const r = await sign(message(), { headers: ['From', 'To'], separator: ' : ', tagOrder: ['v', 'a', 'c', 'd', 'i', 'q', 's', 't', 'h', 'bh', 'b'] }, [key({ identity: '@reg.test' })]);
    const tags = r.field.replace(/\r\n/g, '').slice('DKIM-Signature:'.length).split(';').map((p) => p.trim().split('=')[0]);
    assert.deepEqual(tags, ['v', 'a', 'c', 'd', 'i', 'q', 's', 't', 'h', 'bh', 'b']);
    assert.equal(tagOf(r.field, 'h'), 'From : To');
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
  });
  test('no From field: refused (RFC 6376 §5.4), not signed over nothing', async () => {
    await assert.rejects(sign(Buffer.from('Subject: x\r\n\r\nbody\r\n')), SignatureError);
  });
});

describe('keys and tags', () => {
  test('RSA and Ed25519 from parsed KeyObjects, both verify; t= and x= from the layout', async () => {
    const now = Math.floor(Date.now() / 1000);
    const r = await sign(message(), { signTime: new Date(now * 1000), expires: new Date((now + 3600) * 1000) }, [key(), key({ selector: 'e', algorithm: 'ed25519-sha256', privateKey: ed })]);
    assert.deepEqual(r.sigs.map((s) => s.algorithm), ['rsa-sha256', 'ed25519-sha256']);
    assert.deepEqual([tagOf(r.field, 't'), tagOf(r.field, 'x')], [String(now), String(now + 3600)]);
    const ma = await mailauthVerify(r.signed, server());
    assert.deepEqual(ma.map((x) => [x.a, x.result]), [['rsa-sha256', 'pass'], ['ed25519-sha256', 'pass']], JSON.stringify(ma));
  });
  test('i= is written and must lie within d=', async () => {
    const r = await sign(message(), {}, [key({ identity: 'a@mail.reg.test' })]);
    assert.equal(tagOf(r.field, 'i'), 'a@mail.reg.test');
    assert.equal((await mailauthVerify(r.signed, server()))[0]!.result, 'pass');
    await assert.rejects(sign(message(), {}, [key({ identity: 'a@other.test' })]), /not within d=reg\.test/);
  });
  test('the field is folded at spaces to 76 columns, b= included', async () => {
    const r = await sign(message(), { headers: ['From', 'To', 'Subject', 'Date', 'Message-ID', 'Reply-To', 'MIME-Version', 'Content-Type'] });
    for (const line of r.field.split('\r\n')) assert.ok(line.length <= 76, line);
  });
});

describe('canonicalization is mailauth\'s (fixed upstream in 5.0.3: WSP is SP/HTAB only)', () => {
  test('relaxed header canonicalization keeps 0xA0, a byte of UTF-8 text ("à" = C3 A0)', () => {
    assert.deepEqual(formatRelaxedLine(Buffer.from('Subject:  voilà  café à \r\n\tà', 'utf8')), Buffer.from('subject:voilà café à à', 'utf8'));
    assert.deepEqual(formatRelaxedLine(Buffer.from('X-A : à\r\n', 'utf8'), '\r\n'), Buffer.from('x-a:à\r\n', 'utf8'));
  });
  test('a signature over "Subject: voilà café à" verifies with dkimpy', { skip: dkimpyMissing() }, async () => {
    const m = Buffer.from(message('X-Note: voilà café à\r\n').toString('utf8').replace('Subject: hi', 'Subject: voilà café à'), 'utf8');
    const r = await sign(m, { headers: ['From', 'Subject', 'X-Note'] });
    const py = await dkimpyVerify(r.signed, server());
    assert.deepEqual(py.map((x) => x.ok), [true], JSON.stringify(py));
  });
});
