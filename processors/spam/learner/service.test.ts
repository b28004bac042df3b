/**
 * The spam learner on a real broker and registry, with the real spam stage: labels on the feedback
 * topic → joined with their records → a new signed version on the model topic (and its history)
 * → the running scorer switches to it and scores the next similar message spam. Untrusted sources
 * are not learnt; a rollback republishes the previous version and the learner continues on top of
 * it; a learner SIGKILLed with learnt-but-unpublished labels loses none and learns none twice; a
 * second learner fences the first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HealthRegistry } from '../../../runtime/health.ts';
import { sendFeedback } from '../../../runtime/operator/feedback.ts';
import { readTopic, testServiceContext } from '../../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../../runtime/testing.ts';
import type { Alert, MailRecord, SpamFeedback, SpamModelRecord } from '../../../schemas/types.ts';
import { loadModelKeys, modelSignatureProblem } from '../../../runtime/model-signature.ts';
import { loadLearnerConfig } from './config.ts';
import { MODEL_KEY, publishModelRecord, rollbackModel } from '../../../runtime/operator/spam-model.ts';
import { startLearner, type RunningLearner } from './service.ts';
import { TOKENIZER_VERSION } from '../tokenizer.ts';
import { topicConfig, TOPICS, type TopicSpec } from '../../../runtime/topics.ts';
import { HAM, learnerFixture, learnThenKill, many, NEW_SPAM, type LearnerFixture } from './test-fixture.ts';

describe('spam learner (broker + registry + spam stage)', () => {
  const ctx = testServiceContext('spam-learner');
  const admin = ctx.kafka.admin();
  let fx: LearnerFixture;
  let t: LearnerFixture['topics'];
  let learner: RunningLearner | undefined;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    await admin.connect();
    fx = await learnerFixture(ctx, admin, 'spam-learner', 2, { SPAM_LEARNER_TRUSTED_SOURCES: 'imap:*,cli' });
    t = fx.topics;
    env = fx.env;
  });

  after(async () => {
    await learner?.stop();
    await fx?.stage.stop();
    await admin.disconnect();
  });

  const label = (records: MailRecord[], l: 'ham' | 'spam', source = 'imap:bob@corp.test') =>
    sendFeedback(ctx.kafka, ctx.codec, records.map((r) => ({ recordId: r.envelope.id, label: l, at: Date.now(), source, messageId: null })), t.feedback);
  const current = async (): Promise<SpamModelRecord> => {
    const all = await readTopic(ctx.kafka, t.model, 1, { settleMs: 500 });
    const last = all[all.length - 1]!;
    assert.equal(modelSignatureProblem(last.value, last.headers, loadModelKeys({ env, dataDir: ctx.dataDir }).trusted), null, 'the published model is signed by the trusted key');
    return ctx.codec.decodeAs<SpamModelRecord>(last.value, 'SpamModel');
  };
  const inUse = async () => (await ctx.metrics.getSingleMetric('scop_spam_model_info')!.get()).values.filter((v) => v.value === 1).map((v) => v.labels.version);
  const counter = async (name: string, label: string) => (await ctx.metrics.getSingleMetric(name)!.get()).values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0;

  /** Until the learner has read every label on the feedback topic. */
  const caughtUp = async () => {
    const ends = await admin.fetchTopicOffsets(t.feedback);
    await eventually(() => (ends.every((e) => (learner!.core.positions.get(e.partition) ?? 0n) >= BigInt(e.high) || e.high === '0') ? true : undefined), 60000, 'the learner read every label');
  };
  let base: SpamModelRecord;
  let v1: SpamModelRecord;

  it('labels in → a new signed version out → the scorer switches and catches the next similar message', async () => {
    base = await current();
    const before = await fx.score(many(NEW_SPAM, 0, 4));
    assert.ok(before.every((r) => r.spam!.verdict !== 'spam'), 'the base model does not know this spam');

    learner = await startLearner({ ...ctx, env }, loadLearnerConfig(env, ctx.dataDir));
    await label(before.slice(0, 1), 'spam', 'evil:mallory'); // not a trusted source: not learnt
    await label(before, 'spam');
    v1 = await eventually(async () => { const m = await current(); return m.version !== base.version ? m : undefined; }, 60000, 'a learnt version on the model topic');
    assert.equal(v1.nspam, base.nspam + 4, 'the four labels, once each');
    assert.equal(v1.nham, base.nham);
    assert.equal(v1.learner!.previousVersion, base.version);
    assert.equal(v1.learner!.labelsLearnt, 4);
    assert.equal(v1.learner!.feedbackTopic, t.feedback);
    const ends = await admin.fetchTopicOffsets(t.feedback);
    assert.deepEqual(v1.learner!.positions.map((p) => [p.partition, p.offset]).sort(), ends.filter((e) => Number(e.high) > 0).map((e) => [e.partition, Number(e.high)]).sort(), 'the model carries the positions past every label');
    assert.equal(await counter('scop_spam_learner_labels_total', 'untrusted-source'), 1);
    assert.equal(await counter('scop_spam_learner_versions_total', 'published'), 1);
    const history = await readTopic(ctx.kafka, t.history, 1, { settleMs: 500 });
    assert.deepEqual(history.map((h) => h.key), [v1.version], 'the version is in the history topic');

    await eventually(async () => ((await inUse()).includes(v1.version) ? true : undefined), 30000, 'scorer on the learnt model');
    const [after1] = await fx.score(many(NEW_SPAM, 100, 1));
    assert.equal(after1!.spam!.modelVersion, v1.version);
    assert.equal(after1!.spam!.verdict, 'spam', 'the next similar message is spam');
    const [ham] = await fx.score(many(HAM, 100, 1));
    assert.equal(ham!.spam!.verdict, 'ham', 'ordinary ham stays ham');
  });

  it('rollback: the previous version is republished, the scorer and the learner go back to it', async () => {
    // A second version, then back to the first.
    await label(await fx.score(many(NEW_SPAM, 200, 4)), 'spam');
    const v2 = await eventually(async () => { const m = await current(); return m.version !== v1.version ? m : undefined; }, 60000, 'a second learnt version');
    assert.equal(v2.learner!.previousVersion, v1.version);
    await eventually(async () => ((await inUse()).includes(v2.version) ? true : undefined), 30000, 'scorer on v2');

    const r = await rollbackModel({ kafka: ctx.kafka, codec: ctx.codec, log: ctx.log, modelTopic: t.model, historyTopic: t.history, trusted: loadModelKeys({ env, dataDir: ctx.dataDir }).trusted });
    assert.deepEqual([r.from, r.to], [v2.version, v1.version]);
    await eventually(async () => ((await inUse()).includes(v1.version) ? true : undefined), 30000, 'scorer back on v1');
    await eventually(() => (learner!.core.published.data.version === v1.version ? true : undefined), 30000, 'learner back on v1');
    // The labels of v2 are not learnt again: the learner's next version is v1 + only the new labels.
    await label(await fx.score(many(NEW_SPAM, 300, 4)), 'spam');
    const v3 = await eventually(async () => { const m = await current(); return m.version !== v1.version && m.version !== v2.version ? m : undefined; }, 60000, 'a version after the rollback');
    assert.equal(v3.nspam, v1.nspam + 4);
    assert.equal(v3.learner!.previousVersion, v1.version);
  });

  it('FP guard: a batch that turns held-back ham into spam is not published; an alert says why', async () => {
    await learner!.stop();
    learner = undefined;
    // Half the ham labels held back as the sample; no rise of the FP rate allowed; publishing only when told.
    const guardEnv = { ...env, SPAM_LEARNER_HOLDBACK_PERCENT: '50', SPAM_LEARNER_HOLDBACK_MIN: '1', SPAM_LEARNER_MAX_FP_INCREASE: '0', SPAM_LEARNER_PUBLISH_LABELS: '1000' };
    learner = await startLearner({ ...ctx, env: guardEnv }, loadLearnerConfig(guardEnv, ctx.dataDir));
    await label(await fx.score(many(HAM, 400, 12)), 'ham');
    await caughtUp();
    assert.ok(learner.core.holdbackSize > 0 && learner.core.holdbackSize < 12, `some ham held back (${learner.core.holdbackSize})`);
    await learner.flush();
    const published = await current();
    assert.equal(published.learner!.holdback.length, learner.core.holdbackSize, 'the sample is part of the published state');
    // Poison: ham-looking messages labelled spam by a trusted but wrong source (enough to tip the held-back ham over the spam cutoff).
    await label(await fx.score(many(HAM, 500, 150)), 'spam', 'cli');
    await caughtUp();
    await learner.flush();
    const alerts = await readTopic(ctx.kafka, t.alerts, 1, { settleMs: 500, timeoutMs: 60000 });
    const alert = await ctx.codec.decodeAs<Alert>(alerts[0]!.value, 'Alert');
    assert.equal(alert.kind, 'spam-model-rejected');
    assert.match(alert.summary, /FP rate/);
    const now = await current();
    assert.equal(now.version, published.version, 'the model did not change');
    assert.equal(await counter('scop_spam_learner_versions_total', 'rejected'), 1);
    const ends = await admin.fetchTopicOffsets(t.feedback);
    assert.equal(now.learner!.positions.reduce((a, p) => a + p.offset, 0), ends.reduce((a, e) => a + Number(e.high), 0), 'the positions moved past the rejected batch');
  });

  it('exactly once across a SIGKILL: unpublished labels are learnt again by the next learner, published ones are not', async () => {
    await learner!.stop();
    learner = undefined;
    const before = await current();
    await learnThenKill(env, 3, async () => { await label(await fx.score(many(NEW_SPAM, 600, 3)), 'spam'); });
    assert.equal((await current()).version, before.version, 'nothing was published before the kill');

    learner = await startLearner({ ...ctx, env }, loadLearnerConfig({ ...env, SPAM_LEARNER_PUBLISH_LABELS: '3' }, ctx.dataDir));
    const after1 = await eventually(async () => { const m = await current(); return m.version !== before.version ? m : undefined; }, 60000, 'the labels learnt by the next learner');
    assert.equal(after1.nspam, before.nspam + 3, 'each label once');
    assert.equal(after1.learner!.labelsLearnt, before.learner!.labelsLearnt + 3);
    // A restart right after a publish learns nothing again.
    await learner.stop();
    learner = await startLearner({ ...ctx, env }, loadLearnerConfig(env, ctx.dataDir));
    await learner.flush();
    assert.equal(learner.core.pending, 0);
    assert.equal((await current()).version, after1.version);
  });

  it('a second learner with the same transactional id fences the first: one version, and the first says so on /healthz', async () => {
    const first = learner!;
    const health = new HealthRegistry();
    const second = await startLearner({ ...ctx, env, health }, loadLearnerConfig(env, ctx.dataDir));
    learner = second;
    try {
      const before = await current();
      await label(await fx.score(many(NEW_SPAM, 700, 4)), 'spam'); // both learn them; both try to publish
      const next = await eventually(async () => { const m = await current(); return m.version !== before.version ? m : undefined; }, 60000, 'the second learner published');
      assert.equal(next.nspam, before.nspam + 4, 'learnt once: the fenced learner published nothing');
      await eventually(() => (ctx.health!.check().checks['spam-learner publisher']?.ok === false ? true : undefined), 60000, 'the first learner reports itself fenced');
      assert.equal(health.check().checks['spam-learner publisher']?.ok, true);
    } finally {
      await first.stop();
    }
  });

  it('after a tokenizer change the models on the topic are ignored, and every label on the feedback topic is learnt again', async () => {
    await learner!.stop();
    learner = undefined;
    // An upgraded install: the same feedback and records, and on spam.model only models of another tokenizer
    // (every record of the model topic so far, re-signed with their tokenizer version renamed).
    const keys = loadModelKeys({ env, dataDir: ctx.dataDir });
    const old = await Promise.all((await readTopic(ctx.kafka, t.model, 1, { settleMs: 500 })).map((m) => ctx.codec.decodeAs<SpamModelRecord>(m.value, 'SpamModel')));
    const oldTopic = uniqueName('spam-model-old');
    const history = uniqueName('spam-model-history-new');
    const specs: [string, TopicSpec][] = [[oldTopic, TOPICS.spamModel], [history, TOPICS.spamModelHistory]];
    await admin.createTopics({
      waitForLeaders: true,
      topics: specs.map(([topic, spec]) => ({ topic, numPartitions: 1, replicationFactor: 1, configEntries: Object.entries(topicConfig(spec)).map(([k, v]) => ({ name: k, value: v })) })),
    });
    for (const r of old) await publishModelRecord(ctx.kafka, ctx.codec, { ...r, tokenizerVersion: 'tok-former' }, keys.signing!, oldTopic, MODEL_KEY, null);
    const newest = old[old.length - 1]!;
    assert.ok(newest.learner!.labelsLearnt > 0);

    // What the feedback topic asks for: the latest trusted label of each record.
    const latest = new Map<string, string>();
    for (const m of await readTopic(ctx.kafka, t.feedback, 1, { settleMs: 500 })) {
      const fb = await ctx.codec.decodeAs<SpamFeedback>(m.value, 'SpamFeedback');
      if (!fb.source.startsWith('evil:')) latest.set(fb.recordId, fb.label);
    }
    const spamLabels = [...latest.values()].filter((l) => l === 'spam').length;
    const hamLabels = latest.size - spamLabels;

    const upgraded = { ...env, SPAM_MODEL_TOPIC: oldTopic, SPAM_MODEL_HISTORY_TOPIC: history, SPAM_LEARNER_TRANSACTIONAL_ID: uniqueName('learner'), SPAM_LEARNER_PUBLISH_LABELS: '1000' };
    learner = await startLearner({ ...ctx, env: upgraded }, loadLearnerConfig(upgraded, ctx.dataDir));
    assert.equal(learner.core.published.data.tokenizerVersion, TOKENIZER_VERSION, 'the learner starts from the shipped default, not a model of the former tokenizer');
    assert.equal(learner.core.published.data.nspam, base.nspam);
    await eventually(async () => (learner!.core.labelsLearnt >= latest.size ? true : undefined), 60000, 'every label learnt again');
    await learner.flush();
    const relearnt = (await readTopic(ctx.kafka, oldTopic, old.length + 1, { settleMs: 500 })).at(-1)!;
    const r = await ctx.codec.decodeAs<SpamModelRecord>(relearnt.value, 'SpamModel');
    assert.equal(r.tokenizerVersion, TOKENIZER_VERSION);
    assert.equal(r.learner!.labelsLearnt, latest.size, 'each record once, with its latest label');
    assert.deepEqual([r.nspam - base.nspam, r.nham - base.nham], [spamLabels, hamLabels]);
  });
});
