/**
 * The outbound path end to end on the real stack: swaks authenticates on the ingress submission
 * port (STARTTLS + AUTH) and sends → mail.outbound.raw → dkim-sign → mail.outbound.signed → egress
 * (MX routing) → a real Postfix on loopback, found through MX records served by a real Knot DNS
 * (EGRESS_MX_PORT points at Postfix's port; the first MX of example.net is a loopback address
 * where nothing listens, so the second is used).
 *
 *  - delivered with RSA + Ed25519 signatures that verify (dkimpy = Debian's dkimverify library, and
 *    mailauth) with the public keys from the Knot zone, after Postfix stored it;
 *  - an unknown recipient (Postfix 550 5.1.1) → a DSN (multipart/report) with the null sender in the
 *    sender's mailbox at Postfix (the relay's next hop for local mail);
 *  - an MTA-STS enforce policy (served over HTTPS by a test CA's certificate) whose mx does not
 *    match the domain's MX → nothing delivered, the job waits on the retry topics;
 *  - Postfix down → the message is retried and arrives once Postfix is back.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { KNOTD, KnotServer } from '../infra/dns/knot.ts';
import { addUser } from '../ingress/users.ts';
import { dnsTxtValue, generateKey } from '../processors/dkim-sign/keys.ts';
import { dkimpyMissing, dkimpyVerify, mailauthVerify } from '../processors/dkim-sign/testing/verifiers.ts';
import { PolicyServer, TestCa } from '../egress/relay/testing.ts';
import { readTopic } from '../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import type { DeliveryJob, DeliveryStatus, MailRecord } from '../schemas/types.ts';
import { startPipeline, type Pipeline } from './pipeline.ts';
import { PrivatePostfix } from './postfix.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const skip = !PrivatePostfix.available() ? 'needs root and the Debian postfix package (infra/debian-packages.txt)'
  : !existsSync('/usr/bin/swaks') ? 'needs swaks' : !KNOTD ? 'needs knot' : dkimpyMissing();

const dir = join(ROOT, '.data', 'e2e', uniqueName('outbound'));
const knot = new KnotServer();
const policies = new PolicyServer();
const rsa = generateKey('rsa', 2048);
const ed = generateKey('ed25519');
let postfix: PrivatePostfix;
let pipe: Pipeline;

before(async () => {
  if (skip) return;
  mkdirSync(join(dir, 'dkim', 'out.test'), { recursive: true });
  writeFileSync(join(dir, 'dkim', 'out.test', 'r1.pem'), rsa.pem);
  writeFileSync(join(dir, 'dkim', 'out.test', 'e1.pem'), ed.pem);
  await addUser(join(dir, 'users'), 'alice@out.test', 'correct horse');
  const ca = await TestCa.create();
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  await policies.start(await ca.issue(['mta-sts.sts.test']));
  policies.policies.set('mta-sts.sts.test', { body: 'version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n' });
  await knot.start({
    'out.test': [
      { name: 'r1._domainkey.out.test', type: 'TXT', value: dnsTxtValue(rsa.key) },
      { name: 'e1._domainkey.out.test', type: 'TXT', value: dnsTxtValue(ed.key) },
    ],
    'example.net': [
      { name: 'example.net', type: 'MX', value: '10 mx1.example.net.' },
      { name: 'example.net', type: 'MX', value: '20 mx2.example.net.' },
      { name: 'mx1.example.net', type: 'A', value: '127.0.0.2' }, // nothing listens there
      { name: 'mx2.example.net', type: 'A', value: '127.0.0.1' }, // Postfix
    ],
    'sts.test': [
      { name: 'sts.test', type: 'MX', value: '10 mx.sts.test.' },
      { name: 'mx.sts.test', type: 'A', value: '127.0.0.1' }, // Postfix too: only MTA-STS keeps mail away from it
      { name: '_mta-sts.sts.test', type: 'TXT', value: 'v=STSv1; id=20240101T000000' },
      { name: 'mta-sts.sts.test', type: 'A', value: '127.0.0.1' },
    ],
  });
  postfix = new PrivatePostfix({ dir: join(dir, 'postfix'), mailboxes: ['bob@example.net', 'dave@example.net', 'carol@sts.test', 'alice@out.test'] });
  await postfix.start();
  pipe = await startPipeline({
    name: 'e2e-out', dataDir: join(dir, 'scop'), outbound: true,
    env: {
      INGRESS_USERS_FILE: join(dir, 'users'), DKIM_KEY_DIR: join(dir, 'dkim'),
      DNS_SERVERS: knot.address, DNS_TIMEOUT_MS: '500', DNS_RETRIES: '0',
      EGRESS_DNS_SERVERS: knot.address, EGRESS_MX_PORT: String(postfix.port), EGRESS_MX_ALLOWED_NETWORKS: '127.0.0.0/8', EGRESS_HOSTNAME: 'egress.out.test',
      EGRESS_MTA_STS_POLICY_URL_TEMPLATE: `https://mta-sts.{domain}:${policies.port}/.well-known/mta-sts.txt`, EGRESS_TLS_CA_FILE: join(dir, 'ca.pem'),
      // Local mail (the DSNs) goes to the same Postfix, which holds alice's mailbox.
      EGRESS_NEXT_HOP: `smtp://127.0.0.1:${postfix.port}`, EGRESS_STARTTLS: 'off',
      EGRESS_RETRY_DELAYS: '1,2,2', EGRESS_MAX_ATTEMPTS: '30', EGRESS_TIMEOUT_MS: '5000',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
  });
});

after(async () => {
  if (skip) return;
  await pipe?.stop();
  await postfix?.stop();
  await knot.stop();
  await policies.stop();
  if (!process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

/** swaks on the submission port: STARTTLS, AUTH PLAIN as alice. */
async function submit(to: string[], subject: string, body: string): Promise<{ code: number; out: string; id?: string }> {
  const port = pipe.ingress.ports.SUBMISSION!;
  try {
    const r = await run('swaks', ['--server', '127.0.0.1', '--port', String(port), '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@out.test', '--auth-password', 'correct horse',
      '--helo', 'laptop.out.test', '--from', 'alice@out.test', '--to', to.join(','), '--header', `Subject: ${subject}`,
      '--body', body, '--timeout', '30'], { maxBuffer: 10 * 1024 * 1024 });
    const out = r.stdout + r.stderr;
    return { code: 0, out, id: /<~\s+250 .*?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(out)?.[1] };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: `${x.stdout}${x.stderr}` };
  }
}

/** The DeliveryJobs on a topic (from the first one on, read 1.5 s longer). */
async function jobs(topic: string): Promise<DeliveryJob[]> {
  const msgs = await readTopic(pipe.svc.kafka, topic, 1, { settleMs: 1500, timeoutMs: 20000 }).catch(() => []);
  return Promise.all(msgs.map((m) => pipe.svc.codec.decodeAs<DeliveryJob>(m.value, 'DeliveryJob')));
}

const crlf = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
const find = (box: string, text: string) => postfix.mailbox(box).filter((m) => m.data.toString('latin1').includes(text));

async function logEntries(id: string): Promise<DeliveryStatus[]> {
  const msgs = await readTopic(pipe.svc.kafka, pipe.topics.deliveryLog, 1, { settleMs: 300 });
  return (await Promise.all(msgs.map((m) => pipe.svc.codec.decodeAs<DeliveryStatus>(m.value, 'DeliveryStatus')))).filter((s) => s.recordId === id);
}

test('submitted, signed, delivered through the MX with signatures that verify; an unknown recipient gets the sender a DSN', { skip, timeout: 120000 }, async () => {
  const sent = await submit(['bob@example.net', 'dave@example.net', 'nobody@example.net'], 'quarterly numbers voilà', 'Hi Bob,\n\n.a line starting with a dot\nsee you.');
  assert.equal(sent.code, 0, sent.out);
  assert.ok(sent.id, `record id in the 250 reply:\n${sent.out}`);

  await eventually(() => (find('bob@example.net', sent.id!).length === 1 && find('dave@example.net', sent.id!).length === 1 ? true : undefined), 60000, 'delivered to bob and dave at Postfix');
  const stored = crlf(find('bob@example.net', sent.id!)[0]!.data);
  const text = stored.toString('latin1');
  assert.match(text, new RegExp(`^Received: by egress\\.out\\.test \\(scop egress\\) with ESMTP id ${sent.id}`, 'm'));
  assert.match(text, /^DKIM-Signature: v=1; a=rsa-sha256;[^]*^DKIM-Signature: v=1; a=ed25519-sha256;/m);
  assert.match(text, /^\.a line starting with a dot\r$/m, 'dot-stuffing undone by Postfix: the line arrives as written');
  assert.ok(!/^X-Scop-Decision|^X-Spam-/m.test(text), 'no inbound verdict headers');
  // Both signatures verify, with keys from the Knot zone, on what Postfix stored (its own Received and Return-Path on top).
  const server = { host: '127.0.0.1', port: knot.port };
  assert.deepEqual((await dkimpyVerify(stored, server)).map((r) => [r.a, r.ok]), [['rsa-sha256', true], ['ed25519-sha256', true]]);
  assert.deepEqual((await mailauthVerify(stored, server)).map((r) => [r.a, r.result]), [['rsa-sha256', 'pass'], ['ed25519-sha256', 'pass']]);
  assert.match(postfix.log(), /to=<bob@example\.net>.*status=sent/);
  // bob and dave went in one transaction (one queue id for both in Postfix's log).
  const qid = (rcpt: string) => new RegExp(`postfix/\\S+\\[\\d+\\]: ([0-9A-F]+): to=<${rcpt}>`).exec(postfix.log())?.[1];
  assert.ok(qid('bob@example.net'));
  assert.equal(qid('bob@example.net'), qid('dave@example.net'));

  // The DSN for nobody@example.net reaches alice's mailbox with the null sender.
  await eventually(() => (find('alice@out.test', 'nobody@example.net').length === 1 ? true : undefined), 60000, 'the DSN in alice\'s mailbox');
  const dsn = crlf(find('alice@out.test', 'nobody@example.net')[0]!.data).toString('latin1');
  assert.match(dsn, /^Return-Path: <>\r$/m, 'sent with the null sender');
  assert.match(dsn, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(dsn, /^Reporting-MTA: dns; egress\.out\.test\r$/m);
  assert.match(dsn, /^Final-Recipient: rfc822; nobody@example\.net\r$/m);
  assert.match(dsn, /^Action: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx2\.example\.net\r$/m);
  assert.match(dsn, /^Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@example\.net>/m);
  assert.match(dsn, /^Content-Type: text\/rfc822-headers/m);
  assert.ok(!dsn.includes('Final-Recipient: rfc822; bob@example.net'), 'delivered recipients are not reported');
  const log = await logEntries(sent.id!);
  assert.deepEqual(log.map((s) => `${s.recipient}:${s.status}`).sort(), ['bob@example.net:delivered', 'dave@example.net:delivered', 'nobody@example.net:bounced']);
  assert.match(log.find((s) => s.recipient === 'bob@example.net')!.nextHop, /^smtp:\/\/mx2\.example\.net\[127\.0\.0\.1\]:/, 'the second MX, after the first refused');
});

test('MTA-STS enforce with an MX outside the policy: nothing delivered, the job waits on the retry topics', { skip, timeout: 60000 }, async () => {
  const sent = await submit(['carol@sts.test'], 'sts', 'must not travel');
  assert.equal(sent.code, 0, sent.out);
  // Attempt 2 goes to the second retry topic (EGRESS_RETRY_DELAYS 1,2,2 s).
  const job = await eventually(async () => (await jobs(pipe.topics.deliveryRetry2)).find((j) => j.record.envelope.id === sent.id && j.attempt >= 2), 45000, 'the job retried twice');
  assert.equal(job!.origin, 'outbound');
  assert.match(job!.lastError!, /carol@sts\.test: 451 4\.7\.5 MTA-STS policy of sts\.test \(mode enforce, mx mx\.elsewhere\.test\) names none of its MX hosts \(mx\.sts\.test\)/);
  assert.ok(policies.requests.includes('mta-sts.sts.test/.well-known/mta-sts.txt'), 'the policy was fetched over HTTPS');
  assert.equal(policies.requests.length, 1, 'and then cached');
  assert.equal(find('carol@sts.test', 'must not travel').length, 0);
  assert.ok(!postfix.log().includes('carol@sts.test'), 'Postfix never saw the recipient');
});

test('a temporarily failing MX (Postfix down) is retried; the message arrives once it is back', { skip, timeout: 90000 }, async () => {
  await postfix.stop();
  const sent = await submit(['dave@example.net'], 'while down', 'retry me');
  assert.equal(sent.code, 0, sent.out);
  const job = await eventually(async () => (await jobs(pipe.topics.deliveryRetry1)).find((j) => j.record.envelope.id === sent.id), 45000, 'the job on the first retry topic');
  assert.match(job.lastError!, /ECONNREFUSED/);
  await postfix.restart();
  await eventually(() => (find('dave@example.net', sent.id!).length === 1 ? true : undefined), 45000, 'delivered after the restart');
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(find('dave@example.net', sent.id!).length, 1, 'exactly once');
  const [status] = await logEntries(sent.id!);
  assert.equal(status?.status, 'delivered');
  assert.ok(status!.attempts >= 2);
  const records = await readTopic(pipe.svc.kafka, pipe.topics.outboundSigned, 1, { settleMs: 0 });
  assert.ok((await Promise.all(records.map((m) => pipe.svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord')))).some((r) => r.envelope.id === sent.id && r.dkimSign), 'it went through the signing stage');
});
