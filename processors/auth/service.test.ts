/**
 * The auth stage end to end on the real broker and registry: parsed records in → authenticated
 * records (with the auth section) out, one DMARC event per message on the side topic keyed by the
 * From domain, in the same transaction; a DNS timeout gives temperror, not a dead letter.
 * DNS: an in-process authoritative server over real UDP/TCP.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { Admin } from '../../runtime/kafka.ts';
import type { ServiceContext } from '../../runtime/service.ts';
import { createStageTopics, produce, readTopic, testMailRecord, testServiceContext } from '../../runtime/stage-testing.ts';
import { topicConfig, type TopicSpec } from '../../runtime/topics.ts';
import { uniqueName } from '../../runtime/testing.ts';
import type { DmarcEvent, MailRecord } from '../../schemas/types.ts';
import { authService } from './service.ts';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';

const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dns = new TestDnsServer();
let svc: ServiceContext;
let admin: Admin;

before(async () => {
  await dns.start();
  dns.add('sel._domainkey.reject.test', { type: 'TXT', data: `v=DKIM1; p=${key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` });
  dns.add('_dmarc.reject.test', { type: 'TXT', data: 'v=DMARC1; p=reject' });
  dns.add('mail.reject.test', { type: 'TXT', data: 'v=spf1 ip4:192.0.2.0/24 -all' });
  dns.set('slow.test', 'timeout');
  svc = testServiceContext('auth-test');
  svc.env = { ...process.env, DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '200', DNS_RETRIES: '0', AUTH_SERVID: 'mx.scop.test' };
  admin = svc.kafka.admin();
  await admin.connect();
});
after(async () => {
  await admin.disconnect();
  await dns.stop();
});

const message = (from: string) => Buffer.from(`From: <${from}>\r\nTo: <bob@example.net>\r\nSubject: hi\r\nMessage-ID: <${uniqueName('m')}@x>\r\n\r\nHello.\r\n`);

test('parsed in → authenticated out with the auth section, DMARC events keyed by From domain, timeouts → temperror', { timeout: 120000 }, async () => {
  const t = await createStageTopics(admin, 'auth');
  const dmarcTopic = uniqueName('auth-dmarc');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: dmarcTopic, numPartitions: 3, replicationFactor: 1, configEntries: Object.entries(topicConfig({ cleanup: 'delete' } as TopicSpec)).map(([name, value]) => ({ name, value })) }] });

  const unsigned = message('alice@reject.test');
  const signed = Buffer.concat([Buffer.from(((await dkimSign(unsigned, { signatureData: [{ signingDomain: 'reject.test', selector: 'sel', privateKey: key.privateKey.export({ type: 'pkcs8', format: 'pem' }), algorithm: 'rsa-sha256' }] } as never)) as { signatures: string }).signatures), unsigned]);
  const trace = Buffer.from('Received: from client by mx.scop.test; Mon, 1 Jan 2024 10:00:00 +0000\r\n');
  const records: MailRecord[] = [
    // aligned DKIM and SPF pass
    { ...testMailRecord(Buffer.concat([trace, signed]), { clientIp: '192.0.2.10', mailFrom: 'bounce@mail.reject.test', traceLength: trace.length }), auth: null },
    // nothing aligned: p=reject applies
    { ...testMailRecord(message('alice@reject.test'), { clientIp: '198.51.100.7', mailFrom: 'bounce@mail.reject.test' }), auth: null },
    // the MAIL FROM domain's DNS never answers
    { ...testMailRecord(message('carol@elsewhere.test'), { clientIp: '198.51.100.8', mailFrom: 'x@slow.test' }), auth: null },
  ];
  await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));

  const running = await authService.run(svc, { ...t, sideOutputs: { dmarcEvents: dmarcTopic } });
  try {
    const out = await readTopic(svc.kafka, t.output, 3, { settleMs: 500 });
    assert.equal(out.length, 3);
    const got = new Map<string, MailRecord>();
    for (const m of out) {
      const r = await svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord');
      got.set(r.envelope.id, r);
    }
    const [a, b, c] = records.map((r) => got.get(r.envelope.id)!.auth!);
    assert.equal(a!.dkim[0]!.result, 'pass', 'signature verified over raw[traceLength..]');
    assert.deepEqual([a!.spf.result, a!.dmarc.result, a!.dmarc.disposition], ['pass', 'pass', 'none']);
    assert.match(a!.authenticationResults, /^mx\.scop\.test;\r\n dkim=pass/);
    assert.equal(a!.stageVersion, authService.stage.version);
    assert.deepEqual([b!.spf.result, b!.dmarc.result, b!.dmarc.disposition], ['fail', 'fail', 'reject']);
    assert.equal(c!.spf.result, 'temperror');
    assert.ok(c!.tags.includes('dns-timeout'));
    assert.ok(c!.dns.timeouts >= 1);
    // the envelope is untouched
    assert.deepEqual(got.get(records[0]!.envelope.id)!.envelope.raw, records[0]!.envelope.raw);

    const events = await readTopic(svc.kafka, dmarcTopic, 3, { settleMs: 500 });
    assert.equal(events.length, 3, 'one event per message');
    const decoded = await Promise.all(events.map(async (m) => ({ key: m.key, e: await svc.codec.decodeAs<DmarcEvent>(m.value, 'DmarcEvent') })));
    for (const { key: k, e } of decoded) assert.equal(k, e.fromDomain);
    const ev = decoded.find((d) => d.e.recordId === records[1]!.envelope.id)!.e;
    assert.deepEqual([ev.fromDomain, ev.sourceIp, ev.disposition, ev.spfAligned, ev.dkimAligned, ev.spf.result], ['reject.test', '198.51.100.7', 'reject', false, false, 'fail']);
    assert.deepEqual(ev.envelopeTo, ['example.net']);

    const dead = await readTopic(svc.kafka, t.deadLetters, 0, { settleMs: 300 });
    assert.equal(dead.length, 0);
  } finally {
    await running.stop();
  }
});
