/**
 * SMTP-time policy (issue 16 item 4), black-box over SMTP against a real DNS server (Knot on
 * loopback, serving test DNSBL zones and SPF records; nothing reaches the Internet): unknown
 * recipients and relay attempts are refused at RCPT, a DNSBL-listed client is refused with the list
 * named, an SPF -all failure is refused when configured, greylisting state is shared by two
 * instances through the compacted topic, and every refusal is counted and written to the refusals
 * topic — while nothing refused ever reaches the mail topics.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KNOTD, KnotServer } from '../infra/dns/knot.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import type { SmtpRefusal } from '../schemas/types.ts';
import { Counter, Registry } from 'prom-client';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { schema } from '../schemas/index.ts';
import { dnsblQueryName, parseDnsblSites } from './dnsbl.ts';
import type { KafkaHandoff } from './handoff.ts';
import { RefusalLog } from './refusals.ts';
import type { ClientSession } from './session.ts';
import { parseClientAddress } from './prefix.ts';
import { RecipientPolicy } from './recipients.ts';
import { metricValue, readRecords, recordIdOf, sampleMessage, SmtpClient, startTestIngress, submissionClient, testDataDir, type TestIngress } from './testkit.ts';
import { addUser } from './users.ts';

/** Reads SmtpRefusal records until `done` says so. */
async function readRefusals(t: TestIngress, done: (r: SmtpRefusal[]) => boolean): Promise<SmtpRefusal[]> {
  const consumer = t.kafka.consumer({ groupId: uniqueName('refusals-reader'), maxWaitTimeMs: 200 });
  const out: SmtpRefusal[] = [];
  try {
    await consumer.run({ topics: [t.topics.refusals], fromBeginning: true, onCrash: () => {}, eachBatch: async (b) => { for (const m of b.records) if (m.value) out.push(await t.codec.decode<SmtpRefusal>(m.value)); } });
    await eventually(() => (done(out) ? true : undefined), 30000, 'refusal records');
    return [...out];
  } finally {
    await consumer.stop();
  }
}

async function mx(t: TestIngress, ip: string, from = 'someone@sender.test'): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.ingress.ports.MX!, { localAddress: ip });
  assert.equal((await c.reply()).code, 220);
  await c.cmd('EHLO client.example.org');
  assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
  return c;
}

describe('SMTP-time policy', { skip: KNOTD ? false : 'needs knot (infra/debian-packages.txt)' }, () => {
  const knot = new KnotServer();
  let t: TestIngress;

  before(async () => {
    await knot.start({
      test: [
        // dnsbl.test lists 127.0.80.2 (127.0.0.2) and 127.0.81.5; for 127.0.82.9 it answers 127.0.0.255,
        // which the configured filter 127.0.0.[2..11] ignores. allow.test (weight -5) vouches for 127.0.81.5.
        { name: '2.80.0.127.dnsbl.test', type: 'A', value: '127.0.0.2' },
        { name: '2.80.0.127.dnsbl.test', type: 'TXT', value: 'listed for testing' },
        { name: '5.81.0.127.dnsbl.test', type: 'A', value: '127.0.0.4' },
        { name: '9.82.0.127.dnsbl.test', type: 'A', value: '127.0.0.255' },
        { name: '5.81.0.127.allow.test', type: 'A', value: '127.0.0.2' },
        { name: 'spf-fail.test', type: 'TXT', value: 'v=spf1 -all' },
        { name: 'spf-soft.test', type: 'TXT', value: 'v=spf1 ~all' },
        { name: 'sender.test', type: 'TXT', value: 'v=spf1 ip4:127.0.0.0/8 -all' },
      ],
    });
    const dir = testDataDir('policy');
    const recipientsFile = join(dir, 'recipients');
    writeFileSync(recipientsFile, '# valid local recipients\nbob@example.net\n@local.test\n');
    t = await startTestIngress({
      name: 'policy',
      dataDir: dir,
      env: {
        INGRESS_LOCAL_DOMAINS: 'example.net,local.test', INGRESS_RECIPIENTS_FILE: recipientsFile, INGRESS_DNS_SERVERS: knot.address, INGRESS_DNS_TIMEOUT_MS: '1000',
        INGRESS_DNSBL_SITES: 'dnsbl.test=127.0.0.[2..11]*2, allow.test*-5', INGRESS_DNSBL_THRESHOLD: '2', INGRESS_SPF_REJECT: 'true',
      },
    });
    await addUser(t.config.usersFile, 'alice@example.com', 'correct horse battery');
  });
  after(async () => {
    await t?.stop();
    await knot.stop();
  });

  it('unknown local recipient: 550 5.1.1 at RCPT, before DATA; listed, sub-addressed, catch-all and postmaster recipients pass', async () => {
    const c = await mx(t, '127.0.83.1');
    assert.match((await c.cmd('RCPT TO:<nobody@example.net>')).text, /^550 5\.1\.1 <nobody@example\.net>: Recipient address rejected: User unknown/);
    assert.match((await c.cmd('DATA')).text, /^503 /, 'no DATA without an accepted recipient');
    for (const ok of ['bob@example.net', 'Bob+lists@EXAMPLE.NET', 'anyone@local.test', 'postmaster@example.net', 'postmaster']) {
      assert.equal((await c.cmd(`RCPT TO:<${ok}>`)).code, 250, ok);
    }
    c.close();
  });

  it('relay attempt without AUTH: 554 5.7.1 on MX; an authenticated user may relay', async () => {
    const c = await mx(t, '127.0.84.1');
    assert.match((await c.cmd('RCPT TO:<carol@example.org>')).text, /^554 5\.7\.1 <carol@example\.org>: Relay access denied/);
    assert.match((await c.cmd('RCPT TO:<x@[192.0.2.1]>')).text, /^554 5\.7\.1 /, 'address literals are not local');
    c.close();
    const s = await submissionClient(t.ingress.ports.SUBMISSION!, '127.0.84.2');
    assert.equal((await s.authPlain('alice@example.com', 'correct horse battery')).code, 235);
    await s.cmd('MAIL FROM:<alice@example.com>');
    assert.equal((await s.cmd('RCPT TO:<carol@example.org>')).code, 250);
    assert.match((await s.cmd('RCPT TO:<nobody@example.net>')).text, /^550 5\.1\.1 /, 'unknown local recipients are unknown for users too');
    s.close();
  });

  it('DNSBL: a listed client is refused at RCPT with the list named; a filtered answer or an allowlist keeps a client in', async () => {
    const listed = await mx(t, '127.0.80.2');
    assert.equal((await listed.cmd('RCPT TO:<bob@example.net>')).text, '550 5.7.1 Service unavailable; client [127.0.80.2] blocked using dnsbl.test');
    listed.close();
    for (const ip of ['127.0.82.9', '127.0.81.5', '127.0.85.1']) {
      const c = await mx(t, ip);
      assert.equal((await c.cmd('RCPT TO:<bob@example.net>')).code, 250, ip);
      c.close();
    }
    const missesBefore = await metricValue(t.metrics, 'scop_ingress_dns_queries_total', { result: 'miss' });
    const again = await mx(t, '127.0.80.2');
    assert.match((await again.cmd('RCPT TO:<bob@example.net>')).text, /^550 5\.7\.1 .*dnsbl\.test/);
    again.close();
    assert.equal(await metricValue(t.metrics, 'scop_ingress_dns_queries_total', { result: 'miss' }), missesBefore, 'the second check is answered from the cache');
  });

  it('SPF: a sender whose policy fails the client (-all) gets 550 5.7.23 at RCPT, postmaster excepted; softfail passes', async () => {
    const c = await mx(t, '127.0.86.1', 'ceo@spf-fail.test');
    assert.match((await c.cmd('RCPT TO:<bob@example.net>')).text, /^550 5\.7\.23 SPF fail: spf-fail\.test does not allow 127\.0\.86\.1/);
    assert.equal((await c.cmd('RCPT TO:<postmaster@example.net>')).code, 250);
    c.close();
    const soft = await mx(t, '127.0.86.2', 'news@spf-soft.test');
    assert.equal((await soft.cmd('RCPT TO:<bob@example.net>')).code, 250);
    soft.close();
  });

  it('every refusal is counted and written to the refusals topic; none of the refused clients reached the mail topic', async () => {
    const ok = await mx(t, '127.0.87.1');
    await ok.cmd('RCPT TO:<bob@example.net>');
    const reply = await ok.data(sampleMessage({ subject: 'policy-accepted' }));
    assert.equal(reply.code, 250);
    ok.close();
    const want = ['RECIPIENT_UNKNOWN', 'RELAY_DENIED', 'DNSBL', 'SPF_FAIL'];
    const refused = await readRefusals(t, (r) => want.every((c) => r.some((x) => x.check === c)));
    const dnsbl = refused.find((r) => r.check === 'DNSBL')!;
    assert.deepEqual(dnsbl.dnsbl.map((h) => ({ ...h })), [{ zone: 'dnsbl.test', answer: '127.0.0.2', weight: 2 }]);
    assert.equal(dnsbl.clientIp, '127.0.80.2');
    assert.equal(dnsbl.clientPrefix, '127.0.80.0/24');
    assert.equal(dnsbl.code, 550);
    const unknown = refused.find((r) => r.check === 'RECIPIENT_UNKNOWN')!;
    assert.equal(unknown.rcptTo, 'nobody@example.net');
    assert.equal(unknown.mailFrom, 'someone@sender.test');
    assert.equal(unknown.enhancedCode, '5.1.1');
    assert.equal(unknown.listener, 'MX');
    assert.equal(unknown.ingressHost, 'mx.test.scop');
    for (const check of want) assert.ok(await metricValue(t.metrics, 'scop_ingress_policy_refusals_total', { check }) >= 1, check);
    const id = recordIdOf(reply)!;
    const mail = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.id === id), { settleMs: 500 });
    assert.deepEqual(mail.map((r) => r.envelope.clientIp), ['127.0.87.1'], 'only the accepted message is on the mail topic');
  });

  it('INGRESS_DNSBL_ACTION=connect: a listed client gets 554 5.7.1 instead of the greeting', async () => {
    const c = await startTestIngress({ name: 'policy-connect', env: { INGRESS_DNS_SERVERS: knot.address, INGRESS_DNSBL_SITES: 'dnsbl.test', INGRESS_DNSBL_ACTION: 'connect' } });
    try {
      const listed = await SmtpClient.connect(c.ingress.ports.MX!, { localAddress: '127.0.80.2' });
      assert.equal((await listed.reply()).text, '554 5.7.1 Service unavailable; client [127.0.80.2] blocked using dnsbl.test');
      await listed.closed;
      const clean = await SmtpClient.connect(c.ingress.ports.MX!, { localAddress: '127.0.85.2' });
      assert.equal((await clean.reply()).code, 220);
      clean.close();
      const sub = await SmtpClient.connect(c.ingress.ports.SUBMISSION!, { localAddress: '127.0.80.2' });
      assert.equal((await sub.reply()).code, 220, 'submission clients are not checked');
      sub.close();
    } finally {
      await c.stop();
    }
  });
});

describe('greylisting shared by two instances', () => {
  let a: TestIngress;
  let b: TestIngress;
  before(async () => {
    const env = { INGRESS_GREYLIST: 'true', INGRESS_GREYLIST_DELAY_MS: '2000' };
    a = await startTestIngress({ name: 'grey-a', env });
    b = await startTestIngress({ name: 'grey-b', env, topics: a.topics });
    await addUser(a.config.usersFile, 'alice@example.com', 'correct horse battery');
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  async function rcpt(t: TestIngress, ip: string, to = 'bob@example.net'): Promise<string> {
    const c = await mx(t, ip, 'news@sender.test');
    const r = await c.cmd(`RCPT TO:<${to}>`);
    c.close();
    return r.text;
  }

  it('450 4.7.1 for a new triplet and an early retry; after the delay a retry passes on the other instance, and then everywhere', async () => {
    assert.match(await rcpt(a, '127.0.90.1'), /^450 4\.7\.1 <bob@example\.net>: Greylisted, try again in [12] seconds?/);
    assert.match(await rcpt(a, '127.0.90.2'), /^450 4\.7\.1 /, 'an early retry, from another address of the same /24');
    await new Promise((ok) => setTimeout(ok, 2100));
    await eventually(async () => (/^250 /.test(await rcpt(b, '127.0.90.3')) ? true : undefined), 15000, 'instance b to pass the retry');
    await eventually(async () => (/^250 /.test(await rcpt(a, '127.0.90.4')) ? true : undefined), 15000, 'instance a to learn the pass');
    assert.match(await rcpt(a, '127.0.91.1'), /^450 /, 'another prefix is a new triplet');
    assert.match(await rcpt(a, '127.0.90.1', 'carol@example.net'), /^450 /, 'another recipient is a new triplet');
    assert.ok(await metricValue(a.metrics, 'scop_ingress_policy_refusals_total', { check: 'GREYLIST' }) >= 2);
  });

  it('authenticated submission is never greylisted', async () => {
    const s = await submissionClient(a.ingress.ports.SUBMISSION!, '127.0.92.1');
    assert.equal((await s.authPlain('alice@example.com', 'correct horse battery')).code, 235);
    await s.cmd('MAIL FROM:<alice@example.com>');
    assert.equal((await s.cmd('RCPT TO:<bob@example.net>')).code, 250);
    s.close();
  });
});

describe('policy building blocks', () => {
  it('parses postscreen dnsbl_sites syntax and names the bad entry', () => {
    const [a, b, c] = parseDnsblSites('zen.example*3, list.example=127.0.[0..255].[2;4..5]*-2 plain.example.');
    assert.deepEqual([a!.zone, a!.weight, a!.matches], ['zen.example', 3, undefined]);
    assert.deepEqual([b!.zone, b!.weight, b!.filterText], ['list.example', -2, '127.0.[0..255].[2;4..5]']);
    assert.ok(b!.matches!('127.0.9.2') && b!.matches!('127.0.9.5') && !b!.matches!('127.0.9.3') && !b!.matches!('127.1.0.2'));
    assert.deepEqual([c!.zone, c!.weight], ['plain.example', 1]);
    assert.throws(() => parseDnsblSites('x.example*many'), /x\.example\*many/);
    assert.throws(() => parseDnsblSites('list.example=127.0.0'), /four octet patterns/);
    assert.throws(() => parseDnsblSites('list.example=127.0.0.[9..2]'), /octet pattern/);
    assert.throws(() => parseDnsblSites('nodots'), /not a DNS zone/);
  });

  it('asks reversed octets for IPv4 and reversed nibbles for IPv6', () => {
    assert.equal(dnsblQueryName(parseClientAddress('192.0.2.99')!, 'bl.example'), '99.2.0.192.bl.example');
    assert.equal(dnsblQueryName(parseClientAddress('::ffff:192.0.2.99')!, 'bl.example'), '99.2.0.192.bl.example');
    assert.equal(dnsblQueryName(parseClientAddress('2001:db8::1')!, 'bl.example'), `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.bl.example`);
  });

  it('refusal records are rate-limited per prefix; every refusal is counted', async () => {
    const published: { topic: string; key: string; value: Buffer }[] = [];
    const side = { publish: async (topic: string, key: string, value: Buffer) => { published.push({ topic, key, value }); } } as unknown as KafkaHandoff;
    const registry = new Registry();
    const counted = new Counter({ name: 'c', help: 'c', labelNames: ['listener', 'check'], registers: [registry] });
    const unrecorded = new Counter({ name: 'u', help: 'u', labelNames: ['reason'], registers: [registry] });
    const log = new RefusalLog({ side, codec: new RecordCodec({ url: 'http://127.0.0.1:9' }), schemaId: 7, topic: 'refusals', ingressHost: 'mx.example', perPrefixPerMinute: 2, counted, unrecorded, log: loggerFor('test') });
    const cs = { listener: 'MX', ip: '192.0.2.1', prefix: '192.0.2.0/24' } as ClientSession;
    for (let i = 0; i < 5; i++) log.record(cs, { stage: 'RCPT', check: 'RELAY_DENIED', code: 554, enhanced: '5.7.1', text: `relay ${i}`, rcptTo: `x${i}@example.org` });
    log.record({ ...cs, prefix: '198.51.100.0/24' } as ClientSession, { stage: 'CONNECT', check: 'BLOCKLIST', code: 554, enhanced: '5.7.1', text: 'blocked' });
    await new Promise((ok) => setImmediate(ok));
    assert.deepEqual(published.map((p) => p.key), ['192.0.2.0/24', '192.0.2.0/24', '198.51.100.0/24']);
    const first = schema('SmtpRefusal').type.fromBuffer(published[0]!.value.subarray(5)) as SmtpRefusal;
    assert.equal(published[0]!.value.readInt32BE(1), 7);
    assert.equal(first.reason, 'relay 0');
    assert.equal(first.rcptTo, 'x0@example.org');
    assert.equal((await counted.get()).values.reduce((n, v) => n + v.value, 0), 6);
    assert.equal((await unrecorded.get()).values.find((v) => v.labels.reason === 'rate-limit')?.value, 3);
  });

  it('recipients: domains compare in A-label form; without a file every local address exists', () => {
    const p = new RecipientPolicy({ localDomains: ['bücher.example', 'Example.NET.'], delimiter: '+' });
    assert.deepEqual(p.check('anyone@xn--bcher-kva.example', false), { ok: true });
    assert.deepEqual(p.check('anyone@bücher.example', false), { ok: true });
    assert.deepEqual(p.check('x@example.net', false), { ok: true });
    assert.equal((p.check('x@example.org', false) as { check: string }).check, 'RELAY_DENIED');
    assert.deepEqual(p.check('x@example.org', true), { ok: true });
  });
});
