/** The feedback hook on a real broker: only a valid token writes a label, with the token's name as source; bad input is refused. */
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readTopic, testBroker } from '../../../runtime/stage-testing.ts';
import { uniqueName } from '../../../runtime/testing.ts';
import type { SpamFeedback } from '../../../schemas/types.ts';
import { addHookToken, startFeedbackHook, tokenName, type FeedbackHook } from './hook.ts';

describe('spam learner feedback hook', () => {
  const { svc, admin } = testBroker('spam-hook');
  const topic = uniqueName('spam-feedback');
  const file = join(mkdtempSync(join(tmpdir(), 'spam-hook-')), 'hook.tokens');
  let hook: FeedbackHook;
  let token: string;

  before(async () => {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    token = addHookToken(file, 'imap');
    addHookToken(file, 'other');
    hook = await startFeedbackHook({ kafka: svc.kafka, codec: svc.codec, log: svc.log, host: '127.0.0.1', port: 0, tokensFile: file, feedbackTopic: topic });
  });
  after(() => hook.close());

  const post = (body: string, auth: string | null = `Bearer ${token}`, path = '/feedback') =>
    fetch(`http://${hook.address}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) } });

  it('keeps only hashes of the tokens, in a private file, and finds a token\'s name', () => {
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(tokenName(new Map([['x', 'ab']]), token), null);
    assert.throws(() => addHookToken(file, 'Bad Name'), /lower-case/);
  });

  it('refuses a missing or wrong token, a bad body, a huge body and other paths', async () => {
    assert.equal((await post('{}', null)).status, 401);
    assert.equal((await post('{}', 'Bearer nope')).status, 401);
    assert.equal((await post('{"recordId":"r1","label":"maybe"}')).status, 400);
    assert.equal((await post('{"recordId":"a\\"b","label":"spam"}')).status, 400);
    assert.equal((await post('not json')).status, 400);
    assert.equal((await post(JSON.stringify({ recordId: 'r1', label: 'spam', messageId: 'x'.repeat(5000) }))).status, 413);
    assert.equal((await post('{}', undefined, '/other')).status, 404);
  });

  it('writes the label with source <token name>:<user>', async () => {
    const res = await post(JSON.stringify({ recordId: 'rec-1', label: 'spam', user: 'bob@example.net' }));
    assert.equal(res.status, 202);
    const [m] = await readTopic(svc.kafka, topic, 1);
    assert.equal(m!.key, 'rec-1');
    const fb = await svc.codec.decodeAs<SpamFeedback>(m!.value, 'SpamFeedback');
    assert.deepEqual([fb.recordId, fb.label, fb.source], ['rec-1', 'spam', 'imap:bob@example.net']);
  });
});
