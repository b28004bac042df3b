/**
 * Training and the evaluation protocol on tokenized, labelled messages: thresholds chosen by inner
 * cross-validation on the training part only, metrics where "unsure" counts as wrong.
 */
import { BayesModel, type Label, type Thresholds, type Verdict } from './model.ts';
import { TOKENIZER_VERSION } from './tokenizer.ts';

export interface Labelled {
  tokens: string[];
  label: Label;
  /** For reports (e.g. corpus path or record id). */
  id?: string;
}

export interface Metrics {
  ham: number;
  spam: number;
  /** Rows: truth; columns: verdict. */
  confusion: Record<Label, Record<Verdict, number>>;
  /** Correct / all; unsure is wrong. */
  accuracy: number;
  /** Spam called spam / spam. */
  spamRecall: number;
  /** Ham called spam / ham. */
  hamFpRate: number;
  /** Ham called unsure / ham. */
  hamUnsureRate: number;
}

export interface TrainOptions {
  /**
   * Extra passes of "train until no errors" with a thick threshold (as DSPAM's TUNE / CRM114's
   * thick-threshold training): messages the model scores on the wrong side of the margins are
   * learnt once more. This is what gives a one-off hard ham (a newsletter) weight against the many
   * spam that share its words. 0 = plain training.
   */
  tunePasses: number;
  /** Ham scoring above this, or spam below 1 − this, is learnt again. */
  tuneMargin: number;
}

export const DEFAULT_TRAIN: TrainOptions = { tunePasses: 3, tuneMargin: 0.1 };

export function train(items: Labelled[], options: TrainOptions = DEFAULT_TRAIN, onProgress?: (done: number, total: number) => void, tokenizerVersion = TOKENIZER_VERSION): BayesModel {
  const m = new BayesModel(tokenizerVersion);
  const total = items.length * (1 + options.tunePasses);
  let done = 0;
  for (const it of items) {
    m.learn(it.tokens, it.label);
    if (++done % 500 === 0) onProgress?.(done, total);
  }
  for (let p = 0; p < options.tunePasses; p++) {
    let relearnt = 0;
    for (const it of items) {
      const s = m.score(it.tokens).probability;
      if (it.label === 'ham' ? s > options.tuneMargin : s < 1 - options.tuneMargin) {
        m.learn(it.tokens, it.label);
        relearnt++;
      }
      if (++done % 500 === 0) onProgress?.(done, total);
    }
    if (relearnt === 0) break;
  }
  onProgress?.(total, total);
  return m;
}

/** Out-of-fold spam probabilities: each message scored by a model trained on the other folds (fold = position % k). */
export function crossValidatedScores(items: Labelled[], folds = 5, options: TrainOptions = DEFAULT_TRAIN): number[] {
  const out = new Array<number>(items.length);
  for (let f = 0; f < folds; f++) {
    const m = train(items.filter((_, i) => i % folds !== f), options);
    for (let i = f; i < items.length; i += folds) out[i] = m.score(items[i]!.tokens).probability;
  }
  return out;
}

export interface ThresholdPolicy {
  /** Largest share of training ham allowed at or above the spam cutoff (out-of-fold). */
  maxHamFpRate: number;
  /** Largest share of training ham allowed in the unsure band (out-of-fold). */
  maxHamUnsureRate: number;
  /** The spam cutoff is never below this. */
  minSpamCutoff: number;
}

export const DEFAULT_POLICY: ThresholdPolicy = { maxHamFpRate: 0.002, maxHamUnsureRate: 0.003, minSpamCutoff: 0.5 };

/**
 * Spam cutoff: the lowest that keeps out-of-fold ham false positives within the policy (so as much
 * spam as possible is caught at that FP rate), placed midway into the gap above the ham score it
 * must exceed. Ham cutoff: as low as the ham-unsure budget allows, so spam the model is not sure
 * of goes to the unsure band (junk) rather than the inbox.
 */
export function chooseThresholds(scores: number[], labels: Label[], policy: ThresholdPolicy = DEFAULT_POLICY): Thresholds {
  const ham = scores.filter((_, i) => labels[i] === 'ham').sort((a, b) => b - a);
  const allowedFp = Math.floor(ham.length * policy.maxHamFpRate);
  // Ham scores sorted high → low: ham[allowedFp] is the highest ham that must stay below the cutoff.
  const mustExceed = ham[allowedFp] ?? 0;
  const above = [...scores].filter((s) => s > mustExceed).sort((a, b) => a - b)[0] ?? 1;
  let spam = Math.max(policy.minSpamCutoff, (mustExceed + above) / 2);
  if (spam <= mustExceed) spam = Math.min(1, mustExceed + 1e-9);
  const allowedUnsure = Math.floor(ham.length * policy.maxHamUnsureRate);
  const inBand = ham.filter((s) => s < spam);
  // inBand is sorted high → low; the ham cutoff sits just above the (allowedUnsure+1)-th highest of them.
  const hamEdge = inBand[allowedUnsure];
  const hamCut = hamEdge === undefined ? 0 : Math.min(spam, hamEdge + 1e-9);
  return { ham: hamCut, spam };
}

export function metrics(truth: Label[], verdicts: Verdict[]): Metrics {
  const confusion: Metrics['confusion'] = { ham: { ham: 0, unsure: 0, spam: 0 }, spam: { ham: 0, unsure: 0, spam: 0 } };
  truth.forEach((t, i) => confusion[t][verdicts[i]!]++);
  const ham = confusion.ham.ham + confusion.ham.unsure + confusion.ham.spam;
  const spam = confusion.spam.ham + confusion.spam.unsure + confusion.spam.spam;
  return {
    ham, spam, confusion,
    accuracy: (confusion.ham.ham + confusion.spam.spam) / Math.max(1, ham + spam),
    spamRecall: confusion.spam.spam / Math.max(1, spam),
    hamFpRate: confusion.ham.spam / Math.max(1, ham),
    hamUnsureRate: confusion.ham.unsure / Math.max(1, ham),
  };
}

/** Trains on `trainSet` with thresholds from inner cross-validation on it, then scores `testSet`. */
export function trainAndTest(trainSet: Labelled[], testSet: Labelled[], policy: ThresholdPolicy = DEFAULT_POLICY, options: TrainOptions = DEFAULT_TRAIN): { model: BayesModel; metrics: Metrics; scores: number[] } {
  const model = trainWithThresholds(trainSet, policy, options);
  const scores = testSet.map((t) => model.score(t.tokens).probability);
  return { model, scores, metrics: metrics(testSet.map((t) => t.label), scores.map((s) => model.verdictFor(s))) };
}

export function trainWithThresholds(trainSet: Labelled[], policy: ThresholdPolicy = DEFAULT_POLICY, options: TrainOptions = DEFAULT_TRAIN, folds = 5): BayesModel {
  const oof = crossValidatedScores(trainSet, folds, options);
  const model = train(trainSet, options);
  model.thresholds = chooseThresholds(oof, trainSet.map((t) => t.label), policy);
  return model;
}
