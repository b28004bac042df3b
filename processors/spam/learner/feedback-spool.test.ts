/**
 * The mailbox's pipe program (imap/scop-feedback) when the learner's hook is away: with `spool=` a
 * label is kept and sent once the hook is back (by the next move or `--flush`), without it the
 * label is reported lost; a message without a record id reports nothing. Against the real hook on
 * the test broker, the script run as Dovecot runs it (label, user, message on stdin).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { readTopic, testBroker } from '../../../runtime/stage-testing.ts';
import { uniqueName } from '../../../runtime/testing.ts';
import { freePort } from '../../../infra/ports.ts';
import type { SpamFeedback } from '../../../schemas/types.ts';
import { addHookToken, startFeedbackHook, type FeedbackHook } from './hook.ts';

const SCRIPT = fileURLToPath(new URL('./imap/scop-feedback', import.meta.url));
const message = (id: string | null) => `${id ? `X-Scop-Record-Id: ${id}\r\n` : ''}From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n`;

describe('scop-feedback spool (learner hook away)', { timeout: 120000 }, () => {
  const { svc, admin } = testBroker('spam-spool');
  const topic = uniqueName('spam-feedback');
  const dir = mkdtempSync(join(tmpdir(), 'scop-feedback-'));
  const tokens = join(dir, 'hook.tokens');
  const spool = join(dir, 'spool');
  let port: number;
  let hook: FeedbackHook | undefined;
  let token: string;

  const conf = (withSpool: boolean) => {
    const file = join(dir, withSpool ? 'spool.conf' : 'nospool.conf');
    writeFileSync(file, `url=http://127.0.0.1:${port}/feedback\ntoken=${token}\n${withSpool ? `spool=${spool}\n` : ''}`);
    return file;
  };
  // Asynchronous: the hook answers from this process's event loop.
  const run = (args: string[], stdin: string, withSpool = true) => new Promise<{ status: number | null; stderr: string }>((ok) => {
    const c = spawn('sh', [SCRIPT, ...args], { env: { ...process.env, SCOP_FEEDBACK_CONF: conf(withSpool) }, timeout: 30000 });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.stdout.resume();
    c.once('close', (status) => ok({ status, stderr }));
    c.stdin.end(stdin);
  });
  const spooled = () => readdirSync(spool).filter((f) => f.endsWith('.json'));
  const startHook = async () => { hook = await startFeedbackHook({ kafka: svc.kafka, codec: svc.codec, log: svc.log, host: '127.0.0.1', port, tokensFile: tokens, feedbackTopic: topic }); };

  before(async () => {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    token = addHookToken(tokens, 'imap');
    port = await freePort();
  });
  after(() => hook?.close());

  it('hook down: without a spool the label is reported lost (exit 75); with one it is kept', async () => {
    const lost = await run(['spam', 'bob@example.net'], message('rec-lost'), false);
    assert.equal(lost.status, 75, lost.stderr);
    assert.match(lost.stderr, /rec-lost.*lost/);
    const kept = await run(['spam', 'bob@example.net'], message('rec-1'), true);
    assert.equal(kept.status, 0, kept.stderr);
    assert.match(kept.stderr, /spooled/);
    assert.deepEqual(spooled().map((f) => JSON.parse(readFileSync(join(spool, f), 'utf8'))), [{ recordId: 'rec-1', label: 'spam', user: 'bob@example.net' }]);
    const second = await run(['ham', 'carol@example.net'], message('rec-2'), true);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(spooled().length, 2);
    const none = await run(['spam', 'bob@example.net'], message(null), true);
    assert.equal(none.status, 0);
    assert.equal(spooled().length, 2, 'a message without a record id is not spooled');
  });

  it('hook back: the next move sends its label and the spooled ones; --flush with nothing left is quiet', async () => {
    await startHook();
    const r = await run(['spam', 'dave@example.net'], message('rec-3'), true);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /sent 2 spooled/);
    assert.deepEqual(spooled(), []);
    const got = await readTopic(svc.kafka, topic, 3, { settleMs: 1000 });
    const labels = await Promise.all(got.map((m) => svc.codec.decodeAs<SpamFeedback>(m.value, 'SpamFeedback')));
    assert.deepEqual(labels.map((l) => [l.recordId, l.label, l.source]).sort(), [
      ['rec-1', 'spam', 'imap:bob@example.net'], ['rec-2', 'ham', 'imap:carol@example.net'], ['rec-3', 'spam', 'imap:dave@example.net'],
    ]);
    const f = await run(['--flush'], '', true);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(f.stderr, '');
  });

  it('--flush sends what a later outage spooled, and stops at the first refusal', async () => {
    await hook!.close();
    hook = undefined;
    assert.equal((await run(['spam', 'erin@example.net'], message('rec-4'), true)).status, 0);
    assert.equal((await run(['--flush'], '', true)).status, 0);
    assert.equal(spooled().length, 1, 'still away: kept');
    await startHook();
    const f = await run(['--flush'], '', true);
    assert.equal(f.status, 0, f.stderr);
    assert.deepEqual(spooled(), []);
    const got = await readTopic(svc.kafka, topic, 4, { settleMs: 500 });
    assert.equal(got.filter((m) => m.key === 'rec-4').length, 1);
  });
});
