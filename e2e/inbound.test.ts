/**
 * The inbound path end to end on the real stack: swaks → ingress → mime → auth → spam → firewall →
 * decision → egress relay → a real Postfix (a private instance on loopback) as the next hop.
 *
 *  - clean (corpus ham, SPF pass)           → delivered to Postfix with Received, X-Spam-*, Authentication-Results
 *  - DMARC p=reject failure                 → not delivered; held on the quarantine topic as `reject` with the reason
 *  - corpus spam                            → quarantined
 *  - dangerous attachment (.pdf.exe)        → quarantined (held)
 *  - a burst of spam from one /24           → the prefix is blocked; the next connection from it gets 554 at connect
 *  - next hop down                          → retries; after Postfix is back every message arrives exactly once
 *  - the policy file decides                → `scop explain` shows the symbols of the delivered and the held
 *                                             messages; BAYES_SPAM's weight lowered in the file (no restart),
 *                                             the spam message replayed through the decision → junk, explained
 *
 * Client addresses vary with swaks --local-interface 127.x.y.z (all of 127/8 is loopback on Linux).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { loadSpamAssassin, type CorpusMessage } from '../corpus/spam-assassin/index.ts';
import { parseMime } from '../processors/mime/parse.ts';
import { loadDefaultModel } from '../processors/spam/default-model.ts';
import { BayesModel } from '../processors/spam/model.ts';
import { scoreRecord } from '../processors/spam/scorer.ts';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { produce, readTopic, testMailRecord } from '../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import type { Block, DeliveryStatus, MailRecord } from '../schemas/types.ts';
import { PolicyDocument } from '../runtime/policy-file.ts';
import { buildPolicy } from '../processors/decision/policy.ts';
import { startPipeline, type Pipeline } from './pipeline.ts';
import { PrivatePostfix } from './postfix.ts';
import { SYMBOL_CATALOG } from '../cli/services.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const skip = !PrivatePostfix.available() ? 'needs root and the Debian postfix package (infra/debian-packages.txt)' : !existsSync('/usr/bin/swaks') ? 'needs swaks' : false;

const dir = join(ROOT, '.data', 'e2e', uniqueName('inbound'));
/** The decision's policy file: empty (the built-in policy) until the policy test changes it. */
const policyFile = join(dir, 'policy.yaml');
/** Record ids of the first test's messages, for the policy test. */
let firstIds: Record<'clean' | 'dmarc' | 'spam' | 'attachment', string> | undefined;
const dns = new TestDnsServer();
let postfix: PrivatePostfix;
let pipe: Pipeline;

/**
 * Corpus messages the shipped model is sure about (the auth tokens the real pipeline adds cannot move
 * them): ham below half its ham cutoff, spam past the middle of the gap above its spam cutoff. Relative
 * to the cutoffs, because the model's probabilities are calibrated on other corpora and rarely extreme.
 */
async function pick(label: 'ham' | 'spam', n: number, exclude = new Set<string>()): Promise<CorpusMessage[]> {
  const data = loadDefaultModel()!;
  const active = { model: BayesModel.fromData(data), version: data.version };
  const { ham: hamCut, spam: spamCut } = data.thresholds;
  const out: CorpusMessage[] = [];
  for (const m of loadSpamAssassin()) {
    if (m.label !== label || exclude.has(m.id) || m.raw.length > 20000 || /^Content-Type:\s*multipart/im.test(m.raw.toString('latin1').split('\r\n\r\n')[0]!)) continue;
    const record = testMailRecord(m.raw);
    const spam = scoreRecord({ ...record, mime: await parseMime(m.raw) }, active);
    if (label === 'ham' ? spam.probability < hamCut / 2 : spam.probability > spamCut + (1 - spamCut) / 2) out.push(m);
    if (out.length === n) break;
  }
  assert.equal(out.length, n, `${n} clear ${label} messages in the corpus`);
  return out;
}

/** swaks from a given loopback address; resolves with its transcript and exit code (never throws). */
async function swaks(from: string, to: string, data: Buffer, clientIp: string): Promise<{ code: number; out: string }> {
  const file = join(dir, `${uniqueName('msg')}.eml`);
  writeFileSync(file, data);
  try {
    const r = await run('swaks', ['--server', '127.0.0.1', '--port', String(pipe.mxPort), '--local-interface', clientIp, '--helo', 'client.e2e.test', '--from', from, '--to', to, '--data', `@${file}`, '--timeout', '30'], { maxBuffer: 10 * 1024 * 1024 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: `${x.stdout}${x.stderr}` };
  }
}

const recordIdOf = (out: string) => /250[ -](?:2\.0\.0 )?.*?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(out)?.[1];

const withMessageId = (raw: Buffer, id: string) => {
  const s = raw.toString('latin1').replace(/^Message-ID:[^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n/im, '');
  return Buffer.from(`Message-ID: <${id}>\r\n${s}`, 'latin1');
};

before(async () => {
  if (skip) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(policyFile, '# the built-in policy (processors/decision/default-policy.yaml) until a test changes this file\n');
  await dns.start();
  dns.add('good.test', { type: 'TXT', data: 'v=spf1 ip4:127.0.0.0/8 -all' });
  dns.add('_dmarc.good.test', { type: 'TXT', data: 'v=DMARC1; p=none' });
  dns.add('_dmarc.bank.test', { type: 'TXT', data: 'v=DMARC1; p=reject' });
  dns.add('bank.test', { type: 'TXT', data: 'v=spf1 ip4:192.0.2.0/24 -all' });
  postfix = new PrivatePostfix({ dir: join(dir, 'postfix'), mailboxes: ['bob@example.net', 'carol@example.net'] });
  await postfix.start();
  pipe = await startPipeline({
    name: 'e2e', dataDir: join(dir, 'scop'),
    env: {
      DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '500', DNS_RETRIES: '0', AUTH_SERVID: 'mx.e2e.scop.test',
      EGRESS_NEXT_HOP: `smtp://127.0.0.1:${postfix.port}`, EGRESS_HOSTNAME: 'egress.e2e.scop.test', EGRESS_RETRY_DELAYS: '2,3,3', EGRESS_MAX_ATTEMPTS: '30', EGRESS_STARTTLS: 'off',
      FIREWALL_BLOCK_SCORE: '4', FIREWALL_BLOCK_MIN_MESSAGES: '4', FIREWALL_BLOCK_SECONDS: '600',
      SCOP_POLICY_FILE: policyFile, DECISION_POLICY_POLL_MS: '200',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
  });
});

after(async () => {
  if (skip) return;
  await pipe?.stop();
  await postfix?.stop();
  await dns.stop();
  if (!process.env.KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

async function decided(ids: string[]): Promise<Map<string, MailRecord>> {
  const got = new Map<string, MailRecord>();
  const msgs = await readTopic(pipe.svc.kafka, pipe.topics.inboundDecided, ids.length, { settleMs: 0, timeoutMs: 90000 }).catch(() => []);
  for (const m of msgs) {
    const r = await pipe.svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord');
    if (ids.includes(r.envelope.id)) got.set(r.envelope.id, r);
  }
  return got;
}

test('inbound end to end: delivered to Postfix with verdict headers, DMARC reject / spam / dangerous attachment held, spam burst blocked at connect', { skip, timeout: 300000 }, async () => {
  const [ham] = await pick('ham', 1);
  const spams = await pick('spam', 7);
  const clean = withMessageId(ham!.raw, 'clean@e2e');
  const dmarc = Buffer.from('From: CEO <ceo@bank.test>\r\nTo: bob@example.net\r\nSubject: wire transfer\r\nMessage-ID: <dmarc@e2e>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nPlease pay the invoice today.\r\n');
  const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200, 0x90)]).toString('base64');
  const attachment = Buffer.from([
    'From: Alice <alice@good.test>', 'To: bob@example.net', 'Subject: your invoice', 'Message-ID: <attach@e2e>', 'Date: Mon, 1 Jan 2024 10:00:00 +0000',
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'Invoice attached.', '--b1',
    'Content-Type: application/octet-stream; name="invoice.pdf.exe"', 'Content-Disposition: attachment; filename="invoice.pdf.exe"', 'Content-Transfer-Encoding: base64', '', exe, '--b1--', '',
  ].join('\r\n'));

  const sent = {
    clean: await swaks('alice@good.test', 'bob@example.net', clean, '127.0.1.10'),
    dmarc: await swaks('x@other.test', 'bob@example.net', dmarc, '127.0.2.11'),
    spam: await swaks('promo@spam.test', 'bob@example.net', withMessageId(spams[0]!.raw, 'spam@e2e'), '127.0.3.12'),
    attachment: await swaks('alice@good.test', 'bob@example.net', attachment, '127.0.4.13'),
  };
  for (const [k, r] of Object.entries(sent)) assert.equal(r.code, 0, `${k} accepted by the ingress:\n${r.out}`);
  const ids = Object.fromEntries(Object.entries(sent).map(([k, r]) => [k, recordIdOf(r.out)!])) as Record<keyof typeof sent, string>;
  for (const [k, id] of Object.entries(ids)) assert.ok(id, `record id in the 250 reply for ${k}`);
  firstIds = ids;

  // Every message is decided.
  let d = new Map<string, MailRecord>();
  await eventually(async () => ((d = await decided(Object.values(ids))).size === 4 ? true : undefined), 120000, 'four decisions');
  const action = (k: keyof typeof ids) => d.get(ids[k])!.decision!;
  assert.equal(action('clean').action, 'deliver', JSON.stringify(action('clean')));
  assert.equal(action('dmarc').action, 'reject');
  // Reasons name the symbols (issue 16): the deciding rule first, then every symbol that added to the score.
  assert.match(action('dmarc').reasons[0]!, /^reject: forced by dmarc-reject \(DMARC_POLICY_REJECT\{bank\.test\}\)/);
  assert.equal(action('spam').action, 'quarantine');
  assert.match(action('spam').reasons.join('\n'), /^BAYES_SPAM\{[0-9.]+\} \+20$/m);
  assert.equal(action('attachment').action, 'quarantine');
  assert.match(action('attachment').reasons[0]!, /^quarantine: score \d+ >= 20 \(quarantine\)/);
  assert.match(action('attachment').reasons.join('\n'), /^MIME_DOUBLE_EXTENSION\{invoice\.pdf\.exe\} \+20$/m);
  for (const k of Object.keys(ids) as (keyof typeof ids)[]) assert.equal(action(k).policyVersion, buildPolicy(null, SYMBOL_CATALOG).version, `${k}: decided by the built-in policy`);

  // The clean one arrives at Postfix, with our headers above the untouched message.
  await eventually(() => (postfix.mailbox('bob@example.net').some((m) => m.data.includes('clean@e2e')) ? true : undefined), 60000, 'the clean message in the Postfix mailbox');
  const got = postfix.mailbox('bob@example.net');
  assert.equal(got.length, 1, 'only the clean message was delivered');
  const text = got[0]!.data.toString('latin1');
  const head = text.slice(0, text.indexOf('\n\n') > 0 ? text.indexOf('\n\n') : text.length);
  assert.match(head, /^Received: by egress\.e2e\.scop\.test \(scop egress\) with ESMTP id /m);
  assert.match(head, /^Authentication-Results: mx\.e2e\.scop\.test;/m);
  assert.match(head, /spf=pass/);
  assert.match(head, /^X-Spam-Flag: NO$/m);
  assert.match(head, /^X-Spam-Status: No, verdict=ham/m);
  assert.match(head, /^X-Scop-Decision: deliver$/m);
  assert.match(head, /^Received: from client\.e2e\.test/m, 'the ingress trace header is kept');
  // Postfix stores LF line ends; the client's body arrives byte for byte otherwise.
  const bodyIn = ham!.raw.toString('latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n').replace(/\r\n/g, '\n');
  assert.ok(text.includes(bodyIn.slice(0, 2000)), 'body unchanged');

  // The three held messages are on the quarantine topic, with their reasons.
  const held = await readTopic(pipe.svc.kafka, pipe.topics.quarantine, 3, { settleMs: 300 });
  const heldIds = held.map((m) => m.key).sort();
  assert.deepEqual(heldIds, [ids.dmarc, ids.spam, ids.attachment].sort());

  // A burst of spam from 127.0.66.0/24: the firewall blocks the prefix, the ingress refuses the next connection.
  for (let i = 1; i < spams.length; i++) {
    const r = await swaks('promo@spam.test', 'bob@example.net', spams[i]!.raw, `127.0.66.${i}`);
    if (r.code !== 0) break; // blocked already
  }
  const [blockMsg] = await readTopic(pipe.svc.kafka, pipe.topics.blocklist, 1, { settleMs: 0, timeoutMs: 90000 });
  const block = await pipe.svc.codec.decodeAs<Block>(blockMsg!.value, 'Block');
  assert.equal(block.prefix, '127.0.66.0/24');
  assert.ok(block.expiresAt! > Date.now());
  await eventually(() => (pipe.ingress.blocklist.match('127.0.66.200') ? true : undefined), 30000, 'the ingress applies the block');
  const refused = await swaks('promo@spam.test', 'bob@example.net', spams[1]!.raw, '127.0.66.200');
  assert.notEqual(refused.code, 0);
  assert.match(refused.out, /<\*\* 554/, 'refused with 554 at connect');
  const other = await swaks('alice@good.test', 'carol@example.net', withMessageId(clean, 'other-prefix@e2e'), '127.0.7.7');
  assert.equal(other.code, 0, 'other prefixes are still accepted');
  const alerts = await readTopic(pipe.svc.kafka, pipe.topics.alerts, 1, { settleMs: 0 });
  assert.ok(alerts.some((m) => m.key === 'block|127.0.66.0/24'), 'an alert for the block');
  assert.equal((await readTopic(pipe.svc.kafka, pipe.topics.deadLetters, 0, { settleMs: 200 })).length, 0, 'no stage dead-lettered anything');
});

/** `scop explain` as an operator runs it (a child process: the pipeline in this process keeps running). */
async function explainCli(id: string, ...args: string[]): Promise<string> {
  const r = await run(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'explain', id, '--topic', pipe.topics.inboundDecided, ...args], { cwd: ROOT, maxBuffer: 10 * 1024 * 1024 });
  return r.stdout;
}

test('the policy file decides: explain shows each message\'s symbols; a lower weight in the file, a replay through the decision → junk', { skip, timeout: 300000 }, async () => {
  assert.ok(firstIds, 'the first test ran');
  const clean = await explainCli(firstIds.clean);
  assert.match(clean, /^action: +deliver$/m);
  assert.match(clean, /^ +\+0\.00 +SPF_PASS +auth +\{good\.test\} +group=auth$/m);
  assert.match(clean, /^ +\+0\.00 +BAYES_HAM +spam /m);
  const attachment = await explainCli(firstIds.attachment);
  assert.match(attachment, /^action: +quarantine$/m);
  assert.match(attachment, /^score: +\d+\.00 +thresholds: junk 6\.00, quarantine 20\.00$/m);
  assert.match(attachment, /^ +\+20\.00 +MIME_DOUBLE_EXTENSION +mime +\{invoice\.pdf\.exe\} +group=attachments$/m);
  const dmarc = await explainCli(firstIds.dmarc);
  assert.match(dmarc, /^action: +reject +\(forced by dmarc-reject\)$/m);

  // BAYES_SPAM weighs 6 from now on: the running decision stage picks the file up without a restart.
  writeFileSync(policyFile, 'symbols:\n  BAYES_SPAM: { weight: 6 }\n');
  const version = buildPolicy(PolicyDocument.read(policyFile), SYMBOL_CATALOG).version;
  // Replay: the spam message's screened record through the decision again, until the new policy decided it.
  // Fused (e2e/inbound-fused.test.ts), there is no screened topic: its raw record goes through the whole chain again.
  const replayTopic = process.env.SCOP_E2E_FUSED === '1' ? pipe.topics.inboundRaw : pipe.topics.inboundScreened;
  let record: MailRecord | undefined;
  for (const m of await readTopic(pipe.svc.kafka, replayTopic, 4, { settleMs: 500 })) {
    const r = await pipe.svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord');
    if (r.envelope.id === firstIds.spam) record = r;
  }
  assert.ok(record, `the spam message on ${replayTopic}`);
  let again: MailRecord | undefined;
  await eventually(async () => {
    await produce(pipe.svc.kafka, pipe.svc.codec, replayTopic, 'MailRecord', [{ record: record!, key: record!.envelope.id }]);
    const out = (await readTopic(pipe.svc.kafka, pipe.topics.inboundDecided, 1, { settleMs: 1500 })).filter((m) => m.key === record!.envelope.id);
    const all = await Promise.all(out.map((m) => pipe.svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord')));
    again = all.find((r) => r.decision?.policyVersion === version);
    return again;
  }, 60000, 'the spam message decided again with the changed policy');
  assert.equal(again!.decision!.action, 'junk', JSON.stringify(again!.decision));
  const junked = await explainCli(firstIds.spam);
  assert.match(junked, /^action: +junk$/m);
  assert.match(junked, new RegExp(`^policy: +${version}$`, 'm'));
  assert.match(junked, /^ +\+6\.00 +BAYES_SPAM +spam +\{[0-9.]+\} +score=[0-9.]+ group=bayes$/m);
  const json = JSON.parse(await explainCli(firstIds.spam, '--json')) as { decision: { action: string; policyVersion: string } };
  assert.deepEqual([json.decision.action, json.decision.policyVersion], ['junk', version]);
  // Junk is delivered, flagged.
  await eventually(() => (postfix.mailbox('bob@example.net').some((m) => m.data.includes('spam@e2e')) ? true : undefined), 60000, 'the junked message in the Postfix mailbox');
  const text = postfix.mailbox('bob@example.net').find((m) => m.data.includes('spam@e2e'))!.data.toString('latin1');
  assert.match(text, /^X-Spam-Flag: YES$/m);
  assert.match(text, /^X-Scop-Decision: junk; junk: score \d+ >= 6 \(junk\)/m);
});

test('next hop down: messages retry and arrive after it is back, none lost, none duplicated', { skip, timeout: 300000 }, async () => {
  await postfix.stop();
  const n = 5;
  const ids: string[] = [];
  const [ham] = await pick('ham', 1);
  for (let i = 0; i < n; i++) {
    const r = await swaks('alice@good.test', 'carol@example.net', withMessageId(ham!.raw, `down-${i}@e2e`), `127.0.8.${i + 1}`);
    assert.equal(r.code, 0, r.out);
    ids.push(recordIdOf(r.out)!);
  }
  // They fail at the next hop and wait on the retry topics.
  const retried = await readTopic(pipe.svc.kafka, pipe.topics.deliveryRetry1, n, { settleMs: 0, timeoutMs: 120000 });
  assert.ok(retried.length >= n);
  await postfix.restart();
  await eventually(() => (n === postfix.mailbox('carol@example.net').filter((m) => /down-\d@e2e/.test(m.data.toString('latin1'))).length ? true : undefined), 120000, `${n} messages in carol's mailbox`);
  await new Promise((r) => setTimeout(r, 5000)); // duplicates would show now
  const boxes = postfix.mailbox('carol@example.net').map((m) => /Message-ID: <(down-\d)@e2e>/i.exec(m.data.toString('latin1'))?.[1]).filter(Boolean);
  assert.deepEqual(boxes.sort(), Array.from({ length: n }, (_, i) => `down-${i}`), 'each exactly once');
  const log = await readTopic(pipe.svc.kafka, pipe.topics.deliveryLog, 1, { settleMs: 500 });
  const statuses = (await Promise.all(log.map((m) => pipe.svc.codec.decodeAs<DeliveryStatus>(m.value, 'DeliveryStatus')))).filter((s) => ids.includes(s.recordId));
  assert.equal(statuses.length, n);
  assert.ok(statuses.every((s) => s.status === 'delivered' && s.attempts >= 2), 'delivered after at least one retry');
});
