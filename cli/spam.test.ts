/**
 * The corpus protocol on rotation 0 through the real MIME parser (as `scop spam eval --rotation 0`),
 * and the shipped default model checked against what training produces today.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { evaluateRotation, formatMetrics, spamAssassinExamples } from './spam.ts';
import { splitMbox, smtpForm } from './spam-corpus.ts';
import { loadDefaultModel } from '../processors/spam/default-model.ts';
import { train, type Labelled } from '../processors/spam/evaluate.ts';
import { TOKENIZER_VERSION } from '../processors/spam/tokenizer.ts';

describe('spam model on the SpamAssassin corpus', () => {
  let examples: Labelled[];
  before(async () => {
    examples = await spamAssassinExamples(true);
  });

  it('rotation 0: accuracy, recall and ham false positives (thresholds from the training part only)', () => {
    const r = evaluateRotation(examples, 0);
    console.log(formatMetrics(r.metrics));
    assert.equal(r.metrics.ham, 830);
    assert.equal(r.metrics.spam, 380);
    // Issue 6 targets, met on rotation 0 (README: all five rotations and the average).
    assert.ok(r.metrics.confusion.ham.spam <= 2, `ham FP ${r.metrics.confusion.ham.spam}`);
    assert.ok(r.metrics.hamUnsureRate <= 0.02, `ham unsure ${r.metrics.hamUnsureRate}`);
    assert.ok(r.metrics.accuracy >= 0.99, `accuracy ${r.metrics.accuracy}`);
    assert.ok(r.metrics.spamRecall >= 0.97, `recall ${r.metrics.spamRecall}`);
  });

  it('the shipped default model is what training on the whole corpus gives with this tokenizer and parser', () => {
    const shipped = loadDefaultModel();
    assert.ok(shipped, 'processors/spam/default-model.json.gz exists');
    assert.equal(shipped.tokenizerVersion, TOKENIZER_VERSION);
    const fresh = train(examples);
    assert.equal(shipped.nspam, fresh.nspam);
    assert.equal(shipped.nham, fresh.nham);
    // Counts decide the scores; thresholds come from cross-validation on the same data (not redone here, it costs 5 more trainings).
    const regen = 'regenerate: scop spam train --spamassassin --out processors/spam/default-model.json.gz';
    assert.equal(shipped.tokens.length, fresh.counts.size, regen);
    for (const [t, h, s] of shipped.tokens) {
      const c = fresh.counts.get(t);
      if (!c || c[0] !== h || c[1] !== s) assert.fail(`token ${t}: shipped ${h}/${s}, trained ${c?.[0]}/${c?.[1]} — ${regen}`);
    }
    // The linear part decides the score: its weights must be today's too.
    assert.ok(shipped.linear && fresh.linear, regen);
    assert.equal(shipped.linear.bias, fresh.linear.bias, regen);
    shipped.tokens.forEach(([t], i) => {
      const w = fresh.linear!.weights.get(t) ?? [0, 0];
      if (w[0] !== shipped.linear!.weights[i] || w[1] !== shipped.linear!.accums[i]) assert.fail(`token ${t}: shipped weight ${shipped.linear!.weights[i]}, trained ${w[0]} — ${regen}`);
    });
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
