/**
 * Per-recipient-domain models on a real broker and registry, with the real spam stage and learner:
 * labels for domain A → A's signed residual on the model topic (key domain:a.test) in the same
 * transaction as the global record's positions → the scorer blends it in for A only (B and
 * several-domain messages keep the global score) → exactly once across a SIGKILL of the learner →
 * turned off, the residual is deleted and scorers stop using it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendFeedback } from '../../../runtime/operator/feedback.ts';
import { sendAll } from '../../../runtime/operator/send.ts';
import { MODEL_KEY, modelsOnTopic, removeDomain, rollbackDomain, rollbackModel } from '../../../runtime/operator/spam-model.ts';
import { loadModelKeys, modelSignatureProblem } from '../../../runtime/model-signature.ts';
import { readTopic, testServiceContext } from '../../../runtime/stage-testing.ts';
import { eventually } from '../../../runtime/testing.ts';
import type { MailRecord, SpamModelRecord } from '../../../schemas/types.ts';
import { domainKey } from '../domain-model.ts';
import { BayesModel } from '../model.ts';
import { modelFromRecord, publishModel } from '../model-topic.ts';
import { loadLearnerConfig } from './config.ts';
import { startLearner, type RunningLearner } from './service.ts';
import { learnerFixture, learnThenKill, many, NEW_SPAM, type LearnerFixture } from './test-fixture.ts';

const A = ['bob@a.test'];
const B = ['carol@b.test'];

describe('per-recipient-domain spam models (broker + registry + spam stage + learner)', () => {
  const ctx = testServiceContext('spam-domains');
  const admin = ctx.kafka.admin();
  let fx: LearnerFixture;
  let env: NodeJS.ProcessEnv;
  let learner: RunningLearner | undefined;

  before(async () => {
    await admin.connect();
    fx = await learnerFixture(ctx, admin, 'spam-domains', 2, { SPAM_LEARNER_TRUSTED_SOURCES: '*', SPAM_LEARNER_DOMAIN_MODELS: 'true', SPAM_LEARNER_DOMAIN_MIN_LABELS: '4' });
    env = fx.env;
  });

  after(async () => {
    await learner?.stop();
    await fx?.stage.stop();
    await admin.disconnect();
  });

  const label = (records: MailRecord[], l: 'ham' | 'spam') =>
    sendFeedback(ctx.kafka, ctx.codec, records.map((r) => ({ recordId: r.envelope.id, label: l, at: Date.now(), source: 'imap:bob@a.test', messageId: null })), fx.topics.feedback);
  /** The newest record of each key on the model topic (null: deleted), each checked for a trusted signature. */
  const latest = async (): Promise<Map<string, SpamModelRecord | null>> => {
    const trusted = loadModelKeys({ env, dataDir: ctx.dataDir }).trusted;
    const out = new Map<string, SpamModelRecord | null>();
    for (const m of await readTopic(ctx.kafka, fx.topics.model, 1, { settleMs: 500 })) {
      if (!m.value || m.value.length === 0) { out.set(m.key!, null); continue; }
      assert.equal(modelSignatureProblem(m.value, m.headers, trusted), null, `${m.key} is signed by the trusted key`);
      out.set(m.key!, await ctx.codec.decodeAs<SpamModelRecord>(m.value, 'SpamModel'));
    }
    return out;
  };
  const domainA = async () => (await latest()).get(domainKey('a.test')) ?? null;
  let base: SpamModelRecord;
  let bBefore: MailRecord;

  it('labels for A: A\'s model is published and the scorer uses it for A only', async () => {
    base = (await latest()).get(MODEL_KEY)!;
    const aBefore = await fx.score(many(NEW_SPAM, 0, 5), A);
    [bBefore] = await fx.score(many(NEW_SPAM, 50, 1), B) as [MailRecord];
    assert.ok([...aBefore, bBefore].every((r) => r.spam!.verdict !== 'spam'), 'the base model does not know this spam');

    learner = await startLearner({ ...ctx, env }, loadLearnerConfig(env, ctx.dataDir));
    await label(aBefore.slice(0, 4), 'spam');
    const a = await eventually(async () => (await domainA()) ?? undefined, 60000, 'A\'s model on the model topic');
    assert.deepEqual({ ...a.domain, lastLabelAt: null }, { name: 'a.test', inUse: true, base: base.version, previousVersion: null, lastLabelAt: null });
    assert.ok(a.domain!.lastLabelAt! > Date.now() - 600_000, 'the newest label\'s time (idle eviction)');
    assert.deepEqual([a.nham, a.nspam], [0, 4], 'A\'s four labels, once each');
    assert.ok(a.linear && a.tokens.length > 0 && a.learner === null);
    const global = (await latest()).get(MODEL_KEY)!;
    assert.equal(global.version, base.version, 'isolated: the global model did not learn A\'s labels');
    assert.equal(global.learner!.labelsLearnt, 4);
    const ends = await admin.fetchTopicOffsets(fx.topics.feedback);
    assert.equal(global.learner!.positions.reduce((s, p) => s + p.offset, 0), ends.reduce((s, e) => s + Number(e.high), 0), 'the global record carries the positions past A\'s labels');

    // The scorer follows the topic: A's next such message is scored with A's model blended in, and is spam.
    let i = 100;
    const next = await eventually(async () => { const [r] = await fx.score([NEW_SPAM(i++)], A); return r!.spam!.modelVersion.includes('+a.test@') ? r! : undefined; }, 30000, 'the scorer blends A\'s model in');
    assert.equal(next.spam!.modelVersion, `${base.version}+a.test@${a.version}`);
    assert.equal(next.spam!.verdict, 'spam', `A's next newsletter is spam for A (${next.spam!.probability})`);
    // B: the same message as before scores exactly as before.
    const [bAfter] = await fx.score(many(NEW_SPAM, 50, 1), B);
    assert.equal(bAfter!.spam!.modelVersion, base.version);
    assert.equal(bAfter!.spam!.probability, bBefore.spam!.probability, 'B\'s score did not move');
    assert.notEqual(bAfter!.spam!.verdict, 'spam');
    // Recipients in A and B: no one customer's view applies.
    const [both] = await fx.score(many(NEW_SPAM, 50, 1), [...A, ...B]);
    assert.equal(both!.spam!.modelVersion, base.version);
    assert.equal(both!.spam!.probability, bBefore.spam!.probability);
    // `scop spam models`: A's model is blended in on the line in use.
    const listed = await modelsOnTopic({ kafka: ctx.kafka, codec: ctx.codec, log: ctx.log, modelTopic: fx.topics.model });
    assert.deepEqual([listed.global?.version, listed.global?.line], [base.version, base.version]);
    // What its text form prints (cli/spam-rollback.test.ts: "0 ham / 4 spam … blended in").
    assert.deepEqual(listed.domains.map((d) => [d.domain, d.version, d.nham, d.nspam, d.inUse, d.applied]), [['a.test', a.version, 0, 4, true, true]]);
    const scored = (await ctx.metrics.getSingleMetric('scop_spam_domain_scored_total')!.get()).values[0]?.value ?? 0;
    assert.ok(scored >= 1);
  });

  it('exactly once across a SIGKILL: A\'s unpublished labels are learnt again by the next learner, published ones are not', async () => {
    await learner!.stop();
    learner = undefined;
    const before = (await domainA())!;
    await learnThenKill(env, 3, async () => { await label(await fx.score(many(NEW_SPAM, 600, 3), A), 'spam'); });
    assert.equal((await domainA())!.version, before.version, 'nothing was published before the kill');

    learner = await startLearner({ ...ctx, env }, loadLearnerConfig({ ...env, SPAM_LEARNER_PUBLISH_LABELS: '3' }, ctx.dataDir));
    const after1 = await eventually(async () => { const m = await domainA(); return m && m.version !== before.version ? m : undefined; }, 60000, 'A\'s labels learnt by the next learner');
    assert.equal(after1.nspam, before.nspam + 3, 'each label once');
    assert.equal((await latest()).get(MODEL_KEY)!.learner!.labelsLearnt, 7);
    // A restart right after a publish learns nothing again.
    await learner.stop();
    learner = await startLearner({ ...ctx, env }, loadLearnerConfig(env, ctx.dataDir));
    assert.equal(learner.core.domains!.published.get('a.test')!.nspam, 7);
    await learner.flush();
    assert.equal(learner.core.pending, 0);
    assert.equal((await domainA())!.version, after1.version);
  });

  /** What `scop spam rollback` is given (runtime/operator/spam-model.ts). */
  const ops = () => ({ kafka: ctx.kafka, codec: ctx.codec, log: ctx.log, modelTopic: fx.topics.model, historyTopic: fx.topics.history, trusted: loadModelKeys({ env, dataDir: ctx.dataDir }).trusted });
  /** Scores A's next newsletter until its modelVersion is `want` (the scorer follows the topic). */
  let n = 1000;
  const scoredForA = (want: string, what: string) => eventually(async () => { const [r] = await fx.score([NEW_SPAM(n++)], A); return r!.spam!.modelVersion === want ? r! : undefined; }, 30000, what);
  const labelA = async (count: number) => label(await fx.score(many(NEW_SPAM, n += count, count), A), 'spam');

  it('one domain rolled back to its previous version, then removed; unknown domain and no previous version name the fix', async () => {
    await assert.rejects(rollbackDomain({ ...ops(), domain: 'unknown.test' }), (e: Error) => /no model for domain unknown\.test/.test(e.message) && /scop spam models/.test(e.message));
    // A version the history topic does not hold (global or a domain's): refused, naming the fix.
    await assert.rejects(rollbackModel({ ...ops(), to: 'bayes-never' }), (e: Error) => /version bayes-never is not on /.test(e.message) && /still in the history topic/.test(e.message));
    await assert.rejects(rollbackDomain({ ...ops(), domain: 'a.test', to: 'bayes-never' }), (e: Error) => /version bayes-never of a\.test is not on /.test(e.message) && /--domain a\.test --remove/.test(e.message));
    const cur = (await domainA())!;
    assert.equal(cur.domain!.base, base.version, 'learnt on the line of the base model');
    const previous = cur.domain!.previousVersion;
    assert.ok(previous && previous !== cur.version, 'the record names the version it replaced');
    const r = await rollbackDomain({ ...ops(), domain: 'a.test' });
    assert.deepEqual([r.from, r.to], [cur.version, previous]);
    await scoredForA(`${base.version}+a.test@${previous}`, 'the scorer blends A\'s previous version in');
    // The learner adopts it and writes it again after anything it wrote before (same version: the same content).
    await eventually(() => (learner!.core.domains!.published.meta('a.test')?.version === previous ? true : undefined), 30000, 'the learner adopted the rollback');
    const back = (await domainA())!;
    assert.deepEqual([back.version, back.nspam, back.domain!.previousVersion], [previous, 4, null]);
    await assert.rejects(rollbackDomain({ ...ops(), domain: 'a.test' }), (e: Error) => /names no previous version/.test(e.message) && /--remove/.test(e.message));
    // The next label is learnt on top of the rolled-back version.
    await labelA(4);
    const on = await eventually(async () => { const m = await domainA(); return m && m.nspam === 8 ? m : undefined; }, 60000, 'A learns on top of the rollback');
    assert.equal(on.domain!.previousVersion, previous);

    const removed = await removeDomain({ ...ops(), domain: 'a.test' });
    assert.equal(removed.version, on.version);
    await scoredForA(base.version, 'the scorer dropped A\'s model');
    await eventually(() => (learner!.core.domains!.has('a.test') ? undefined : true), 30000, 'the learner forgot A');
    assert.equal((await latest()).get(domainKey('a.test')), null);
    await assert.rejects(removeDomain({ ...ops(), domain: 'a.test' }), /no model for domain a\.test/);
    const dropped = (await ctx.metrics.getSingleMetric('scop_spam_learner_domains_dropped_total')!.get()).values.find((v) => v.labels.reason === 'removed');
    assert.ok((dropped?.value ?? 0) >= 1);
    // Its next labels start it again from zero.
    await labelA(4);
    const again = await eventually(async () => (await domainA()) ?? undefined, 60000, 'A learnt again');
    assert.deepEqual([again.nspam, again.domain!.previousVersion], [4, null]);
  });

  it('the global model retrained: residuals of the old line are no longer applied and are deleted; a rollback to the old line drops those of the new', async () => {
    const a = (await domainA())!;
    await scoredForA(`${base.version}+a.test@${a.version}`, 'A blended in on the base line');
    // A retrained model published by hand (a new line).
    const retrained = BayesModel.fromData(modelFromRecord(base));
    for (let i = 0; i < 3; i++) retrained.learn(['retrained', `extra${i}`], 'ham');
    const data = retrained.toData({ source: 'retrained by hand', trainedAt: Date.now() });
    await publishModel(ctx.kafka, ctx.codec, data, loadModelKeys({ env, dataDir: ctx.dataDir, needSigning: true }).signing!, fx.topics.model, MODEL_KEY, fx.topics.history);
    // The scorer applies A's residual no more (it corrects the old training's margins)…
    await scoredForA(data.version, 'the scorer on the retrained model without A\'s old residual');
    const listed = await modelsOnTopic({ kafka: ctx.kafka, codec: ctx.codec, log: ctx.log, modelTopic: fx.topics.model });
    assert.ok(listed.domains.every((d) => !d.applied), 'no residual is listed as applied on the new line');
    // …and the learner deletes it and states the new line in the global record.
    await eventually(async () => ((await latest()).get(domainKey('a.test')) === null ? true : undefined), 30000, 'A\'s stale residual deleted');
    assert.equal((await latest()).get(MODEL_KEY)!.learner!.line, data.version);
    const stale = (await ctx.metrics.getSingleMetric('scop_spam_learner_domains_dropped_total')!.get()).values.find((v) => v.labels.reason === 'stale-line');
    assert.ok((stale?.value ?? 0) >= 1);
    // New labels: a residual on the new line, blended in.
    await labelA(4);
    const fresh = await eventually(async () => (await domainA()) ?? undefined, 60000, 'A learnt on the new line');
    assert.deepEqual([fresh.domain!.base, fresh.nspam], [data.version, 4]);
    await scoredForA(`${data.version}+a.test@${fresh.version}`, 'A blended in on the new line');
    // Rolled back to the base model: its line again; the residual of the retrained line goes. (The stage
    // published the base model on a test topic that has no history topic: put it there as spam.model's would be.)
    const [first] = await readTopic(ctx.kafka, fx.topics.model, 1, { settleMs: 0 });
    await sendAll(ctx.kafka, fx.topics.history, [{ key: base.version, value: first!.value, headers: Object.fromEntries(Object.entries(first!.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0]! : v!])) }]);
    await rollbackModel({ ...ops(), to: base.version });
    await scoredForA(base.version, 'the scorer on the base model without the new line\'s residual');
    await eventually(async () => ((await latest()).get(domainKey('a.test')) === null ? true : undefined), 30000, 'the new line\'s residual deleted');
  });

  it('the cap full: a new domain evicts the domain idle past SPAM_LEARNER_DOMAIN_IDLE_DAYS, its tombstone in the same transaction as the new model', async () => {
    await learner!.stop();
    const capped = { ...env, SPAM_LEARNER_DOMAIN_MAX: '1', SPAM_LEARNER_DOMAIN_IDLE_DAYS: '1' };
    learner = await startLearner({ ...ctx, env: capped }, loadLearnerConfig(capped, ctx.dataDir));
    await labelA(4);
    const a = await eventually(async () => (await domainA()) ?? undefined, 60000, 'A learnt');
    const learnt = await eventually(async () => { const g = (await latest()).get(MODEL_KEY)!; return g.learner!.labelsLearnt === learner!.core.labelsLearnt ? g.learner!.labelsLearnt : undefined; }, 60000, 'A\'s labels counted in the global record');
    // B over the cap while A is active: learnt globally, no model of its own.
    const labelB = async (count: number) => label(await fx.score(many(NEW_SPAM, n += count, count), B), 'spam');
    await labelB(4);
    await eventually(async () => ((await latest()).get(MODEL_KEY)!.learner!.labelsLearnt === learnt + 4 ? true : undefined), 60000, 'B\'s labels published');
    assert.equal((await latest()).has(domainKey('b.test')), false, 'no model for B: the cap is full and A is not idle');
    // Two days pass for A (the clock of eviction is the labels' timestamps: A's newest label is set back, as if it were old).
    learner!.core.domains!.published.meta('a.test')!.lastLabelAt = Date.now() - 2 * 86_400_000;
    await labelB(4);
    const b = await eventually(async () => (await latest()).get(domainKey('b.test')) ?? undefined, 60000, 'B has a model now');
    assert.deepEqual([b.nspam, b.domain!.name], [4, 'b.test']);
    assert.equal((await latest()).get(domainKey('a.test')), null, 'A evicted (a tombstone)');
    assert.equal(learner!.core.domains!.has('a.test'), false);
    const evicted = (await ctx.metrics.getSingleMetric('scop_spam_learner_domains_dropped_total')!.get()).values.find((v) => v.labels.reason === 'evicted');
    assert.equal(evicted?.value, 1);
    // One transaction (service.ts publish): B's model, the global record with the positions, A's tombstone — next to each other on the topic.
    const records = await readTopic(ctx.kafka, fx.topics.model, 1, { settleMs: 500 });
    const bAt = records.findIndex((m) => m.key === domainKey('b.test'));
    assert.deepEqual(records.slice(bAt, bAt + 3).map((m) => [m.key, m.value.length > 0]), [[domainKey('b.test'), true], [MODEL_KEY, true], [domainKey('a.test'), false]]);
    assert.notEqual(a.version, b.version);
  });

  it('turned off: the learner deletes the domain models and the scorer stops blending them in', async () => {
    await learner!.stop();
    const off = { ...env, SPAM_LEARNER_DOMAIN_MODELS: 'false' };
    learner = await startLearner({ ...ctx, env: off }, loadLearnerConfig(off, ctx.dataDir));
    await learner.flush();
    const now = await latest();
    assert.equal(now.get(domainKey('a.test')), null, 'a tombstone for A');
    assert.equal(now.get(domainKey('b.test')), null, 'a tombstone for B');
    // (The global model learnt B's labels while B was over the cap: not the base version any more.)
    const global = now.get(MODEL_KEY)!.version;
    let i = 700;
    await eventually(async () => { const [r] = await fx.score([NEW_SPAM(i++)], B); return r!.spam!.modelVersion === global ? true : undefined; }, 30000, 'the scorer back on the global model for B');
  });
});
