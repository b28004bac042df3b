/**
 * Training and the evaluation protocol on tokenized, labelled messages: thresholds chosen by inner
 * cross-validation on the training part only, metrics where "unsure" counts as wrong.
 */
import { ADAGRAD_EPSILON, BayesModel, clampWeight, DEFAULT_LINEAR, featureScale, LinearPart, weightCap, roundWeight, type Label, type LinearOptions, type Thresholds, type Verdict } from './model.ts';
import { TOKENIZER_VERSION } from './tokenizer.ts';

export interface Labelled {
  tokens: string[];
  label: Label;
  /** For reports (e.g. corpus path or record id). */
  id?: string;
  /** Weight in the training loss (default 1): general.ts balances sources and classes with it. */
  weight?: number;
  /** A derived training-only copy (general.ts words-only copies): trains, but is never scored for calibration or cutoffs. */
  copy?: boolean;
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
  /**
   * The linear part (logistic regression on the same tokens), which then decides the score; null =
   * Bayes only. Measured on all five rotations it ranks spam above hard ham better than the Bayes
   * combination (README), so the counts are learnt plainly (no TUNE passes) and kept as memory.
   */
  linear?: LinearOptions | null;
}

export const DEFAULT_TRAIN: TrainOptions = { tunePasses: 0, tuneMargin: 0.1, linear: DEFAULT_LINEAR };
/** The former model: Bayes with TUNE passes (kept for comparison, bench). */
export const BAYES_TRAIN: TrainOptions = { tunePasses: 3, tuneMargin: 0.1, linear: null };

/** FNV-1a: a fixed, platform-independent shuffle key. */
function fnv1a(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/**
 * AdaGrad epochs over the items in a deterministic per-epoch shuffle (keyed by id, else position).
 * Same arithmetic as LinearPart.step, on dense arrays indexed by token (10× faster than maps);
 * feature values (NB scaling) from these items' own counts, so an inner-CV fold never sees the
 * messages it scores; rounded once at the end (roundWeight), weights stored as weight × value.
 * `capScale` (training only, general.ts source stability): a token's influence cap × this factor in
 * [0, 1] (absent: 1); the model keeps the per-kind cap for its feedback steps.
 */
export function fitLinear(items: Labelled[], options: LinearOptions = DEFAULT_LINEAR, capScale?: ReadonlyMap<string, number>): LinearPart {
  const index = new Map<string, number>();
  const vectors = items.map((it) => Int32Array.from(new Set(it.tokens), (t) => {
    let v = index.get(t);
    if (v === undefined) { v = index.size; index.set(t, v); }
    return v;
  }));
  const hamCounts = new Float64Array(index.size);
  const spamCounts = new Float64Array(index.size);
  let nham = 0;
  let nspam = 0;
  items.forEach((it, i) => {
    const spam = it.label === 'spam';
    if (spam) nspam++; else nham++;
    for (const t of vectors[i]!) (spam ? spamCounts : hamCounts)[t]!++;
  });
  const scale = Float64Array.from(hamCounts, (h, t) => featureScale(options.nbScale, h, spamCounts[t]!, nham, nspam));
  const w = new Float64Array(index.size);
  // The influence cap on the effective weight (weight × value), as a bound on the raw weight.
  const cap = new Float64Array(index.size);
  for (const [t, i] of index) {
    const c = weightCap(options.maxWeight, t);
    cap[i] = (Number.isFinite(c) ? c * (capScale?.get(t) ?? 1) : c) / scale[i]!;
  }
  const acc = new Float64Array(index.size);
  let bias = 0;
  let biasAcc = 0;
  const keys = items.map((it, i) => it.id ?? String(i));
  const order = items.map((_, i) => i);
  for (let e = 0; e < options.epochs; e++) {
    const k = order.map((i) => fnv1a(`${e}:${keys[i]}`));
    const key = new Map(order.map((i, j) => [i, k[j]!]));
    order.sort((a, b) => key.get(a)! - key.get(b)! || a - b);
    const rate = options.learningRate / Math.sqrt(1 + e);
    for (const i of order) {
      const x = vectors[i]!;
      const norm = Math.pow(Math.max(1, x.length), -options.lengthNorm);
      let m = 0;
      for (let j = 0; j < x.length; j++) m += w[x[j]!]! * scale[x[j]!]!;
      const g = (1 / (1 + Math.exp(-(m * norm + bias))) - (items[i]!.label === 'spam' ? 1 : 0)) * (items[i]!.weight ?? 1);
      const gn = g * norm;
      for (let j = 0; j < x.length; j++) {
        const t = x[j]!;
        const gk = gn * scale[t]!;
        const a = acc[t]! + gk * gk;
        acc[t] = a;
        w[t] = clampWeight(w[t]! - (rate * gk) / Math.sqrt(a + ADAGRAD_EPSILON), cap[t]!);
      }
      biasAcc += g * g;
      bias -= (rate * g) / Math.sqrt(biasAcc + ADAGRAD_EPSILON);
    }
  }
  const lin = new LinearPart({ ...options });
  lin.bias = roundWeight(bias);
  lin.biasAccum = roundWeight(biasAcc);
  for (const [t, i] of index) if (acc[i]! > 0) lin.weights.set(t, [roundWeight(w[i]! * scale[i]!), roundWeight(acc[i]!)]);
  return lin;
}

export function train(items: Labelled[], options: TrainOptions = DEFAULT_TRAIN, onProgress?: (done: number, total: number) => void, tokenizerVersion = TOKENIZER_VERSION): BayesModel {
  const m = new BayesModel(tokenizerVersion);
  const total = items.length * (1 + options.tunePasses);
  let done = 0;
  for (const it of items) {
    m.learnCounts(it.tokens, it.label);
    if (++done % 500 === 0) onProgress?.(done, total);
  }
  for (let p = 0; p < options.tunePasses; p++) {
    let relearnt = 0;
    for (const it of items) {
      const s = m.score(it.tokens).probability;
      if (it.label === 'ham' ? s > options.tuneMargin : s < 1 - options.tuneMargin) {
        m.learnCounts(it.tokens, it.label);
        relearnt++;
      }
      if (++done % 500 === 0) onProgress?.(done, total);
    }
    if (relearnt === 0) break;
  }
  if (options.linear) m.linear = fitLinear(items, options.linear);
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

export const DEFAULT_POLICY: ThresholdPolicy = { maxHamFpRate: 0.002, maxHamUnsureRate: 0, minSpamCutoff: 0.5 };

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

/** A labelled message with the source that collected it (corpus origin and class collection). */
export interface SourcedLabelled extends Labelled {
  source: string;
  /** Who made the collection the source belongs to (default: the source): Enron's mail and Enron-Spam's GP/BG spam were preprocessed alike. */
  origin?: string;
}

/**
 * Tokens that are evidence rather than a collection artifact: seen in at least `minSources` sources
 * (a token only one mailbox or honeypot ever produced says who collected the mail) and in at least
 * `minCount` messages. The default model trains on these only; a learner adds the rest from feedback.
 */
export function crossSourceTokens(items: readonly SourcedLabelled[], minSources = 2, minCount = 2): Set<string> {
  // Per token, the distinct sources seen so far, kept only up to minSources (enough to decide).
  const sources = new Map<string, string[]>();
  const count = new Map<string, number>();
  for (const it of items) {
    for (const t of it.tokens) {
      count.set(t, (count.get(t) ?? 0) + 1);
      const seen = sources.get(t);
      if (seen === undefined) sources.set(t, [it.source]);
      else if (seen.length < minSources && !seen.includes(it.source)) seen.push(it.source);
    }
  }
  const keep = new Set<string>();
  for (const [t, n] of count) if (n >= minCount && sources.get(t)!.length >= minSources) keep.add(t);
  return keep;
}

/** The items with only the tokens in `keep` (same order). */
export function restrictTokens<T extends Labelled>(items: readonly T[], keep: ReadonlySet<string>): T[] {
  return items.map((it) => ({ ...it, tokens: it.tokens.filter((t) => keep.has(t)) }));
}

/** Area under the ROC curve (ties count half): the chance a random spam scores above a random ham. */
export function auc(scores: readonly number[], labels: readonly Label[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  let nSpam = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!] === 'spam') { rankSum += rank; nSpam++; }
    i = j + 1;
  }
  const nHam = idx.length - nSpam;
  if (nSpam === 0 || nHam === 0) return NaN;
  return (rankSum - (nSpam * (nSpam + 1)) / 2) / (nSpam * nHam);
}

/** Spam recall with the best cutoff that keeps ham false positives at or below `maxFpRate` (an upper bound: the cutoff is chosen on the test set). */
export function recallAtFp(scores: readonly number[], labels: readonly Label[], maxFpRate: number): number {
  const ham = scores.filter((_, i) => labels[i] === 'ham').sort((a, b) => b - a);
  const spam = scores.filter((_, i) => labels[i] === 'spam');
  if (spam.length === 0 || ham.length === 0) return NaN;
  const allowed = Math.floor(ham.length * maxFpRate + 1e-9);
  const mustExceed = ham[allowed] ?? -Infinity;
  return spam.filter((s) => s > mustExceed).length / spam.length;
}

/**
 * Platt scaling: p = σ(a·margin + b), fitted by Newton's method on held-out margins (each class
 * weighted to half, so the fitted probability does not carry one corpus mix's class prior; with
 * Platt's smoothed targets). Margins from models that never saw those messages' corpus make the
 * probabilities mean the same on mail from elsewhere.
 */
export function plattFit(margins: readonly number[], labels: readonly Label[], fixedSlope?: number): { a: number; b: number } {
  const nS = labels.filter((l) => l === 'spam').length;
  const nH = labels.length - nS;
  const tS = (nS + 1) / (nS + 2);
  const tH = 1 / (nH + 2);
  const wS = 0.5 / Math.max(1, nS);
  const wH = 0.5 / Math.max(1, nH);
  const loss = (a: number, b: number) => {
    let l = 0;
    for (let i = 0; i < margins.length; i++) {
      const spam = labels[i] === 'spam';
      const z = a * margins[i]! + b;
      const t = spam ? tS : tH;
      // −[t·log σ(z) + (1−t)·log(1−σ(z))], computed stably.
      const lse = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
      l += (spam ? wS : wH) * (lse - t * z);
    }
    return l;
  };
  let a = fixedSlope ?? 1;
  let b = 0;
  let current = loss(a, b);
  for (let it = 0; it < 100; it++) {
    let gA = 0, gB = 0, hAA = 0, hAB = 0, hBB = 0;
    for (let i = 0; i < margins.length; i++) {
      const m = margins[i]!;
      const spam = labels[i] === 'spam';
      const w = spam ? wS : wH;
      const p = 1 / (1 + Math.exp(-(a * m + b)));
      const d = (p - (spam ? tS : tH)) * w;
      const h = Math.max(p * (1 - p), 1e-12) * w;
      gA += d * m; gB += d; hAA += h * m * m; hAB += h * m; hBB += h;
    }
    hAA += 1e-12; hBB += 1e-12;
    let dA = 0;
    let dB: number;
    if (fixedSlope !== undefined) dB = gB / hBB;
    else {
      const det = hAA * hBB - hAB * hAB;
      if (!(Math.abs(det) > 1e-30)) break;
      dA = (hBB * gA - hAB * gB) / det;
      dB = (hAA * gB - hAB * gA) / det;
    }
    // Newton direction with a backtracking line search: the loss is convex, every accepted step lowers it.
    let t = 1;
    let next = loss(a - t * dA, b - t * dB);
    while (next > current && t > 1e-8) { t /= 2; next = loss(a - t * dA, b - t * dB); }
    if (next > current) break;
    a -= t * dA; b -= t * dB;
    const gain = current - next;
    current = next;
    if (gain < 1e-14) break;
  }
  return { a, b };
}
