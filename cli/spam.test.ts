/**
 * The shipped default model and the evaluation protocols:
 *   - leave-one-corpus-out on two held-out groups (the headline protocol; skipped when
 *     ../shared/corpora is absent, as on a CI machine without it);
 *   - the SpamAssassin rotations, a secondary check with relaxed floors: issue 17 found that the
 *     former per-rotation targets were tuned on those rotations and do not predict real mail;
 *   - the shipped model file: its tokenizer, what it was trained on (shippable corpora only), calibrated cutoffs.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { evaluateRotation, rotationTable, spamAssassinExamples } from './spam.ts';
import { splitMbox, smtpForm } from './spam-corpus.ts';
import { corporaAvailable, LOCO_FOLDS, locoExamples, locoTable, runFold } from './spam-loco.ts';
import { SHARED_CORPORA } from '../corpus/shared-corpora.ts';
import { loadDefaultModel } from '../processors/spam/default-model.ts';
import type { Labelled } from '../processors/spam/evaluate.ts';
import { BayesModel } from '../processors/spam/model.ts';
import { TOKENIZER_VERSION } from '../processors/spam/tokenizer.ts';

describe('the shipped default model', () => {
  it('uses this tokenizer, is calibrated with an unsure band, and was trained on shippable corpora only', () => {
    const shipped = loadDefaultModel();
    assert.ok(shipped, 'processors/spam/default-model.json.gz exists');
    assert.equal(shipped.tokenizerVersion, TOKENIZER_VERSION, 'regenerate: scop spam train --corpora --out processors/spam/default-model.json.gz');
    assert.ok(shipped.calibration, 'calibrated on out-of-corpus scores');
    assert.ok(shipped.thresholds.ham < shipped.thresholds.spam, 'an unsure band between the cutoffs');
    for (const c of SHARED_CORPORA.filter((x) => !x.shippable)) assert.doesNotMatch(shipped.source, new RegExp(`\\b${c.name}\\b`), `${c.name} (${c.terms}) must not train the shipped model`);
    assert.doesNotMatch(shipped.source, /OPT-IN/);
    const m = BayesModel.fromData(shipped);
    assert.ok(m.linear && m.linear.weights.size > 10_000);
  });
});

describe('leave-one-corpus-out (../shared/corpora)', { skip: corporaAvailable() ? false : 'the shared corpora are not next to this checkout (../shared/corpora or SCOP_CORPORA_DIR)' }, () => {
  it('held-out group "enron + glitchy": ranks held-out spam above held-out ham, the shipped cutoff keeps FP low, the unsure band is used', async () => {
    const examples = await locoExamples();
    const fold = LOCO_FOLDS.find((f) => f.name === 'enron + glitchy')!;
    // Smaller groups than the shipped training (maxPerGroup): the same procedure, in about a minute.
    const r = runFold(examples, fold, { maxPerGroup: 1500 });
    console.log(locoTable([r]));
    assert.equal(r.ham, 3000);
    assert.equal(r.spam, 190);
    assert.ok(!r.ids.some((id) => id.startsWith('phishing/')));
    // Floors well under the measured values (README), so that a broken pipeline fails, not noise.
    assert.ok(r.auc >= 0.9, `AUC ${r.auc}`);
    assert.ok(r.metrics.hamFpRate <= 0.02, `ham FP ${r.metrics.hamFpRate}`);
    assert.ok(r.metrics.confusion.ham.unsure + r.metrics.confusion.spam.unsure > 0, 'the unsure band is used');
  });

  it('held-out group "spamassassin": the cutoffs chosen on mixed inner folds catch spam at a low FP (single-source folds put them at 0.999+)', async () => {
    const examples = await locoExamples();
    const fold = LOCO_FOLDS.find((f) => f.name === 'spamassassin')!;
    const r = runFold(examples, fold, { maxPerGroup: 1500 });
    console.log(locoTable([r]), r.thresholds);
    assert.equal(r.ham, 4150);
    // Measured at the shipped group size: inner folds by origin with the spam cutoff at 0.15 % 22.8 % recall at 0.14 % FP (inner
    // folds by source at 0.25 %: 11.7 % at 0.02 %; tok-5 before source stability 18.9 % at 0.12 %; one fit: 36.7 % at 0.27 %); at
    // this test's group size 24.1 % at 0.29 % (by source at 0.15 %: 4.5 % at 0.02 %; by source at 0.25 %: 7.6 % at 0.07 %). Single-source inner folds
    // caught 3.4 % at 0 FP with a cutoff of 1.000. The floor sits between by origin and by source: Enron's ham scored beside
    // Enron-Spam's spam in an inner fold pulls the cutoffs up (processors/spam/README.md, "Inner folds by origin").
    assert.ok(r.metrics.spamRecall >= 0.15, `recall at the own cutoffs ${r.metrics.spamRecall} (cutoffs ${JSON.stringify(r.thresholds)})`);
    assert.ok(r.metrics.hamFpRate <= 0.01, `ham FP ${r.metrics.hamFpRate}`);
    assert.ok(r.thresholds.spam < 0.999, `spam cutoff ${r.thresholds.spam}`);
  });
});

describe('SpamAssassin rotations (secondary row)', () => {
  let examples: Labelled[];
  before(async () => {
    examples = await spamAssassinExamples(true);
  });

  it('rotation 0 through the real MIME parser: every message tested once; relaxed floors', () => {
    const r = evaluateRotation(examples, 0);
    console.log(rotationTable([r]));
    assert.equal(r.metrics.ham, 830);
    assert.equal(r.metrics.spam, 380);
    assert.ok(r.metrics.accuracy >= 0.97, `accuracy ${r.metrics.accuracy}`);
    assert.ok(r.metrics.hamFpRate <= 0.005, `ham FP ${r.metrics.hamFpRate}`);
  });
});

describe('message sources', () => {
  it('splits an mbox (mboxrd unescaping) and puts messages in SMTP form', () => {
    const mbox = Buffer.from('From a@x Mon Jan 1 00:00:00 2024\nSubject: one\n\n>From the start\nbody\n\nFrom b@y Mon Jan 1 00:00:00 2024\nSubject: two\n\nhi\n');
    const msgs = splitMbox(mbox);
    assert.equal(msgs.length, 2);
    assert.match(msgs[0]!.toString(), /^From a@x[^\n]*\nSubject: one\n\nFrom the start\nbody\n$/);
    assert.equal(smtpForm(msgs[1]!).toString(), 'Subject: two\r\n\r\nhi');
    assert.deepEqual(splitMbox(Buffer.from('')), []);
  });
});
