/**
 * Scorers switch only to signed models. On the real broker: a model signed by the trusted key is
 * applied; an unsigned one, one signed by another key, and a signed one whose bytes were altered
 * are refused — the current model stays, and each refusal is an alert (kind model-refused) — and a
 * later signed model is applied again. Key files: created once by the stage, refused when wrong.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../runtime/config.ts';
import { readTopic, testServiceContext } from '../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../runtime/testing.ts';
import { topicConfig, TOPICS } from '../../runtime/topics.ts';
import type { Alert } from '../../schemas/types.ts';
import { train } from './evaluate.ts';
import { loadModelKeys, signatureHeaders } from '../../runtime/model-signature.ts';
import { encodeSignedModel, followModels, modelToRecord, publishModel, type ModelFollower } from './model-topic.ts';
import type { ModelData } from './model.ts';

const dir = mkdtempSync(join(tmpdir(), 'spam-model-sig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = (n: number, source: string): ModelData => train(Array.from({ length: n }, (_, i) => ({ tokens: [`w${i % 7}`, i % 2 ? 'cash' : 'agenda'], label: i % 2 ? 'spam' as const : 'ham' as const }))).toData({ source, trainedAt: n });

describe('key files', () => {
  test('the stage creates the pair once (private 0600); publishing without a signing key names SPAM_MODEL_SIGNING_KEY_FILE', () => {
    const k = loadModelKeys({ env: {}, dataDir: dir, create: true });
    assert.ok(k.signing);
    assert.equal(k.trusted.length, 1);
    assert.equal(statSync(join(dir, 'secrets', 'spam-model.key')).mode & 0o777, 0o600);
    const again = loadModelKeys({ env: {}, dataDir: dir, create: true });
    assert.deepEqual(again.trusted[0]!.export({ format: 'der', type: 'spki' }), k.trusted[0]!.export({ format: 'der', type: 'spki' }), 'not replaced');
    const scorerOnly = loadModelKeys({ env: { SPAM_MODEL_PUBLIC_KEY_FILES: join(dir, 'secrets', 'spam-model.pub') }, dataDir: join(dir, 'elsewhere'), create: true });
    assert.deepEqual([scorerOnly.signing, scorerOnly.trusted.length], [null, 1], 'a scorer with only the public key creates nothing');
    assert.throws(() => loadModelKeys({ env: {}, dataDir: join(dir, 'none'), needSigning: true }), (e: unknown) => e instanceof ConfigError && e.key === 'SPAM_MODEL_SIGNING_KEY_FILE');
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }));
    assert.throws(() => loadModelKeys({ env: { SPAM_MODEL_PUBLIC_KEY_FILES: rsa }, dataDir: dir }), (e: unknown) => e instanceof ConfigError && e.key === 'SPAM_MODEL_PUBLIC_KEY_FILES' && /not Ed25519/.test(e.message));
  });
});

describe('the model follower (broker)', () => {
  const ctx = testServiceContext('spam-model-signature');
  const admin = ctx.kafka.admin();
  const modelTopic = uniqueName('spam-model-sig');
  const alertsTopic = uniqueName('alerts-sig');
  let follower: ModelFollower | undefined;
  before(async () => {
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [[modelTopic, TOPICS.spamModel], [alertsTopic, TOPICS.alerts]].map(([name, spec]) => ({
      topic: name as string, numPartitions: 1, replicationFactor: 1,
      configEntries: Object.entries(topicConfig(spec as typeof TOPICS.spamModel)).map(([k, v]) => ({ name: k, value: v })),
    })) });
  });
  after(async () => {
    await follower?.stop();
    await admin.disconnect();
  });

  test('unsigned, foreign-signed and altered models are refused with an alert; the current model stays', { timeout: 90000 }, async () => {
    const keys = loadModelKeys({ env: {}, dataDir: dir, create: true });
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const [a, b, c, d, e] = [model(10, 'A'), model(12, 'B'), model(14, 'C'), model(16, 'D'), model(18, 'E')];
    const applied: string[] = [];
    await publishModel(ctx.kafka, ctx.codec, a, keys.signing!, modelTopic);
    follower = await followModels({ kafka: ctx.kafka, codec: ctx.codec, log: ctx.log, tokenizerVersion: a.tokenizerVersion, trusted: keys.trusted, alertsTopic, topic: modelTopic, apply: (_m, data) => { applied.push(data.version); } });
    await follower.caughtUp;
    assert.deepEqual(applied, [a.version]);

    // Written by whoever can write the topic: no signature; another key's; a signed record with one byte changed.
    const id = await ctx.codec.registerSchema(modelTopic, 'SpamModel');
    const valueOf = (m: ModelData) => ctx.codec.encodeWith(id, 'SpamModel', modelToRecord(m));
    const altered = valueOf(d);
    const alteredHeaders = signatureHeaders(altered, keys.signing!);
    altered[altered.length - 1]! ^= 1;
    const producer = ctx.kafka.producer();
    await producer.connect();
    await producer.send({ topic: modelTopic, acks: -1, messages: [
      { key: 'default', value: valueOf(b), headers: { 'model-version': b.version } },
      { key: 'default', value: valueOf(c), headers: { 'model-version': c.version, ...signatureHeaders(valueOf(c), stranger) } },
      { key: 'default', value: altered, headers: { 'model-version': d.version, ...alteredHeaders } },
    ] });
    await producer.disconnect();
    const alerts = await readTopic(ctx.kafka, alertsTopic, 3, { settleMs: 0 });
    const decoded = await Promise.all(alerts.map((m) => ctx.codec.decodeAs<Alert>(m.value, 'Alert')));
    assert.deepEqual(decoded.map((x) => [x.kind, x.severity, x.source]), Array(3).fill(['model-refused', 'critical', 'spam']));
    assert.match(decoded[0]!.summary, /not signed/);
    assert.match(decoded[1]!.summary, /not from a trusted key or the record was altered/);
    assert.match(decoded[2]!.summary, /not from a trusted key or the record was altered/);
    assert.equal(follower.refused, 3);
    assert.deepEqual(applied, [a.version], 'the current model stays');

    await publishModel(ctx.kafka, ctx.codec, e, keys.signing!, modelTopic);
    await eventually(() => (applied.includes(e.version) ? true : undefined), 30000, 'the next signed model applied');
    assert.deepEqual(applied, [a.version, e.version]);
  });

  test('per-domain residuals: signed and under their own key only; a tombstone removes one', { timeout: 90000 }, async () => {
    const topic = uniqueName('spam-model-domains');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: Object.entries(topicConfig(TOPICS.spamModel)).map(([k, v]) => ({ name: k, value: v })) }] });
    const keys = loadModelKeys({ env: {}, dataDir: dir, create: true });
    const [whole, x, y] = [model(10, 'W'), model(12, 'X'), model(14, 'Y')];
    const signed = (m: ModelData, domain: string | null) => encodeSignedModel(ctx.codec, topic, m, keys.signing!, null, domain ? { name: domain, inUse: true, base: null, previousVersion: null, lastLabelAt: null } : null);
    const id = await ctx.codec.registerSchema(topic, 'SpamModel');
    const seen: string[] = [];
    const f = await followModels({
      kafka: ctx.kafka, codec: ctx.codec, log: ctx.log, tokenizerVersion: whole.tokenizerVersion, trusted: keys.trusted, alertsTopic: null, topic,
      apply: (_m, data) => { seen.push(`model ${data.version}`); },
      applyDomain: (name, delta) => { seen.push(delta ? `${name} ${delta.data.version} ${delta.info.inUse}` : `${name} deleted`); },
    });
    try {
      await f.caughtUp;
      const producer = ctx.kafka.producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [
        { key: 'domain:x.test', ...(await signed(whole, null)) }, // a whole model under a domain's key
        { key: 'default', ...(await signed(x, 'x.test')) }, // a residual as the global model
        { key: 'domain:x.test', ...(await signed(y, 'y.test')) }, // another domain's residual
        { key: 'domain:x.test', value: ctx.codec.encodeWith(id, 'SpamModel', modelToRecord(x, null, { name: 'x.test', inUse: true, base: null, previousVersion: null, lastLabelAt: null })) }, // unsigned
        { key: 'domain:x.test', ...(await signed(x, 'x.test')) },
        { key: 'domain:x.test', value: null },
      ] });
      await producer.disconnect();
      await eventually(() => (seen.length >= 2 ? true : undefined), 30000, 'the residual and its tombstone');
      assert.deepEqual(seen, [`x.test ${x.version} true`, 'x.test deleted']);
      assert.equal(f.refused, 4);
    } finally {
      await f.stop();
    }
  });
});
