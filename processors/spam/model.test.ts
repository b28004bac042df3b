import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BAYES_TRAIN, chooseThresholds, crossValidatedScores, fitLinear, metrics, train, type Labelled } from './evaluate.ts';
import { BayesModel, DEFAULT_LINEAR, featureScale } from './model.ts';
import { modelFromRecord, modelToRecord } from './model-topic.ts';
import { schema } from '../../schemas/index.ts';

const ham = (i: number): Labelled => ({ tokens: ['meeting', 'agenda', `minutes${i % 7}`, 'thanks', `n${i}`], label: 'ham' });
const spam = (i: number): Labelled => ({ tokens: ['viagra', 'winner', `cash${i % 5}`, 'click', `s${i}`], label: 'spam' });
const data = [...Array.from({ length: 60 }, (_, i) => ham(i)), ...Array.from({ length: 40 }, (_, i) => spam(i))];

describe('Bayes model (Robinson / chi-square)', () => {
  it('separates ham and spam and explains itself', () => {
    const m = train(data, { ...BAYES_TRAIN, tunePasses: 0 });
    const s = m.score(['viagra', 'click', 'winner']);
    const h = m.score(['meeting', 'agenda', 'thanks']);
    assert.ok(s.probability > 0.99 && s.verdict === 'spam', `${s.probability}`);
    assert.ok(h.probability < 0.01 && h.verdict === 'ham', `${h.probability}`);
    assert.equal(s.clues[0]!.token === 'click' || s.clues[0]!.token === 'viagra' || s.clues[0]!.token === 'winner', true);
    assert.ok(s.score > 0 && h.score < 0);
    assert.equal(m.score(['never-seen']).probability, 0.5, 'no evidence → 0.5');
    assert.equal(m.score([]).verdict, 'unsure');
  });

  it('learns and unlearns one message at a time, exactly (Bayes counts)', () => {
    const m = train(data, { ...BAYES_TRAIN, tunePasses: 0 });
    const before = m.computeVersion();
    m.learn(['meeting', 'brand-new'], 'spam');
    assert.notEqual(m.computeVersion(), before);
    assert.deepEqual(m.counts.get('brand-new'), [0, 1]);
    m.unlearn(['meeting', 'brand-new'], 'spam');
    assert.equal(m.computeVersion(), before);
    assert.equal(m.counts.has('brand-new'), false);
  });

  it('linear part: separates, explains, learns one message incrementally (feedback)', () => {
    const m = train(data);
    assert.ok(m.linear, 'the default training fits the linear part');
    const s = m.score(['viagra', 'click', 'winner']);
    const h = m.score(['meeting', 'agenda', 'thanks']);
    assert.ok(s.probability > 0.9 && h.probability < 0.1, `${s.probability} ${h.probability}`);
    assert.ok(s.score > 0 && h.score < 0, 'score is the margin');
    assert.ok(['viagra', 'click', 'winner'].includes(s.clues[0]!.token) && s.clues[0]!.prob > 0.5);
    const odd = ['meeting', 'agenda', 'crypto-offer'];
    const before = m.score(odd).probability;
    const v0 = m.computeVersion();
    m.learn(odd, 'spam');
    assert.ok(m.score(odd).probability > before, 'a spam label moves the message towards spam');
    assert.notEqual(m.computeVersion(), v0);
    assert.deepEqual(m.counts.get('crypto-offer'), [0, 1]);
  });

  it('linear training is deterministic and independent of input order', () => {
    const a = fitLinear(data.map((d, i) => ({ ...d, id: `m${i}` })));
    const b = fitLinear([...data.map((d, i) => ({ ...d, id: `m${i}` }))].reverse());
    assert.deepEqual([...a.weights.entries()].sort(), [...b.weights.entries()].sort());
    assert.equal(a.bias, b.bias);
  });

  it('NB-scaled features: a token the counts call strong starts with more say; stored weights are effective ones', () => {
    const nb = { prior: 0.2, base: 0.5 };
    assert.equal(featureScale(null, 5, 0, 10, 10), 1, 'no NB scaling: presence is 1');
    assert.equal(featureScale(nb, 3, 3, 10, 10), 0.5, 'equal rates: only the base');
    assert.ok(Math.abs(featureScale(nb, 0, 9, 10, 10) - (0.5 + Math.log(9.2 / 0.2))) < 1e-12);
    assert.equal(featureScale(nb, 9, 0, 10, 10), featureScale(nb, 0, 9, 10, 10), 'ham and spam evidence alike');
    const items: Labelled[] = Array.from({ length: 40 }, (_, i) => ({ id: `m${i}`, label: i % 2 ? 'spam' : 'ham', tokens: [i % 2 ? 'offer' : 'agenda', `noise${i % 3}`, `x${i}`] }));
    const plain = fitLinear(items, { ...DEFAULT_LINEAR, nbScale: null });
    const scaled = fitLinear(items, DEFAULT_LINEAR);
    assert.notEqual(scaled.weights.get('offer')![0], plain.weights.get('offer')![0], 'the option changes the fit');
    // Scoring is the plain sum of stored weights (they carry the feature value), as for unscaled models.
    const m = train(items);
    const toks = ['offer', 'noise1'];
    const expected = (m.linear!.weights.get('offer')![0] + m.linear!.weights.get('noise1')![0]) / Math.sqrt(2) + m.linear!.bias;
    assert.ok(Math.abs(m.score(toks).score - expected) < 1e-12);
    // A model stored before NB scaling (no nbScale) loads and learns with presence = 1.
    const old = train(items, { ...BAYES_TRAIN, tunePasses: 0, linear: { ...DEFAULT_LINEAR, nbScale: null } }).toData({ source: 't', trainedAt: 1 });
    delete old.linear!.nbScale;
    const back = BayesModel.fromData(old);
    assert.equal(back.linear!.options.nbScale, null);
    assert.equal(back.computeVersion(), train(items, { ...BAYES_TRAIN, tunePasses: 0, linear: { ...DEFAULT_LINEAR, nbScale: null } }).computeVersion());
    // …and such a file still publishes: its Avro record carries nbScale null, and reads back the same.
    const avro = schema('SpamModel').type;
    const decoded = modelFromRecord(avro.fromBuffer(avro.toBuffer(modelToRecord(old))));
    assert.equal(decoded.linear!.nbScale, null);
    assert.equal(BayesModel.fromData(decoded).computeVersion(), back.computeVersion());
    const current = m.toData({ source: 't', trainedAt: 1 });
    assert.deepEqual({ ...modelFromRecord(avro.fromBuffer(avro.toBuffer(modelToRecord(current)))).linear!.nbScale }, DEFAULT_LINEAR.nbScale);
  });

  it('influence cap: no token leaves ±cap (words and structure apart), in training, feedback and the Avro round trip', () => {
    // One word and one structure token that each separate the classes alone: uncapped, AdaGrad gives them large weights.
    const items: Labelled[] = Array.from({ length: 80 }, (_, i) => ({ tokens: i % 2 ? ['pharmacy', 'relay:rdns:none', `w${i}`] : ['agenda', 'relay:rdns:static', `w${i}`], label: i % 2 ? 'spam' : 'ham' }));
    const free = fitLinear(items, DEFAULT_LINEAR);
    assert.ok(Math.abs(free.weights.get('pharmacy')![0]) > 2, 'uncapped, the word weighs more than the cap');
    const maxWeight = { word: 1, structure: 3 };
    const capped = fitLinear(items, { ...DEFAULT_LINEAR, maxWeight });
    for (const [t, [w]] of capped.weights) assert.ok(Math.abs(w) <= (t.startsWith('relay:') ? 3 : 1) + 1e-9, `${t} = ${w}`);
    assert.equal(Math.abs(capped.weights.get('pharmacy')![0]), 1);
    const m = new BayesModel('t');
    for (const it of items) m.learnCounts(it.tokens, it.label);
    m.linear = capped;
    for (let k = 0; k < 50; k++) m.learn(['pharmacy', 'relay:rdns:none'], 'spam');
    assert.ok(m.linear.weights.get('pharmacy')![0] <= 1 && m.linear.weights.get('relay:rdns:none')![0] <= 3, 'feedback stays inside the cap');
    const avro = schema('SpamModel').type;
    const back = BayesModel.fromData(modelFromRecord(avro.fromBuffer(avro.toBuffer(modelToRecord(m.toData({ source: 't', trainedAt: 1 }))))));
    assert.deepEqual({ ...back.linear!.options.maxWeight }, maxWeight);
    assert.equal(back.computeVersion(), m.computeVersion());
  });

  it('round-trips through its serialised form with the same version and scores', () => {
    const m = train(data);
    m.thresholds = { ham: 0.3, spam: 0.8 };
    const d = m.toData({ source: 'test', trainedAt: 1 });
    const back = BayesModel.fromData(JSON.parse(JSON.stringify(d)));
    assert.equal(back.computeVersion(), d.version);
    assert.equal(back.tokenizerVersion, d.tokenizerVersion);
    assert.deepEqual(back.score(['viagra', 'agenda']), m.score(['viagra', 'agenda']));
    assert.equal(d.formatVersion, 2);
    assert.ok(back.linear && back.linear.weights.size === m.linear!.weights.size);
    const bayesOnly = train(data, BAYES_TRAIN).toData({ source: 'test', trainedAt: 1 });
    assert.equal(bayesOnly.formatVersion, 1);
    assert.equal(BayesModel.fromData(bayesOnly).computeVersion(), bayesOnly.version, 'format 1 models still load');
    assert.throws(() => BayesModel.fromData({ ...d, linear: { ...d.linear!, weights: [1] } }), /differ in length/);
    assert.throws(() => BayesModel.fromData({ ...d, format: 'other' as never }), /not a scop spam model/);
  });

  it('is deterministic: same data, same version', () => {
    assert.equal(train(data).computeVersion(), train(data).computeVersion());
  });

  it('chooses thresholds on out-of-fold scores within the FP budget', () => {
    const noisy = [...data, { tokens: ['viagra', 'winner', 'click', 'odd-ham'], label: 'ham' as const }];
    const oof = crossValidatedScores(noisy, 5);
    assert.equal(oof.length, noisy.length);
    const t = chooseThresholds(oof, noisy.map((x) => x.label), { maxHamFpRate: 0, maxHamUnsureRate: 0, minSpamCutoff: 0.5 });
    const hamScores = oof.filter((_, i) => noisy[i]!.label === 'ham');
    assert.ok(hamScores.every((s) => s < t.spam), 'no training ham at or above the spam cutoff');
    assert.ok(t.ham <= t.spam);
  });

  it('metrics count unsure as wrong and report ham unsure beside FPs', () => {
    const m = metrics(['ham', 'ham', 'ham', 'spam', 'spam'], ['ham', 'unsure', 'spam', 'spam', 'unsure']);
    assert.equal(m.accuracy, 2 / 5);
    assert.equal(m.spamRecall, 1 / 2);
    assert.equal(m.hamFpRate, 1 / 3);
    assert.equal(m.hamUnsureRate, 1 / 3);
    assert.deepEqual(m.confusion.spam, { ham: 0, unsure: 1, spam: 1 });
  });
});
