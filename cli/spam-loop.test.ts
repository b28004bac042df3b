/**
 * The learning loop on a real broker and registry: a fresh scorer publishes its default model on
 * an empty model topic; train → publish → the running scorer switches to the new version (output
 * records and metric) without a restart and without losing a record; a feedback event followed by
 * replay-training gives a new version, which the scorer picks up too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trainCommand } from './spam.ts';
import { sendFeedback } from '../runtime/operator/feedback.ts';
import { recordFromRaw } from './spam-corpus.ts';
import { train, type Labelled } from '../processors/spam/evaluate.ts';
import { spamInputFromRecord } from '../processors/spam/input.ts';
import { publishModel, writeModelFile } from '../processors/spam/model-topic.ts';
import { loadModelKeys } from '../runtime/model-signature.ts';
import { spamService } from '../processors/spam/service.ts';
import { tokenize } from '../processors/spam/tokenizer.ts';
import type { RunningStage } from '../runtime/stage.ts';
import { createStageTopics, produce, readTopic, testServiceContext, type StageTopics } from '../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import { topicConfig, TOPICS } from '../runtime/topics.ts';
import type { MailRecord } from '../schemas/types.ts';

const HAM = (i: number) => `From: Alice <alice@corp.test>\r\nTo: bob@corp.test\r\nSubject: Re: agenda for the meeting ${i}\r\nMessage-ID: <h${i}@corp.test>\r\nIn-Reply-To: <x${i}@corp.test>\r\nContent-Type: text/plain\r\n\r\nHi Bob, here are the minutes of the meeting. The agenda for next week is attached below. Thanks, Alice\r\n`;
const SPAM = (i: number) => `From: WINNER <prize${i}@lotto.example>\r\nTo: undisclosed-recipients:;\r\nSubject: You have WON $1,000,000!!!\r\nMessage-ID: <s${i}@lotto.example>\r\nContent-Type: text/html\r\n\r\n<html><body><font color="red">CLICK HERE</font> to claim your cash prize now! <a href="http://198.51.100.7/claim">Claim now</a> Limited offer, act now!</body></html>\r\n`;

describe('spam learning loop (broker + registry)', () => {
  const ctx = testServiceContext('spam-loop');
  let topics: StageTopics;
  let modelTopic: string;
  let feedbackTopic: string;
  let stage: RunningStage | undefined;
  const admin = ctx.kafka.admin();

  before(async () => {
    await admin.connect();
    topics = await createStageTopics(admin, 'spam-loop', 2);
    modelTopic = uniqueName('spam-model');
    feedbackTopic = uniqueName('spam-feedback');
    await admin.createTopics({
      waitForLeaders: true,
      topics: [[modelTopic, TOPICS.spamModel], [feedbackTopic, TOPICS.spamFeedback]].map(([name, spec]) => ({
        topic: name as string, numPartitions: 1, replicationFactor: 1,
        configEntries: Object.entries(topicConfig(spec as typeof TOPICS.spamModel)).map(([k, v]) => ({ name: k, value: v })),
      })),
    });
  });

  after(async () => {
    await stage?.stop();
    await admin.disconnect();
  });

  it('default model on an empty topic; train → publish → hot swap; feedback → replay-training → new version', async () => {
    const records = async (from: number, n: number): Promise<MailRecord[]> => Promise.all(Array.from({ length: n }, (_, j) => {
      const i = from + j;
      return recordFromRaw(Buffer.from(i % 2 ? SPAM(i) : HAM(i)), `rec-${i}-${uniqueName('r')}`);
    }));
    const examples = async (from: number, n: number): Promise<Labelled[]> => (await records(from, n)).map((r, j) => ({ tokens: tokenize(spamInputFromRecord(r)), label: (from + j) % 2 ? 'spam' : 'ham' }));

    // Model A (a "default model file"), model B (more data): different versions.
    const a = train(await examples(0, 6)).toData({ source: 'test A', trainedAt: 1 });
    const b = train(await examples(0, 30)).toData({ source: 'test B', trainedAt: 2 });
    assert.notEqual(a.version, b.version);
    const dir = mkdtempSync(join(tmpdir(), 'spam-loop-'));
    writeModelFile(join(dir, 'a.json.gz'), a);

    // Fresh install: the model topic is empty, so the scorer publishes its default model and uses it.
    const env = { ...process.env, SPAM_MODEL_TOPIC: modelTopic, SPAM_DEFAULT_MODEL: join(dir, 'a.json.gz') };
    stage = await spamService.run({ ...ctx, env }, { input: topics.input, output: topics.output, deadLetters: topics.deadLetters, groupId: topics.groupId });
    // The scorer made (or found) the signing pair under its data folder; the "trainer" here uses it too.
    const keys = loadModelKeys({ env, dataDir: ctx.dataDir, needSigning: true });
    const onTopic = await readTopic(ctx.kafka, modelTopic, 1, { settleMs: 0 });
    assert.equal(onTopic[0]!.headers['model-version']?.toString(), a.version, 'the default model was published');

    const batch1 = await records(100, 10);
    await produce(ctx.kafka, ctx.codec, topics.input, 'MailRecord', batch1.map((record) => ({ record })));
    await readTopic(ctx.kafka, topics.output, 10, { settleMs: 0 }); // batch 1 scored before B exists
    const info = async () => (await ctx.metrics.getSingleMetric('scop_spam_model_info')!.get()).values;
    assert.deepEqual((await info()).filter((v) => v.value === 1).map((v) => v.labels.version), [a.version]);

    // Publish B while records keep coming: some are scored by A, the rest by B, none lost.
    const batch2 = await records(200, 10);
    const sending = produce(ctx.kafka, ctx.codec, topics.input, 'MailRecord', batch2.map((record) => ({ record })));
    await publishModel(ctx.kafka, ctx.codec, b, keys.signing!, modelTopic);
    await sending;
    await eventually(async () => ((await info()).find((v) => v.labels.version === b.version)?.value === 1 ? true : undefined), 30000, 'scorer on model B');
    const batch3 = await records(300, 10);
    await produce(ctx.kafka, ctx.codec, topics.input, 'MailRecord', batch3.map((record) => ({ record })));

    const out = await readTopic(ctx.kafka, topics.output, 30);
    const decoded = await Promise.all(out.map((m) => ctx.codec.decodeAs<MailRecord>(m.value, 'MailRecord')));
    const ids = decoded.map((r) => r.envelope.id);
    assert.equal(new Set(ids).size, 30, 'every record exactly once');
    assert.deepEqual(new Set(ids), new Set([...batch1, ...batch2, ...batch3].map((r) => r.envelope.id)));
    const byId = new Map(decoded.map((r) => [r.envelope.id, r.spam!]));
    for (const r of batch1) assert.equal(byId.get(r.envelope.id)!.modelVersion, a.version);
    for (const r of batch3) assert.equal(byId.get(r.envelope.id)!.modelVersion, b.version, 'records after the switch carry B');
    for (const s of byId.values()) {
      assert.ok(s.probability >= 0 && s.probability <= 1);
      assert.ok(['ham', 'unsure', 'spam'].includes(s.verdict));
      assert.equal(s.tokenizerVersion, a.tokenizerVersion);
    }
    const spamOne = byId.get(batch3[1]!.envelope.id)!;
    assert.equal(spamOne.verdict, 'spam', 'an obvious spam is caught');
    assert.ok(spamOne.topTokens.length > 0 && spamOne.topTokens.length <= 15);
    assert.equal(byId.get(batch3[0]!.envelope.id)!.verdict, 'ham');
    const switches = (await ctx.metrics.getSingleMetric('scop_spam_model_switches_total')!.get()).values[0]!.value;
    assert.equal(switches, 1);
    assert.deepEqual((await info()).filter((v) => v.value === 1).map((v) => v.labels.version), [b.version]);

    // A user moves one (ham-looking) message to Junk; replay-training on the scored topic adds it to the current model.
    const relabelled = batch3[0]!;
    await sendFeedback(ctx.kafka, ctx.codec, { recordId: relabelled.envelope.id, label: 'spam', at: Date.now(), source: 'test', messageId: null }, feedbackTopic);
    const c = await trainCommand({ fromTopics: true, recordsTopic: topics.output, feedbackTopic, modelTopic, base: 'current', publish: true, quiet: true, keys }, { kafka: ctx.kafka, codec: ctx.codec });
    assert.notEqual(c.version, b.version, 'feedback + replay-training gives a new model version');
    assert.equal(c.nspam, b.nspam + 1);
    assert.equal(c.nham, b.nham);
    await eventually(async () => ((await info()).find((v) => v.labels.version === c.version)?.value === 1 ? true : undefined), 30000, 'scorer on model C');
  });
});
