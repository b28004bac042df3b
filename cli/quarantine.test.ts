/** `scop quarantine` and `scop firewall` operations on the real broker (unique topics), and their argument errors. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { produce, readTopic, testBroker, testDecision, testMailRecord } from '../runtime/stage-testing.ts';
import { uniqueName } from '../runtime/testing.ts';
import { topicConfig, type TopicSpec } from '../runtime/topics.ts';
import type { DeliveryJob, MailRecord } from '../schemas/types.ts';
import { listBlocks, normalizePrefix, writeBlock } from '../runtime/operator/blocklist.ts';
import { deleteHeld, listHeld, markHeld, releaseHeld, type QuarantineTopics } from '../runtime/operator/quarantine.ts';
import { Command } from 'commander';
import { heldDetails, registerQuarantineCommands } from './quarantine.ts';
import { registerFirewallCommands } from './firewall.ts';

const { svc, admin } = testBroker('quarantine-cli-test');

async function topics(spec: Record<string, 'delete' | 'compact'>): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  for (const k of Object.keys(spec)) names[k] = uniqueName(`qcli-${k}`);
  await admin.createTopics({ waitForLeaders: true, topics: Object.entries(spec).map(([k, cleanup]) => ({ topic: names[k]!, numPartitions: 2, replicationFactor: 1, configEntries: Object.entries(topicConfig({ cleanup } as TopicSpec)).map(([name, value]) => ({ name, value })) })) });
  return names;
}

test('quarantine: list, mark (spam.feedback), release (to the delivery requests, then gone), delete', { timeout: 60000 }, async () => {
  const t = await topics({ quarantine: 'compact', requests: 'delete', feedback: 'compact' }) as unknown as QuarantineTopics;
  const held = (subject: string, action: 'quarantine' | 'reject', receivedAt: number): MailRecord => ({
    ...testMailRecord(`Subject: ${subject}\r\nMessage-ID: <${subject}@x>\r\n\r\nbody\r\n`, { rcptTo: ['bob@example.net'], receivedAt }),
    decision: testDecision(action, [`${action}: test`]),
  });
  const a = held('first', 'quarantine', Date.now() - 1000);
  const b = held('second', 'reject', Date.now());
  await produce(svc.kafka, svc.codec, t.quarantine, 'MailRecord', [{ record: a, key: a.envelope.id }, { record: b, key: b.envelope.id }]);
  const list = await listHeld(svc.kafka, svc.codec, t);
  assert.deepEqual(list.map((h) => [h.subject, h.record.decision!.action]), [['first', 'quarantine'], ['second', 'reject']]);
  assert.equal(list[0]!.messageId, '<first@x>');

  await markHeld(svc.kafka, svc.codec, t, list[0]!, 'ham', 'tester');
  await releaseHeld(svc.kafka, svc.codec, t, list[0]!, 'tester');
  await deleteHeld(svc.kafka, t, list[1]!);
  assert.deepEqual(await listHeld(svc.kafka, svc.codec, t), [], 'released and deleted messages are gone');
  const [req] = await readTopic(svc.kafka, t.requests, 1, { settleMs: 200 });
  const job = await svc.codec.decodeAs<DeliveryJob>(req!.value, 'DeliveryJob');
  assert.deepEqual([job.record.envelope.id, job.recipients, job.attempt], [a.envelope.id, ['bob@example.net'], 0]);
  assert.match(job.origin, /^release:/);
  assert.deepEqual(job.record.envelope.raw, a.envelope.raw);
  const [fb] = await readTopic(svc.kafka, t.feedback, 1, { settleMs: 200 });
  const label = await svc.codec.decodeAs<{ recordId: string; label: string; messageId: string | null }>(fb!.value, 'SpamFeedback');
  assert.deepEqual([label.recordId, label.label, label.messageId], [a.envelope.id, 'ham', '<first@x>']);
});

test('firewall: prefixes normalized; block, list, unblock', { timeout: 60000 }, async () => {
  assert.equal(normalizePrefix('203.0.113.77/24'), '203.0.113.0/24');
  assert.equal(normalizePrefix('203.0.113.7'), '203.0.113.7/32');
  assert.equal(normalizePrefix('2001:db8:0:1:ffff::1/64'), '2001:db8:0:1::/64');
  assert.throws(() => normalizePrefix('203.0.113.0/33'), /not an IP address or CIDR prefix/);
  const { blocks } = await topics({ blocks: 'compact' });
  await writeBlock(svc.kafka, svc.codec, '203.0.113.0/24', { prefix: '203.0.113.0/24', reason: 'test', createdAt: Date.now(), expiresAt: null, source: 'operator:t' }, blocks);
  await writeBlock(svc.kafka, svc.codec, '198.51.100.0/24', { prefix: '198.51.100.0/24', reason: 'test', createdAt: Date.now(), expiresAt: Date.now() + 60000, source: 'operator:t' }, blocks);
  assert.deepEqual((await listBlocks(svc.kafka, svc.codec, blocks)).map((b) => b.prefix), ['203.0.113.0/24', '198.51.100.0/24']);
  await writeBlock(svc.kafka, svc.codec, '203.0.113.0/24', null, blocks);
  assert.deepEqual((await listBlocks(svc.kafka, svc.codec, blocks)).map((b) => b.prefix), ['198.51.100.0/24']);
});

test('the CLI refuses a bad prefix or label with one line and exit 2', { timeout: 60000 }, async () => {
  const run = promisify(execFile);
  for (const args of [['firewall', 'block', '300.1.2.3'], ['quarantine', 'mark', 'abc', 'maybe']]) {
    const r = await run('node', ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: new URL('..', import.meta.url).pathname }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr.trim(), /^config error: (prefix|--mark): /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

/** Runs `scop <args>` in this process (the real command definitions) and returns what it printed. */
async function cliOutput(register: (p: Command) => void, args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  register(program);
  const lines: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  console.error = () => {};
  try {
    await program.parseAsync(['node', 'scop', ...args]);
  } finally {
    console.log = log;
    console.error = error;
  }
  return lines.join('\n');
}

// What a terminal acts on: C0 except the line breaks between output lines, DEL, C1, bidi/invisible format marks.
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

test('quarantine list / list --json / show and firewall list print message data without terminal controls', { timeout: 60000 }, async () => {
  const t = await topics({ quarantine: 'compact', requests: 'delete', feedback: 'compact', blocks: 'compact' });
  const hostile = testMailRecord(Buffer.from('From: "Bank \u001b[31mSecurity\u001b[0m" <sec@bank.example>\r\nSubject: \u001b]0;pwned\u0007 urgent \u001b[2J\u009b31m \u202Etxt.exe\r\nX-Note: a\r\n\tb\u001b[1m\r\n\r\nbody\r\n', 'utf8'), { rcptTo: ['bob@example.net'], mailFrom: 'x\u001b[8m@evil.example' });
  hostile.decision = testDecision('quarantine', ['reason with \u001b[5mblink']);
  await produce(svc.kafka, svc.codec, t.quarantine!, 'MailRecord', [{ record: hostile, key: hostile.envelope.id }]);
  const qt = { quarantine: t.quarantine!, requests: t.requests!, feedback: t.feedback! };
  const outputs = {
    list: await cliOutput((p) => registerQuarantineCommands(p, qt), ['quarantine', 'list']),
    json: await cliOutput((p) => registerQuarantineCommands(p, qt), ['quarantine', 'list', '--json']),
    show: await cliOutput((p) => registerQuarantineCommands(p, qt), ['quarantine', 'show', hostile.envelope.id]),
  };
  for (const [name, out] of Object.entries(outputs)) {
    assert.doesNotMatch(out, ACTIVE, `${name}: ${JSON.stringify(out)}`);
    assert.match(out, /\\(x1b|u001b)\]0;pwned/, `${name} shows the escape, visibly`);
  }
  assert.match(outputs.show, /^from: +"Bank \\x1b\[31mSecurity/m);
  assert.match(outputs.show, /^subject: .*\\u\{202e\}txt\.exe/m);
  assert.match(outputs.show, /^X-Note: a\\tb\\x1b\[1m$/m, 'a folded field is one line');
  assert.equal((JSON.parse(outputs.json) as { subject: string }).subject, '\u001b]0;pwned\u0007 urgent \u001b[2J\u009b31m \u202Etxt.exe', 'the JSON value is intact');

  await writeBlock(svc.kafka, svc.codec, '203.0.113.0/24', { prefix: '203.0.113.0/24', reason: 'spam from \u001b[31mevil.example', createdAt: Date.now(), expiresAt: null, source: 'firewall\u202E' }, t.blocks);
  for (const args of [['firewall', 'list'], ['firewall', 'list', '--json']]) {
    const out = await cliOutput((p) => registerFirewallCommands(p, t.blocks), args);
    assert.doesNotMatch(out, ACTIVE, `${args.join(' ')}: ${JSON.stringify(out)}`);
    assert.match(out, /evil\.example/);
  }
});

test('quarantine show: the client\'s reverse name with whether the ingress forward-confirmed it', () => {
  const received = (over: Partial<MailRecord['envelope']>) => heldDetails({ record: { ...testMailRecord('Subject: x\r\n\r\nbody\r\n', { clientIp: '198.51.100.7', helo: 'mx.example.org', ...over }), decision: testDecision('quarantine', ['quarantine: test']) }, subject: 'x', messageId: null }).split('\n')[1];
  assert.match(received({ clientHostname: 'mx.example.org', clientHostnameConfirmed: true })!, /from 198\.51\.100\.7 \(mx\.example\.org, confirmed\) helo mx\.example\.org$/);
  assert.match(received({ clientHostname: 'mail.bank.example', clientHostnameConfirmed: false })!, /\(mail\.bank\.example, not forward-confirmed\)/);
  assert.match(received({ clientHostname: 'mx.example.org', clientHostnameConfirmed: null })!, /\(mx\.example\.org, not checked\)/);
  assert.match(received({ clientHostname: null })!, /from 198\.51\.100\.7 \(no rDNS\) helo/);
  // The name is the client's claim: printed through printable(), never as terminal control sequences.
  assert.match(received({ clientHostname: 'evil\u001b[2J.example', clientHostnameConfirmed: false })!, /\(evil\S*\[2J\.example, not forward-confirmed\)/);
  assert.doesNotMatch(received({ clientHostname: 'evil\u001b[2J.example', clientHostnameConfirmed: false })!, /\u001b/);
});
