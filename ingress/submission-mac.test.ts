/**
 * The ingress seals what it writes for a logged-in user: the submission record carries a MAC the
 * DKIM signer can check (runtime/submission-mac.ts) with the key the ingress created under its
 * data folder on its first start (0600); a changed user, recipient or message fails it; MX records
 * carry none.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { loadSubmissionMacKey, submissionMacKeyFile, submissionMacProblem } from '../runtime/submission-mac.ts';
import { addUser } from './users.ts';
import { readRecords, startTestIngress, swaks, type TestIngress } from './testkit.ts';

let t: TestIngress;
before(async () => {
  t = await startTestIngress({ name: 'submission-mac' });
  await addUser(t.config.usersFile, 'alice@example.com', 'correct horse battery');
});
after(() => t.stop());

test('a submission record carries a MAC over its user, envelope and bytes; MX records none', { timeout: 60000 }, async () => {
  const sub = await swaks(['--server', `127.0.0.1:${t.ingress.ports.SUBMISSION}`, '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@example.com', '--auth-password', 'correct horse battery', '--from', 'alice@example.com', '--to', 'carol@example.org']);
  assert.equal(sub.code, 0, sub.out);
  const mx = await swaks(['--server', `127.0.0.1:${t.ingress.ports.MX}`, '--from', 'x@example.org', '--to', 'bob@example.net']);
  assert.equal(mx.code, 0, mx.out);

  const file = submissionMacKeyFile(undefined, t.dataDir);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'created by the ingress, readable by its user only');
  const key = loadSubmissionMacKey({ dataDir: t.dataDir, create: false });

  const [out] = await readRecords(t.kafka, t.codec, t.topics.outbound, (r) => r.some((x) => x.envelope.id === sub.recordId));
  const e = out!.envelope;
  assert.match(e.submissionMac ?? '', /^[0-9a-f]{64}$/);
  assert.equal(submissionMacProblem(key, e), null);
  for (const forged of [{ ...e, authUser: 'bob@example.com' }, { ...e, rcptTo: ['victim@example.net'] }, { ...e, mailFrom: 'ceo@example.com' }, { ...e, raw: Buffer.concat([e.raw, Buffer.from('x')]) }, { ...e, id: 'another' }]) {
    assert.match(submissionMacProblem(key, forged) ?? '', /does not match/);
  }
  const [inbound] = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.id === mx.recordId));
  assert.equal(inbound!.envelope.submissionMac, null);
});
