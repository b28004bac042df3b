/**
 * Outbound delivery through the relay on the real broker and registry: signed records on the
 * outbound topic → each recipient domain's MX (DNS from an in-process server, SMTP servers on
 * 127.0.0.x sharing the EGRESS_MX_PORT), with:
 *  - recipients grouped per domain (one transaction each), a refusing first MX → the next one;
 *  - the wire bytes = Received + the DKIM-Signature fields + envelope.raw;
 *  - 5xx → bounced + a DSN to the sender (delivered by the relay to the local Maildir);
 *    null MX → bounced + DSN; a null-sender original → no DSN;
 *  - MTA-STS enforce: MX not in the policy → nothing sent, retried, then dead + DSN; MX in the policy
 *    with a certificate from the trusted test CA → delivered over TLS; an untrusted certificate →
 *    not delivered (while the same server takes mail over opportunistic TLS without a policy);
 *  - a message with a bare LF → dead letter with the reason, nothing sent.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { freePort } from '../../infra/ports.ts';
import type { Admin } from '../../runtime/kafka.ts';
import type { ServiceContext } from '../../runtime/service.ts';
import { produce, readTopic, testMailRecord, testServiceContext } from '../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../runtime/testing.ts';
import type { DeadLetter, DeliveryJob, DeliveryStatus, MailRecord } from '../../schemas/types.ts';
import { startRelay, type RunningRelay } from './service.ts';
import { createRelayTopics, PolicyServer, ScriptedSmtp, TestCa } from './testing.ts';
import type { RelayTopics } from './relay.ts';

const dir = mkdtempSync(join(tmpdir(), 'scop-outbound-'));
const dns = new TestDnsServer();
const policyServer = new PolicyServer();
const plain = new ScriptedSmtp();     // 127.0.0.1: mx.good.test, mx.other.test, mx.sts-bad.test
const rejecting = new ScriptedSmtp(); // 127.0.0.2: refuses nobody@reject.test
const trusted = new ScriptedSmtp();   // 127.0.0.3: STARTTLS, certificate for mx.sts-ok.test from the test CA
const untrusted = new ScriptedSmtp(); // 127.0.0.4: STARTTLS, certificate from another CA
let svc: ServiceContext;
let admin: Admin;
let t: RelayTopics;
let relay: RunningRelay;

const SIG = 'DKIM-Signature: v=1; a=ed25519-sha256; d=out.test; s=e1; h=from : to;\r\n\tbh=abc; b=def\r\n';
function signed(rcptTo: string[], o: { mailFrom?: string; body?: string } = {}): MailRecord {
  const trace = 'Received: from client ([192.0.2.1]) by submit.out.test with ESMTPSA; Mon, 1 Jan 2024 10:00:00 +0000\r\n';
  const raw = Buffer.from(`${trace}From: Alice <alice@out.test>\r\nTo: ${rcptTo.join(', ')}\r\nSubject: outbound\r\nMessage-ID: <${uniqueName('m')}@out.test>\r\n\r\n${o.body ?? 'Hello.\r\n.leading dot\r\n'}`);
  return {
    ...testMailRecord(raw, { rcptTo, mailFrom: o.mailFrom ?? 'alice@out.test', listener: 'SUBMISSION', authUser: 'alice', traceLength: trace.length }),
    dkimSign: { stageVersion: 't', signedAt: Date.now(), headers: SIG, fromDomain: 'out.test', authUser: 'alice', signatures: [] },
  };
}

before(async () => {
  const ca = await TestCa.create();
  const other = await TestCa.create('another CA');
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  const port = await freePort();
  await plain.start(port, { host: '127.0.0.1' });
  await rejecting.start(port, { host: '127.0.0.2' });
  rejecting.rcpt = (a) => (a.startsWith('nobody@') ? [550, '5.1.1 <nobody@reject.test>: Recipient address rejected: User unknown'] : null);
  await trusted.start(port, { host: '127.0.0.3', tls: await ca.issue(['mx.sts-ok.test']) });
  await untrusted.start(port, { host: '127.0.0.4', tls: await other.issue(['mx.sts-untrusted.test']) });
  await policyServer.start(await ca.issue(['mta-sts.sts-bad.test', 'mta-sts.sts-ok.test', 'mta-sts.sts-untrusted.test']));
  await dns.start();
  const mx = (domain: string, ...hosts: [number, string][]) => { for (const [preference, exchange] of hosts) dns.add(domain, { type: 'MX', data: { preference, exchange } }); };
  const a = (name: string, ip: string) => dns.add(name, { type: 'A', data: ip });
  mx('good.test', [10, 'down.good.test'], [20, 'mx.good.test']);
  a('down.good.test', '127.0.0.5'); // nothing listens there: connection refused → next MX
  a('mx.good.test', '127.0.0.1');
  mx('other.test', [10, 'mx.other.test']);
  a('mx.other.test', '127.0.0.1');
  mx('reject.test', [10, 'mx.reject.test']);
  a('mx.reject.test', '127.0.0.2');
  mx('nullmx.test', [0, '.']);
  for (const d of ['sts-bad', 'sts-ok', 'sts-untrusted']) {
    dns.add(`_mta-sts.${d}.test`, { type: 'TXT', data: 'v=STSv1; id=20240101' });
    a(`mta-sts.${d}.test`, '127.0.0.1');
  }
  mx('sts-bad.test', [10, 'mx.sts-bad.test']);
  a('mx.sts-bad.test', '127.0.0.1');
  policyServer.policies.set('mta-sts.sts-bad.test', { body: 'version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n' });
  mx('sts-ok.test', [10, 'mx.sts-ok.test']);
  a('mx.sts-ok.test', '127.0.0.3');
  policyServer.policies.set('mta-sts.sts-ok.test', { body: 'version: STSv1\r\nmode: enforce\r\nmx: mx.sts-ok.test\r\nmax_age: 86400\r\n' });
  mx('sts-untrusted.test', [10, 'mx.sts-untrusted.test']);
  a('mx.sts-untrusted.test', '127.0.0.4');
  policyServer.policies.set('mta-sts.sts-untrusted.test', { body: 'version: STSv1\r\nmode: enforce\r\nmx: *.sts-untrusted.test\r\nmax_age: 86400\r\n' });
  mx('plain-untrusted.test', [10, 'mx.plain-untrusted.test']);
  a('mx.plain-untrusted.test', '127.0.0.4');

  svc = testServiceContext('egress-outbound-test');
  admin = svc.kafka.admin();
  await admin.connect();
  t = await createRelayTopics(admin, 'egress-out');
  const env = {
    ...process.env, EGRESS_NEXT_HOP: '', EGRESS_MAILDIR: join(dir, 'maildir'), EGRESS_HOSTNAME: 'egress.out.test',
    EGRESS_DNS_SERVERS: dns.address, EGRESS_DNS_TIMEOUT_MS: '1000', EGRESS_MX_PORT: String(port), EGRESS_MX_ALLOWED_NETWORKS: '127.0.0.0/8',
    EGRESS_MTA_STS_POLICY_URL_TEMPLATE: `https://mta-sts.{domain}:${policyServer.port}/.well-known/mta-sts.txt`, EGRESS_TLS_CA_FILE: caFile,
    EGRESS_RETRY_DELAYS: '1,1,1', EGRESS_MAX_ATTEMPTS: '2', EGRESS_TIMEOUT_MS: '3000',
  };
  relay = await startRelay({ ...svc, env }, { topics: t, groupPrefix: uniqueName('egout') });
});

after(async () => {
  await relay?.stop();
  await admin?.disconnect();
  for (const s of [plain, rejecting, trusted, untrusted]) await s.stop();
  await policyServer.stop();
  await dns.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function statuses(ids: string[], n: number): Promise<DeliveryStatus[]> {
  let out: DeliveryStatus[] = [];
  await eventually(async () => {
    const msgs = await readTopic(svc.kafka, t.log, 1, { settleMs: 200 });
    out = (await Promise.all(msgs.map((m) => svc.codec.decodeAs<DeliveryStatus>(m.value, 'DeliveryStatus')))).filter((s) => ids.includes(s.recordId));
    return out.length >= n ? true : undefined;
  }, 60000, `${n} delivery log entries`);
  return out;
}

const maildir = (address: string) => {
  const d = join(dir, 'maildir', address, 'new');
  return existsSync(d) ? readdirSync(d).map((f) => readFileSync(join(d, f), 'latin1')) : [];
};

test('MX routing, grouping per domain, wire bytes, bounces with DSN, MTA-STS, bare LF refused', { timeout: 120000 }, async () => {
  const grouped = signed(['bob@good.test', 'carol@good.test', 'dan@other.test']);
  const bounced = signed(['nobody@reject.test', 'eve@reject.test']);
  const nullMx = signed(['x@nullmx.test']);
  const nullSender = signed(['nobody@reject.test'], { mailFrom: '' });
  const stsBad = signed(['frank@sts-bad.test']);
  const stsOk = signed(['gina@sts-ok.test']);
  const stsUntrusted = signed(['hal@sts-untrusted.test']);
  const plainUntrusted = signed(['ida@plain-untrusted.test']);
  const bareLf = signed(['bob@good.test'], { body: 'line one\nline two\r\n' });
  const all = [grouped, bounced, nullMx, nullSender, stsBad, stsOk, stsUntrusted, plainUntrusted, bareLf];
  await produce(svc.kafka, svc.codec, t.outbound!, 'MailRecord', all.map((record) => ({ record })));

  // Delivered: one transaction per domain, the first MX (connection refused) skipped.
  await eventually(() => (plain.received.length >= 2 ? true : undefined), 30000, 'two transactions at the good MX');
  const byRcpts = new Map(plain.received.map((r) => [r.to.join(','), r]));
  assert.ok(byRcpts.has('bob@good.test,carol@good.test'), 'both good.test recipients in one transaction');
  assert.ok(byRcpts.has('dan@other.test'), 'other.test in its own');
  const got = byRcpts.get('dan@other.test')!;
  assert.equal(got.from, 'alice@out.test');
  const text = got.data.toString('latin1');
  assert.match(text, new RegExp(`^Received: by egress\\.out\\.test \\(scop egress\\) with ESMTP id ${grouped.envelope.id}\\r\\n\\tfor <dan@other\\.test>;\\r\\n\\t[^\\r\\n]+\\r\\n`));
  assert.equal(text.slice(text.indexOf('\r\n', text.indexOf('\r\n\t', text.indexOf('for <')) + 2) + 2), SIG + grouped.envelope.raw.toString('latin1'), 'then the signatures, then raw byte for byte');
  assert.ok(!/X-Scop|X-Spam|Authentication-Results/.test(text), 'no inbound verdict headers on outbound mail');

  // MTA-STS enforce with a matching MX and a trusted certificate: delivered over TLS.
  await eventually(() => (trusted.received.length === 1 ? true : undefined), 30000, 'sts-ok delivered');
  assert.equal(trusted.received[0]!.secure, true);
  // No policy: opportunistic TLS accepts the untrusted certificate.
  await eventually(() => (untrusted.received.length === 1 ? true : undefined), 30000, 'plain-untrusted delivered');
  assert.deepEqual(untrusted.received[0]!.to, ['ida@plain-untrusted.test']);
  assert.equal(untrusted.received[0]!.secure, true);

  const ids = all.map((r) => r.envelope.id);
  // grouped 3 + bounced 2 + nullMx 1 + nullSender 1 + stsOk 1 + plainUntrusted 1 + stsBad 1 (dead) + stsUntrusted 1 (dead)
  const log = await statuses(ids, 11);
  const st = (r: MailRecord, rcpt: string) => log.find((s) => s.recordId === r.envelope.id && s.recipient === rcpt);
  for (const [r, rc] of [[grouped, 'bob@good.test'], [grouped, 'dan@other.test'], [bounced, 'eve@reject.test'], [stsOk, 'gina@sts-ok.test']] as const) assert.equal(st(r, rc)?.status, 'delivered', rc);
  assert.match(st(grouped, 'bob@good.test')!.nextHop, /^smtp:\/\/mx\.good\.test\[127\.0\.0\.1\]:\d+$/);
  assert.equal(st(bounced, 'nobody@reject.test')?.status, 'bounced');
  assert.match(st(bounced, 'nobody@reject.test')!.reply!, /^550 5\.1\.1 <nobody@reject\.test>/);
  assert.equal(st(nullMx, 'x@nullmx.test')?.status, 'bounced');
  assert.equal(st(nullMx, 'x@nullmx.test')?.reply, '556 5.1.10 domain nullmx.test accepts no mail (null MX, RFC 7505)');
  assert.equal(st(stsBad, 'frank@sts-bad.test')?.status, 'dead', 'MTA-STS mismatch: retried, then dead');
  assert.match(st(stsBad, 'frank@sts-bad.test')!.reply!, /4\.7\.5 MTA-STS policy of sts-bad\.test .* names none of its MX hosts/);
  assert.equal(st(stsBad, 'frank@sts-bad.test')?.attempts, 2);
  assert.equal(st(stsUntrusted, 'hal@sts-untrusted.test')?.status, 'dead', 'untrusted certificate under enforce: not delivered');
  assert.match(st(stsUntrusted, 'hal@sts-untrusted.test')!.reply!, /certificate|self[- ]signed|verify/i);
  assert.ok(!plain.received.some((r) => r.to.includes('frank@sts-bad.test')), 'nothing sent to the MX outside the policy');
  assert.ok(!untrusted.received.some((r) => r.to.includes('hal@sts-untrusted.test')), 'nothing sent in clear or to the untrusted server');

  // The retry topic saw the MTA-STS failures; the dead topic has them.
  const retried = await Promise.all((await readTopic(svc.kafka, t.retries[0], 2, { settleMs: 0 })).map((m) => svc.codec.decodeAs<DeliveryJob>(m.value, 'DeliveryJob')));
  assert.ok(retried.some((j) => j.record.envelope.id === stsBad.envelope.id && j.origin === 'outbound'));

  // DSNs: for the 5xx, the null MX and the two dead ones — delivered to alice's Maildir; none for the null sender.
  await eventually(() => (maildir('alice@out.test').length >= 4 ? true : undefined), 60000, 'four DSNs in alice\'s Maildir');
  await new Promise((r) => setTimeout(r, 1500));
  const dsns = maildir('alice@out.test');
  assert.equal(dsns.length, 4, 'one DSN per failed message, none for the null-sender original');
  const reject = dsns.find((d) => d.includes('nobody@reject.test'))!;
  assert.match(reject, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(reject, /^Final-Recipient: rfc822; nobody@reject\.test$/m);
  assert.match(reject, /^Status: 5\.1\.1$/m);
  assert.match(reject, /^Remote-MTA: dns; mx\.reject\.test$/m);
  assert.match(reject, /^Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@reject\.test>/m);
  assert.ok(!reject.includes('Final-Recipient: rfc822; eve@reject.test'), 'only the failed recipient is reported');
  assert.match(dsns.find((d) => d.includes('frank@sts-bad.test'))!, /^Action: failed\r?\nStatus: 4\.7\.5/m);
  assert.match(dsns.find((d) => d.includes('x@nullmx.test'))!, /^Status: 5\.1\.10$/m);
  const requests = await Promise.all((await readTopic(svc.kafka, t.requests, 4, { settleMs: 300 })).map((m) => svc.codec.decodeAs<DeliveryJob>(m.value, 'DeliveryJob')));
  assert.equal(requests.length, 4);
  assert.ok(requests.every((j) => j.origin === 'dsn' && j.record.envelope.mailFrom === '' && j.recipients[0] === 'alice@out.test'));

  // Bare LF: dead letter with the reason, never sent.
  const [letter] = await readTopic(svc.kafka, t.deadLetters!, 1, { settleMs: 200 });
  const dl = await svc.codec.decodeAs<DeadLetter>(letter!.value, 'DeadLetter');
  assert.equal(dl.recordId, bareLf.envelope.id);
  assert.match(dl.error, /refused to send: bare LF at byte \d+/);
  assert.ok(!log.some((s) => s.recordId === bareLf.envelope.id));

  const metrics = await svc.metrics.getSingleMetricAsString('scop_egress_dsn_total');
  assert.match(metrics, /scop_egress_dsn_total\{reason="bounced"\} 2/);
  assert.match(metrics, /scop_egress_dsn_total\{reason="dead"\} 2/);
});
