/**
 * The DKIM signing stage end to end on the real broker and registry: outbound raw records in →
 * signed records (dkimSign section; envelope.raw untouched) out, refusals (user not allowed,
 * no key) as dead letters with the reason and the original bytes. The signed message
 * (dkimSign.headers + envelope.raw) verifies with mailauth and dkimpy over real DNS.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Admin } from '../../runtime/kafka.ts';
import type { ServiceContext } from '../../runtime/service.ts';
import { createStageTopics, produce, readTopic, testMailRecord, testServiceContext } from '../../runtime/stage-testing.ts';
import { RawStore } from '../../runtime/raw-ref.ts';
import { loadSubmissionMacKey, sealedEnvelope } from '../../runtime/submission-mac.ts';
import type { DeadLetter, MailRecord } from '../../schemas/types.ts';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { dnsTxtValue, generateKey } from './keys.ts';
import { dkimSignService } from './service.ts';
import { dkimpyMissing, dkimpyVerify, mailauthVerify } from './testing/verifiers.ts';

const dir = mkdtempSync(join(tmpdir(), 'dkim-sign-svc-'));
const rsa = generateKey('rsa', 2048);
const ed = generateKey('ed25519');
const dns = new TestDnsServer();
let svc: ServiceContext;
let admin: Admin;
const macFile = join(dir, 'secrets', 'submission-mac.key');
let macKey: Buffer;

before(async () => {
  mkdirSync(join(dir, 'out.example.test'));
  writeFileSync(join(dir, 'out.example.test', 'r1.pem'), rsa.pem);
  writeFileSync(join(dir, 'out.example.test', 'e1.pem'), ed.pem);
  await dns.start();
  dns.add('r1._domainkey.out.example.test', { type: 'TXT', data: dnsTxtValue(rsa.key) });
  dns.add('e1._domainkey.out.example.test', { type: 'TXT', data: dnsTxtValue(ed.key) });
  svc = testServiceContext('dkim-sign-test');
  svc.env = { ...process.env, DKIM_KEY_DIR: dir, DKIM_SENDERS: JSON.stringify({ alice: ['out.example.test', 'nokey.example.test'] }), SCOP_SUBMISSION_MAC_KEY_FILE: macFile };
  macKey = loadSubmissionMacKey({ dataDir: dir, create: true }); // what the ingress does on its first start
  admin = svc.kafka.admin();
  await admin.connect();
});
after(async () => {
  await admin.disconnect();
  await dns.stop();
  rmSync(dir, { recursive: true, force: true });
});

const message = (from: string, subject = 'hello') => Buffer.from(`From: ${from}\r\nTo: <bob@example.net>\r\nSubject: ${subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <${Math.random()}@x>\r\n\r\nHello.\r\n`, 'utf8');
const trace = Buffer.from('Received: from client ([192.0.2.10]) by submit.scop.test with ESMTPSA; Mon, 1 Jan 2024 10:00:00 +0000\r\n');
const unsealed = (m: Buffer, authUser: string | null) => testMailRecord(Buffer.concat([trace, m]), { listener: 'SUBMISSION', authUser, traceLength: trace.length, mailFrom: 'alice@out.example.test' });
/** As the ingress writes it: with the submission MAC. */
const outbound = (m: Buffer, authUser: string | null): MailRecord => {
  const r = unsealed(m, authUser);
  return { ...r, envelope: sealedEnvelope(macKey, r.envelope) };
};

test('outbound raw → signed (RSA + Ed25519) out; refusals dead-lettered with the reason', { timeout: 120000 }, async () => {
  const t = await createStageTopics(admin, 'dkim-sign');
  const sealedForMallory = outbound(message('ceo@out.example.test'), 'mallory');
  const sealedLater = outbound(message('alice@out.example.test', 'original'), 'alice');
  const records: MailRecord[] = [
    outbound(message('Alice <alice@out.example.test>', 'voilà café à'), 'alice'),
    outbound(message('ceo@out.example.test'), 'mallory'),
    outbound(message('alice@nokey.example.test'), 'alice'),
    // Written by someone else than our ingress: no MAC; mallory's record relabelled as alice's;
    // a sealed record with another message (or recipients) swapped in.
    unsealed(message('alice@out.example.test', 'no mac'), 'alice'),
    { ...sealedForMallory, envelope: { ...sealedForMallory.envelope, id: randomUUID(), authUser: 'alice' } },
    { ...sealedLater, envelope: { ...sealedLater.envelope, raw: Buffer.concat([trace, message('alice@out.example.test', 'swapped')]) } },
    { ...sealedLater, envelope: { ...sealedLater.envelope, id: randomUUID(), rcptTo: ['victim@example.net'] } },
    // A second From behind a form feed: no field for any reader here, a From for some receivers.
    outbound(Buffer.concat([Buffer.from('\fFrom: ceo@out.example.test\r\n'), message('alice@out.example.test')]), 'alice'),
  ];
  await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
  const running = await dkimSignService.run(svc, t);
  try {
    const out = await readTopic(svc.kafka, t.output, 1, { settleMs: 500 });
    assert.equal(out.length, 1);
    const signed = await svc.codec.decodeAs<MailRecord>(out[0]!.value, 'MailRecord');
    assert.equal(signed.envelope.id, records[0]!.envelope.id);
    // The signed record refers to the raw message on the input topic (runtime/raw-ref.ts): fetched back byte for byte.
    assert.equal(signed.envelope.raw.length, 0, 'the raw is referred to, not copied');
    const raws = new RawStore(svc.kafka, svc.codec);
    const r = await raws.resolve(signed).finally(() => raws.close());
    assert.deepEqual(r.envelope.raw, records[0]!.envelope.raw, 'envelope.raw untouched');
    const s = r.dkimSign!;
    assert.deepEqual(s.signatures.map((x) => [x.domain, x.selector, x.algorithm]), [['out.example.test', 'r1', 'rsa-sha256'], ['out.example.test', 'e1', 'ed25519-sha256']]);
    assert.deepEqual([s.fromDomain, s.authUser, s.stageVersion], ['out.example.test', 'alice', dkimSignService.stage.version]);
    assert.deepEqual(s.signatures[0]!.signedHeaders.at(-1), 'From', 'From oversigned by default');

    // What the egress sends: the signature fields, then raw (our Received line included, unsigned).
    const wire = Buffer.concat([Buffer.from(s.headers, 'ascii'), r.envelope.raw]);
    const server = { host: '127.0.0.1', port: dns.port };
    assert.deepEqual((await mailauthVerify(wire, server)).map((x) => x.result), ['pass', 'pass']);
    if (!dkimpyMissing()) assert.deepEqual((await dkimpyVerify(wire, server)).map((x) => x.ok), [true, true]);

    const dead = await readTopic(svc.kafka, t.deadLetters, 7, { settleMs: 500 });
    assert.equal(dead.length, 7);
    const letters = await Promise.all(dead.map((m) => svc.codec.decodeAs<DeadLetter>(m.value, 'DeadLetter')));
    const byId = new Map(letters.map((l) => [l.recordId, l]));
    const notAllowed = byId.get(records[1]!.envelope.id)!;
    assert.equal(notAllowed.reason, 'process-error');
    assert.match(notAllowed.error, /dkim-sign refused \(not-authorized\): user "mallory" may not send as ceo@out\.example\.test/);
    assert.ok(notAllowed.value && notAllowed.value.length > 0, 'original record bytes kept for a replay');
    assert.match(byId.get(records[2]!.envelope.id)!.error, /dkim-sign refused \(no-key\): no DKIM key for nokey\.example\.test/);
    assert.match(byId.get(records[3]!.envelope.id)!.error, /dkim-sign refused \(bad-submission-mac\): the record carries no submission MAC/);
    for (const forged of records.slice(4, 7)) assert.match(byId.get(forged.envelope.id)!.error, /dkim-sign refused \(bad-submission-mac\): the submission MAC does not match/);
    assert.match(byId.get(records[7]!.envelope.id)!.error, /dkim-sign refused \(invalid-header-line\): the header has a line that is neither a field nor a continuation: "\\fFrom: ceo@out\.example\.test"/);
    const metrics = await svc.metrics.getSingleMetricAsString('scop_dkim_sign_messages_total');
    assert.match(metrics, /result="refused",code="not-authorized"\} 1/);
    assert.match(metrics, /result="refused",code="bad-submission-mac"\} 4/);
    assert.match(metrics, /result="refused",code="invalid-header-line"\} 1/);
    assert.match(metrics, /result="signed",code=""\} 1/);
  } finally {
    await running.stop();
  }
});
