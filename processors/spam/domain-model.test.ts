/** Per-recipient-domain residuals: recipient domains, the blend, residual learning, isolation, the weight cap. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScoredBy, spamSection } from './scorer.ts';
import { blendedScore, domainModelFor, emptyDelta, forScoring, learnResidual, pruneDelta, recipientDomain, recipientDomains, type DomainModel } from './domain-model.ts';
import { BayesModel } from './model.ts';
import { linearTestModel, TEST_TOKENS } from './testing.ts';

const { ham: HAMT, spam: SPAMT, news: NEWS } = TEST_TOKENS;

describe('per-recipient-domain models', () => {
  it('recipient domains: lower-case A-labels, distinct and sorted; address literals and bare names have none', async () => {
    assert.equal(recipientDomain('Bob@Example.NET'), 'example.net');
    assert.equal(recipientDomain('bob@bücher.example'), 'xn--bcher-kva.example');
    assert.equal(recipientDomain('bob@example.net.'), 'example.net');
    assert.equal(recipientDomain('postmaster'), null);
    assert.equal(recipientDomain('bob@[192.0.2.1]'), null);
    assert.equal(recipientDomain(`bob@${'a'.repeat(600)}`), null);
    assert.deepEqual(recipientDomains(['a@B.test', 'c@b.test', 'd@a.test', 'x']), ['a.test', 'b.test']);
  });

  it('a message applies its domain model only when all its recipients share that domain', async () => {
    const m = await linearTestModel();
    const a: DomainModel = { name: 'a.test', delta: forScoring(emptyDelta(m)), version: 'v', base: 'line-1' };
    const models = new Map([['a.test', a]]);
    assert.equal(domainModelFor(['x@a.test', 'y@A.test'], models, 'line-1'), a);
    assert.equal(domainModelFor(['x@a.test', 'y@b.test'], models, 'line-1'), null, 'several domains: the global model');
    assert.equal(domainModelFor(['x@b.test'], models, 'line-1'), null);
    assert.equal(domainModelFor([], models, 'line-1'), null);
    // Learnt against another line of the global model (retrained, rolled back), or of unknown line: not applied.
    assert.equal(domainModelFor(['x@a.test'], models, 'line-2'), null);
    assert.equal(domainModelFor(['x@a.test'], new Map([['a.test', { ...a, base: null }]]), 'line-1'), null);
  });

  it('an empty residual adds nothing: the blend is the global score', async () => {
    const m = await linearTestModel();
    for (const t of [HAMT(99), SPAMT(99), NEWS(1)]) assert.deepEqual(blendedScore(m, emptyDelta(m), t), m.score(t));
  });

  it('labels into A\'s residual move A\'s scores and nothing else: not the global model, not B', async () => {
    const global = await linearTestModel();
    const version = global.computeVersion();
    const a = emptyDelta(global);
    const b = emptyDelta(global);
    for (let i = 0; i < 3; i++) learnResidual(b, global, HAMT(200 + i), 'ham', 5000);
    const bBefore = blendedScore(global, b, NEWS(0)).probability;
    const before = global.score(NEWS(0)).probability;
    assert.ok(before < 0.5, `the global model calls the newsletter ham-ish (${before})`);
    for (let i = 1; i <= 4; i++) learnResidual(a, global, NEWS(i), 'spam', 5000);
    assert.deepEqual([a.nham, a.nspam], [0, 4], 'the residual counts the domain\'s labels');
    const after = blendedScore(global, a, NEWS(100));
    assert.equal(after.verdict, 'spam', `A's next newsletter is spam for A (${after.probability})`);
    assert.equal(global.computeVersion(), version, 'the global model is untouched');
    assert.equal(global.score(NEWS(100)).probability, global.score(NEWS(100)).probability);
    assert.equal(blendedScore(global, b, NEWS(0)).probability, bBefore, 'B\'s blend is unchanged');
    // The residual learns what the global model gets wrong for A: ordinary ham stays ham for A.
    assert.equal(blendedScore(global, a, HAMT(300)).verdict, 'ham');
  });

  it('a label the global model already gets right moves the residual little (it learns only the difference)', async () => {
    const global = await linearTestModel();
    const right = emptyDelta(global);
    const wrong = emptyDelta(global);
    learnResidual(right, global, SPAMT(500), 'spam', 5000);
    learnResidual(wrong, global, HAMT(500), 'spam', 5000);
    const size = (d: BayesModel) => Math.abs(d.linear!.margin(SPAMT(500)) + d.linear!.margin(HAMT(500)));
    assert.ok(size(right) < size(wrong), `agreeing label ${size(right)} < disagreeing label ${size(wrong)}`);
  });

  it('keeps at most maxTokens weights, the strongest, the same way on every run', async () => {
    const global = await linearTestModel();
    const d1 = emptyDelta(global);
    const d2 = emptyDelta(global);
    for (let i = 0; i < 60; i++) {
      const t = [...NEWS(i), `extra${i}a`, `extra${i}b`, `extra${i}c`];
      learnResidual(d1, global, t, i % 3 ? 'spam' : 'ham', 100);
      learnResidual(d2, global, t, i % 3 ? 'spam' : 'ham', 100);
      assert.ok(d1.linear!.weights.size <= 100);
    }
    assert.deepEqual(d1.toData({ source: 'x', trainedAt: 1 }), d2.toData({ source: 'x', trainedAt: 1 }));
    assert.ok(d1.counts.size <= 100, 'counts are pruned with the weights');
    const d = d1.clone();
    const strongest = [...d.linear!.weights].sort((a, b) => Math.abs(b[1][0]) - Math.abs(a[1][0]))[0]![0];
    pruneDelta(d, 1);
    assert.deepEqual([...d.linear!.weights.keys()], [strongest]);
    assert.deepEqual([...d.counts.keys()].filter((t) => t !== strongest), []);
  });

  it('the scorer\'s section: the blend\'s probability and verdict, and which residual in modelVersion', async () => {
    const global = await linearTestModel();
    const delta = emptyDelta(global);
    for (let i = 1; i <= 4; i++) learnResidual(delta, global, NEWS(i), 'spam', 5000);
    const active = { model: global, version: 'bayes-g' };
    const plain = spamSection(NEWS(100), active, 1);
    const blended = spamSection(NEWS(100), active, 1, { name: 'a.test', delta: forScoring(delta), version: 'bayes-a', base: 'bayes-g' });
    assert.equal(plain.modelVersion, 'bayes-g');
    assert.equal(blended.modelVersion, 'bayes-g+a.test@bayes-a');
    assert.deepEqual(parseScoredBy(plain.modelVersion), { global: 'bayes-g', domain: null });
    assert.deepEqual(parseScoredBy(blended.modelVersion), { global: 'bayes-g', domain: { name: 'a.test', version: 'bayes-a' } });
    for (const bad of ['+a.test@v', 'g+a.test', 'g+@v', 'g+a.test@']) assert.throws(() => parseScoredBy(bad), /neither <global> nor <global>\+<domain>@<version>/, bad);
    assert.equal(blended.verdict, 'spam');
    assert.notEqual(plain.verdict, 'spam');
    // The scorer keeps token → weight only: the same margins as the learner's residual, to the bit (also for tokens of weight 0).
    delta.linear!.weights.set('weekly', [0, 1]);
    for (const t of [NEWS(100), HAMT(1), SPAMT(2), ['weekly'], []]) {
      assert.equal(forScoring(delta).margin(t), delta.linear!.margin(t));
      assert.deepEqual(blendedScore(global, forScoring(delta), t), blendedScore(global, delta, t));
    }
  });

  it('needs a linear global model', async () => {
    const counts = new BayesModel('t');
    counts.learn(HAMT(1), 'ham');
    assert.throws(() => emptyDelta(counts), /linear/);
  });
});
