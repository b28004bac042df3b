/**
 * The console's model list reads what it shows from each record's summary header, so listing the
 * history does not decode whole models; a record published before the header existed is decoded.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { encodeSignedModelRecord, MODEL_KEY, MODEL_SUMMARY_HEADER, modelSummaryOf, publishModelRecord } from '../runtime/operator/spam-model.ts';
import { testBroker, testSpamModel } from '../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import { SpamLoopView } from './models.ts';
import { sendAll } from '../runtime/operator/send.ts';

describe('console: spam model list', { timeout: 120000 }, () => {
  const { svc, admin } = testBroker('console-models');

  it('modelSummaryOf: only a well-formed summary counts', () => {
    const ok = { version: 'bayes-1', trainedAt: 5, source: 's', nham: 1, nspam: 2, tokens: 3, tokenizerVersion: 'tok-4' };
    assert.deepEqual(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: Buffer.from(JSON.stringify(ok)) }), ok);
    assert.equal(modelSummaryOf({}), null);
    assert.equal(modelSummaryOf(undefined), null);
    assert.equal(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: Buffer.from('not json') }), null);
    assert.equal(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: Buffer.from(JSON.stringify({ ...ok, nham: -1 })) }), null);
    assert.equal(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: Buffer.from(JSON.stringify({ ...ok, version: '' })) }), null);
    assert.equal(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: Buffer.from(' '.repeat(5000)) }), null);
    assert.deepEqual(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: [JSON.stringify({ ...ok, extra: 'x'.repeat(10) })] }), ok, 'unknown fields are dropped');
  });

  it('modelSummaryOf: says why a header that is there is not used (the field and the problem)', () => {
    const ok = { version: 'bayes-1', trainedAt: 5, source: 's', nham: 1, nspam: 2, tokens: 3, tokenizerVersion: 'tok-4' };
    const why = (value: string) => {
      const heard: string[] = [];
      assert.equal(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: Buffer.from(value) }, (p) => heard.push(p)), null, value.slice(0, 40));
      assert.equal(heard.length, 1, 'one problem');
      return heard[0]!;
    };
    assert.match(why(JSON.stringify({ ...ok, nham: -1 })), /^scop-model-summary: nham: .*greater than or equal to 0/);
    assert.match(why(JSON.stringify({ ...ok, version: '' })), /^scop-model-summary: version: /);
    assert.match(why(JSON.stringify({ ...ok, tokens: 'many' })), /^scop-model-summary: tokens: Expected number, received string/);
    assert.match(why('not json'), /^scop-model-summary: not JSON/);
    assert.match(why(' '.repeat(5000)), /5000 characters, more than 4096/);
    let heard = 0;
    assert.deepEqual(modelSummaryOf({ [MODEL_SUMMARY_HEADER]: JSON.stringify(ok) }, () => heard++), ok);
    assert.equal(modelSummaryOf({}, () => heard++), null);
    assert.equal(heard, 0, 'a good or absent header is no problem');
  });

  it('lists every version, decoding only records without the summary header; per-domain residuals are not versions, their history versions are listed per domain', async () => {
    const model = uniqueName('spam-model');
    const history = uniqueName('spam-model-history');
    const feedback = uniqueName('spam-feedback');
    await admin.createTopics({ waitForLeaders: true, topics: [model, history, feedback].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })) });
    const key = generateKeyPairSync('ed25519');
    // Models as the spam stage publishes them (schemas/spam-model.avsc), one more token each.
    const data = (n: number) => testSpamModel({ version: `bayes-test-${n}`, source: `test-${n}`, trainedAt: 1_700_000_000_000 + n, tokens: Array.from({ length: n / 10 + 1 }, (_, i): [string, number, number] => [`w${i}`, i, n]) });
    const [v1, v2] = [data(10), data(20)];
    // An older publisher's record: the same signed bytes, no summary header.
    const old = await encodeSignedModelRecord(svc.codec, model, v1, key.privateKey);
    delete old.headers[MODEL_SUMMARY_HEADER];
    const producer = svc.kafka.producer();
    await producer.connect();
    await producer.send({ topic: history, acks: -1, messages: [{ key: v1.version, value: old.value, headers: old.headers }] });
    await producer.disconnect();
    await publishModelRecord(svc.kafka, svc.codec, v2, key.privateKey, model, MODEL_KEY, history);
    // Per-recipient-domain residuals on the same topics are not versions of the list: a table of their own.
    await publishModelRecord(svc.kafka, svc.codec, data(30), key.privateKey, model, 'domain:a.test', null);
    const residual = await encodeSignedModelRecord(svc.codec, model, { ...data(40), domain: { name: 'b.test', inUse: true, base: v2.version, previousVersion: 'bayes-old', lastLabelAt: 1_700_000_000_000 } }, key.privateKey);
    await sendAll(svc.kafka, history, [{ key: `domain:b.test@${data(40).version}`, ...residual }]);
    await sendAll(svc.kafka, model, [{ key: 'domain:b.test', ...residual }]);

    const view = new SpamLoopView({ kafka: svc.kafka, codec: svc.codec, log: svc.log, registry: new Registry(), modelTopic: model, historyTopic: history, feedbackTopic: feedback });
    await view.start();
    try {
      await eventually(() => (view.versions.length === 2 && view.current === v2.version) || undefined, 30000, 'both versions listed, v2 in use');
      assert.deepEqual(view.versions.map((v) => [v.version, v.source, v.nham, v.nspam, v.tokens, v.trainedAt]), [
        [v2.version, 'test-20', v2.nham, v2.nspam, v2.tokens.length, v2.trainedAt],
        [v1.version, 'test-10', v1.nham, v1.nspam, v1.tokens.length, v1.trainedAt],
      ]);
      assert.equal(view.decodedModels, 1, 'only the record without a summary was decoded (v2 is on both topics, decoded never)');
      await eventually(() => (view.domains.size === 2 || undefined), 30000, 'both domain records seen');
      assert.deepEqual({ ...view.domains.get('b.test'), publishedAt: 0 }, { domain: 'b.test', version: data(40).version, nham: data(40).nham, nspam: data(40).nspam, tokens: data(40).tokens.length, inUse: true, base: v2.version, previousVersion: 'bayes-old', lastLabelAt: 1_700_000_000_000, publishedAt: 0 });
      assert.equal(view.domains.get('a.test')!.inUse, null, 'a whole model under a domain key is shown as no residual');
      // The rollback form's versions per domain come from the history's keys and summary headers (not decoded).
      await eventually(() => view.domainVersions.get('b.test') ?? undefined, 30000, 'the residual version on the history topic');
      assert.deepEqual(view.domainVersions.get('b.test')!.map((v) => [v.version, v.nham, v.nspam, v.trainedAt]), [[data(40).version, data(40).nham, data(40).nspam, data(40).trainedAt]]);
      assert.equal(view.decodedModels, 1, 'residual history records are not decoded');
      await sendAll(svc.kafka, model, [{ key: 'domain:b.test', value: null }]);
      await eventually(() => (!view.domains.has('b.test') || undefined), 30000, 'a tombstone removes it');
    } finally {
      await view.stop();
    }
  });
});
