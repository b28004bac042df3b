/**
 * A sparse Bayes model with Robinson's token probabilities and Fisher/Robinson chi-square combining
 * (as SpamBayes and Bogofilter do). It keeps per-token message counts, so it learns (and unlearns)
 * one message at a time, and the counts are all a model is: merging and serialising are exact.
 *
 * Hand-written: no maintained npm library does sparse incremental Bayes with chi-square combining
 * (ml-naivebayes is dense and batch-only; see README for the comparison).
 */
import { createHash } from 'node:crypto';
import { isWordToken } from './token-kinds.ts';

export type Label = 'ham' | 'spam';
export type Verdict = 'ham' | 'unsure' | 'spam';

export interface ModelOptions {
  /** Robinson's s: strength of the prior x for rare tokens. */
  unknownWordStrength: number;
  /** Robinson's x: probability assumed for a token never seen. */
  unknownWordProb: number;
  /** Tokens whose |p − 0.5| is below this are ignored. */
  minimumProbStrength: number;
  /** At most this many strongest tokens are combined. */
  maxDiscriminators: number;
}

export const DEFAULT_OPTIONS: ModelOptions = {
  unknownWordStrength: 0.45,
  unknownWordProb: 0.5,
  minimumProbStrength: 0.1,
  maxDiscriminators: 150,
};

export interface Thresholds {
  /** Below: ham. */
  ham: number;
  /** At or above: spam; between: unsure. */
  spam: number;
}

export interface Clue {
  token: string;
  /** Robinson f(w): the token's spam probability. */
  prob: number;
}

export interface Score {
  /** Chi-square combined spam probability, 0..1. */
  probability: number;
  /** Sum of the clues' log-odds ln(f/(1−f)): unbounded, keeps ordering where the probability saturates. */
  score: number;
  verdict: Verdict;
  /** The clues used, strongest first. */
  clues: Clue[];
}

/**
 * NB-weighted features (NBSVM, Wang & Manning 2012): a token present in a message has the value
 * base + |r|, r = ln((spam count + prior) / (nspam + 2·prior)) − ln((ham count + prior) / (nham + 2·prior)),
 * its smoothed log-ratio of spam to ham message rates, instead of 1. Tokens the counts already call
 * strong start with more say and rare ones with less, which the regression alone learns slowly from
 * ~5,000 messages (README: the five rotations with and without).
 */
export interface NbScale {
  readonly prior: number;
  readonly base: number;
}

/** A token's feature value: 1 without NB scaling, else base + |r| (see NbScale). */
export function featureScale(nb: NbScale | null | undefined, hamCount: number, spamCount: number, nham: number, nspam: number): number {
  if (!nb) return 1;
  const a = nb.prior;
  return nb.base + Math.abs(Math.log((spamCount + a) / (nspam + 2 * a)) - Math.log((hamCount + a) / (nham + 2 * a)));
}

/**
 * The discriminative part: logistic regression on the same tokens (presence, NB-scaled when
 * nbScale is set; the message's vector scaled by n^-lengthNorm), trained by AdaGrad SGD. When present
 * it decides the probability; the Bayes counts stay as the model's memory (exact counts, what a
 * rebuild or a new model kind needs). Stored weights are effective ones (weight × the token's feature
 * value at training), so scoring is a plain sum.
 */
export interface LinearOptions {
  /** AdaGrad base learning rate (epoch e uses rate / sqrt(1 + e)). */
  learningRate: number;
  /** The message's token vector is scaled by n^-lengthNorm (0.5: unit length for binary features). */
  lengthNorm: number;
  /** Passes over the training set. */
  epochs: number;
  /** NB-weighted features (immutable, shared by copies); null (models before it): every present token is 1. */
  readonly nbScale: NbScale | null;
  /**
   * Per-token influence cap (issue 17): no token's effective weight leaves ±word (words) or
   * ±structure (structure tokens, token-kinds.ts), in training and in every feedback step. Without
   * it AdaGrad's first steps give rare words weights of ±20–40 (a weekday in a quoted reply decided a
   * message alone), which held on the training corpora and failed on every other. Null/absent
   * (models before it): no cap.
   */
  readonly maxWeight?: MaxWeight | null;
}

export interface MaxWeight {
  readonly word: number;
  readonly structure: number;
}

/** The cap of a token's effective weight (Infinity without a cap). */
export function weightCap(maxWeight: MaxWeight | null | undefined, token: string): number {
  if (!maxWeight) return Infinity;
  return isWordToken(token) ? maxWeight.word : maxWeight.structure;
}

/** x clamped to ±cap. */
export const clampWeight = (x: number, cap: number) => (x > cap ? cap : x < -cap ? -cap : x);

export const DEFAULT_LINEAR: LinearOptions = { learningRate: 2, lengthNorm: 0.5, epochs: 10, nbScale: { prior: 0.2, base: 0.5 } };

/**
 * Added to AdaGrad's accumulator before the square root. Without it a token's first update is a full
 * ±rate step even when the message is already scored right (gradient ~1e-15); with it such updates
 * stay small. 1e-6 measured best for the FP budget on the five rotations (README).
 */
export const ADAGRAD_EPSILON = 1e-6;

/** Clues a linear score returns (the strongest weights among the message's tokens); the scorer shows 15. */
export const LINEAR_CLUES = 20;

/** Stored weights and AdaGrad accumulators are rounded to 1e-9: shorter JSON, exact round trips (JSON and Avro), the same version everywhere. */
export const roundWeight = (x: number) => Math.round(x * 1e9) / 1e9;

export class LinearPart {
  bias = 0;
  biasAccum = 0;
  /** token → [weight, AdaGrad sum of squared gradients]. */
  readonly weights = new Map<string, [number, number]>();
  constructor(readonly options: LinearOptions = { ...DEFAULT_LINEAR }) {}

  /** Bias + the sum of the known tokens' weights, scaled by n^-lengthNorm with n = the known tokens (unknown ones carry no evidence and do not dilute it). */
  margin(tokens: readonly string[]): number {
    let s = 0;
    let n = 0;
    for (const t of tokens) {
      const w = this.weights.get(t);
      if (w) { s += w[0]; n++; }
    }
    return s * Math.pow(Math.max(1, n), -this.options.lengthNorm) + this.bias;
  }

  /**
   * One AdaGrad step on one message (distinct tokens); y = 1 for spam. Used for incremental learning
   * (training uses fitLinear's dense arrays). `scaleOf` gives a token's feature value from the
   * model's current counts (1 without NB scaling); the stored effective weight moves by value × step.
   */
  step(tokens: readonly string[], y: number, rate: number, scaleOf: (token: string) => number = () => 1, offset = 0): void {
    // Every token is known after this step, so it is normalised by all of them (as training does).
    let sum = 0;
    for (const t of tokens) sum += this.weights.get(t)?.[0] ?? 0;
    // offset: a fixed margin added to this part's (a per-domain residual learns on top of the global margin, domain-model.ts).
    const p = 1 / (1 + Math.exp(-(sum * Math.pow(Math.max(1, tokens.length), -this.options.lengthNorm) + this.bias + offset)));
    const g = p - y;
    const gn = g * Math.pow(Math.max(1, tokens.length), -this.options.lengthNorm);
    if (gn === 0) return;
    for (const t of tokens) {
      let w = this.weights.get(t);
      if (!w) { w = [0, 0]; this.weights.set(t, w); }
      const scale = scaleOf(t);
      const gk = gn * scale;
      const acc = w[1] + gk * gk;
      w[0] = roundWeight(clampWeight(w[0] - (scale * rate * gk) / Math.sqrt(acc + ADAGRAD_EPSILON), weightCap(this.options.maxWeight, t)));
      w[1] = roundWeight(acc);
    }
    const acc = this.biasAccum + g * g;
    this.bias = roundWeight(this.bias - (rate * g) / Math.sqrt(acc + ADAGRAD_EPSILON));
    this.biasAccum = roundWeight(acc);
  }

  /** The rate of the last training epoch: what one feedback message is learnt with. */
  get feedbackRate(): number {
    return this.options.learningRate / Math.sqrt(Math.max(1, this.options.epochs));
  }

  clone(): LinearPart {
    const l = new LinearPart({ ...this.options });
    l.bias = this.bias;
    l.biasAccum = this.biasAccum;
    for (const [t, w] of this.weights) l.weights.set(t, [w[0], w[1]]);
    return l;
  }
}

/** Serialised form (JSON, and the Avro spam-model record carries the same fields). */
export interface ModelData {
  format: 'scop-spam-bayes';
  /** 1: counts only (Bayes decides); 2: counts + the linear part (it decides). */
  formatVersion: 1 | 2;
  /** Content hash of the counts + options + thresholds + tokenizer (see computeVersion). */
  version: string;
  tokenizerVersion: string;
  trainedAt: number;
  /** Free text: what it was trained on. */
  source: string;
  nham: number;
  nspam: number;
  thresholds: Thresholds;
  options: ModelOptions;
  /** Sorted by token: [token, hamCount, spamCount]. */
  tokens: [string, number, number][];
  /** formatVersion 2: the linear part; weights[i] / accums[i] belong to tokens[i] (0 where it has none). */
  linear?: Omit<LinearOptions, 'nbScale' | 'maxWeight'> & { nbScale?: NbScale | null; maxWeight?: MaxWeight | null; bias: number; biasAccum: number; weights: number[]; accums: number[] } | null;
  /** Platt scaling of the linear margin (probability = σ(a·margin + b)); absent/null: σ(margin). */
  calibration?: Calibration | null;
}

/** Maps the linear margin to a probability fitted on out-of-corpus scores (general.ts). */
export interface Calibration {
  a: number;
  b: number;
}

/** Upper tail of the chi-square distribution with v (even) degrees of freedom. */
function chi2Q(x2: number, v: number): number {
  const m = x2 / 2;
  let sum = Math.exp(-m);
  let term = sum;
  for (let i = 1; i < v / 2; i++) {
    term *= m / i;
    sum += term;
  }
  return Math.min(sum, 1);
}

export class BayesModel {
  nham = 0;
  nspam = 0;
  /** token → [ham messages containing it, spam messages containing it]. */
  readonly counts = new Map<string, [number, number]>();
  thresholds: Thresholds = { ham: 0.2, spam: 0.9 };
  options: ModelOptions = { ...DEFAULT_OPTIONS };
  /** When set, the linear part scores (see LinearPart); else the Bayes chi-square combination does. */
  linear: LinearPart | null = null;
  /** Platt scaling of the linear margin; null: probability = σ(margin). */
  calibration: Calibration | null = null;

  constructor(readonly tokenizerVersion: string) {}

  /** Adds one message (its distinct tokens): its counts, and one step of the linear part (incremental learning, e.g. feedback). */
  learn(tokens: Iterable<string>, label: Label): void {
    const distinct = [...new Set(tokens)];
    this.adjust(distinct, label, 1);
    const l = this.linear;
    if (!l) return;
    const nb = l.options.nbScale;
    l.step(distinct, label === 'spam' ? 1 : 0, l.feedbackRate, (t) => {
      const c = this.counts.get(t) ?? [0, 0];
      return featureScale(nb, c[0], c[1], this.nham, this.nspam);
    });
  }

  /**
   * Removes a message's counts learnt earlier (exact). The linear part cannot forget one message
   * exactly; a correction is learnt forwards (learn with the right label), which moves it.
   */
  unlearn(tokens: Iterable<string>, label: Label): void {
    this.adjust(tokens, label, -1);
  }

  /** Counts only (training fits the linear part separately). */
  learnCounts(tokens: Iterable<string>, label: Label): void {
    this.adjust(tokens, label, 1);
  }

  private adjust(tokens: Iterable<string>, label: Label, by: 1 | -1): void {
    const i = label === 'ham' ? 0 : 1;
    if (label === 'ham') this.nham = Math.max(0, this.nham + by);
    else this.nspam = Math.max(0, this.nspam + by);
    for (const t of new Set(tokens)) {
      let c = this.counts.get(t);
      if (!c) {
        if (by < 0) continue;
        c = [0, 0];
        this.counts.set(t, c);
      }
      c[i] = Math.max(0, c[i] + by);
      if (c[0] === 0 && c[1] === 0) this.counts.delete(t);
    }
  }

  /** Robinson's f(w) for a token, or undefined when never seen. */
  tokenProb(token: string): number | undefined {
    const c = this.counts.get(token);
    if (!c) return undefined;
    const [hc, sc] = c;
    const hamRatio = this.nham ? hc / this.nham : 0;
    const spamRatio = this.nspam ? sc / this.nspam : 0;
    const p = hamRatio + spamRatio > 0 ? spamRatio / (hamRatio + spamRatio) : this.options.unknownWordProb;
    const n = hc + sc;
    const { unknownWordStrength: s, unknownWordProb: x } = this.options;
    return (s * x + n * p) / (s + n);
  }

  /**
   * Scores a message's distinct tokens (as tokenize() returns them). `extraMargin` (linear models):
   * added to the margin before calibration (a per-domain residual, domain-model.ts).
   */
  score(tokens: readonly string[], extraMargin = 0): Score {
    if (this.linear) return this.linearScore(this.linear, tokens, extraMargin);
    const { minimumProbStrength, maxDiscriminators, unknownWordStrength: s, unknownWordProb: x } = this.options;
    const clues: Clue[] = [];
    const nham = this.nham || 1;
    const nspam = this.nspam || 1;
    const sx = s * x;
    for (const token of tokens) {
      const c = this.counts.get(token);
      if (!c) continue;
      // tokenProb() inlined: this loop is the scorer's hot path.
      const hamRatio = c[0] / nham;
      const spamRatio = c[1] / nspam;
      const p = hamRatio + spamRatio > 0 ? spamRatio / (hamRatio + spamRatio) : x;
      const n = c[0] + c[1];
      const prob = (sx + n * p) / (s + n);
      if (Math.abs(prob - 0.5) < minimumProbStrength) continue;
      clues.push({ token, prob });
    }
    // Strongest first; ties broken by token so the choice does not depend on token order.
    clues.sort((a, b) => Math.abs(b.prob - 0.5) - Math.abs(a.prob - 0.5) || (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
    if (clues.length > maxDiscriminators) clues.length = maxDiscriminators;
    let probability = 0.5;
    let score = 0;
    if (clues.length > 0) {
      let lnH = 0;
      let lnS = 0;
      for (const c of clues) {
        lnH += Math.log(c.prob);
        lnS += Math.log(1 - c.prob);
        score += Math.log(c.prob / (1 - c.prob));
      }
      const n = clues.length;
      const S = 1 - chi2Q(-2 * lnS, 2 * n);
      const H = 1 - chi2Q(-2 * lnH, 2 * n);
      probability = (S - H + 1) / 2;
    }
    return { probability, score, verdict: this.verdictFor(probability), clues };
  }

  /** Linear scoring: one pass for the margin and the strongest tokens (kept by insertion: only LINEAR_CLUES are needed, no full sort). */
  private linearScore(linear: LinearPart, tokens: readonly string[], extraMargin: number): Score {
    const top: { token: string; w: number }[] = [];
    let sum = 0;
    let known = 0;
    for (const token of tokens) {
      const e = linear.weights.get(token);
      if (!e) continue;
      const w = e[0];
      sum += w;
      known++;
      const a = Math.abs(w);
      const last = top.length === LINEAR_CLUES ? top[LINEAR_CLUES - 1]! : null;
      if (a === 0 || (last && (a < Math.abs(last.w) || (a === Math.abs(last.w) && token > last.token)))) continue;
      let i = top.length === LINEAR_CLUES ? LINEAR_CLUES - 1 : top.length;
      // Strongest first; ties broken by token so the choice does not depend on token order.
      while (i > 0 && (Math.abs(top[i - 1]!.w) < a || (Math.abs(top[i - 1]!.w) === a && top[i - 1]!.token > token))) {
        if (i < LINEAR_CLUES) top[i] = top[i - 1]!;
        i--;
      }
      top[i] = { token, w };
    }
    const margin = sum * Math.pow(Math.max(1, known), -linear.options.lengthNorm) + linear.bias + extraMargin;
    const c = this.calibration;
    const probability = 1 / (1 + Math.exp(-(c ? c.a * margin + c.b : margin)));
    const clues = top.map((c) => ({ token: c.token, prob: 1 / (1 + Math.exp(-c.w)) }));
    return { probability, score: margin, verdict: this.verdictFor(probability), clues };
  }

  verdictFor(probability: number): Verdict {
    return probability >= this.thresholds.spam ? 'spam' : probability < this.thresholds.ham ? 'ham' : 'unsure';
  }

  clone(): BayesModel {
    const m = new BayesModel(this.tokenizerVersion);
    m.nham = this.nham;
    m.nspam = this.nspam;
    m.thresholds = { ...this.thresholds };
    m.options = { ...this.options };
    for (const [t, c] of this.counts) m.counts.set(t, [c[0], c[1]]);
    m.linear = this.linear?.clone() ?? null;
    m.calibration = this.calibration ? { ...this.calibration } : null;
    return m;
  }

  /** Deterministic content hash: the same training data gives the same version everywhere. */
  computeVersion(): string {
    const hash = createHash('sha256');
    const l = this.linear;
    // No cap, null or absent, hashes as models before the cap did (their versions stay).
    hash.update(JSON.stringify([this.tokenizerVersion, this.nham, this.nspam, this.thresholds, this.options, l ? [l.options.maxWeight ? l.options : { ...l.options, maxWeight: undefined }, l.bias, l.biasAccum] : null, ...(this.calibration ? [this.calibration] : [])]));
    for (const t of this.tokenList()) {
      const c = this.counts.get(t) ?? [0, 0];
      const w = l?.weights.get(t);
      hash.update(`${t}\u0000${c[0]}\u0000${c[1]}${w ? `\u0000${w[0]}\u0000${w[1]}` : ''}\n`);
    }
    return `bayes-${hash.digest('hex').slice(0, 16)}`;
  }

  /** Every token the model knows (counted or weighted), sorted. */
  private tokenList(): string[] {
    const all = new Set(this.counts.keys());
    if (this.linear) for (const t of this.linear.weights.keys()) all.add(t);
    return [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  toData(meta: { source: string; trainedAt?: number }): ModelData {
    const list = this.tokenList();
    const tokens = list.map((t) => { const c = this.counts.get(t) ?? [0, 0]; return [t, c[0], c[1]] as [string, number, number]; });
    const l = this.linear;
    return {
      format: 'scop-spam-bayes', formatVersion: l ? 2 : 1, version: this.computeVersion(), tokenizerVersion: this.tokenizerVersion,
      trainedAt: meta.trainedAt ?? Date.now(), source: meta.source, nham: this.nham, nspam: this.nspam,
      thresholds: { ...this.thresholds }, options: { ...this.options }, tokens,
      linear: l ? { ...l.options, bias: l.bias, biasAccum: l.biasAccum, weights: list.map((t) => l.weights.get(t)?.[0] ?? 0), accums: list.map((t) => l.weights.get(t)?.[1] ?? 0) } : null,
      calibration: this.calibration ? { ...this.calibration } : null,
    };
  }

  static fromData(data: ModelData): BayesModel {
    if (data.format !== 'scop-spam-bayes' || (data.formatVersion !== 1 && data.formatVersion !== 2)) throw new Error(`not a scop spam model (format ${String(data.format)} v${String(data.formatVersion)})`);
    const m = new BayesModel(data.tokenizerVersion);
    m.nham = data.nham;
    m.nspam = data.nspam;
    m.thresholds = { ...data.thresholds };
    m.options = { ...DEFAULT_OPTIONS, ...data.options };
    for (const [t, hc, sc] of data.tokens) if (hc || sc) m.counts.set(t, [hc, sc]);
    const l = data.linear;
    if (l) {
      if (l.weights.length !== data.tokens.length || l.accums.length !== data.tokens.length) throw new Error(`spam model ${data.version}: linear weights and tokens differ in length`);
      const lin = new LinearPart({ learningRate: l.learningRate, lengthNorm: l.lengthNorm, epochs: l.epochs, nbScale: l.nbScale ?? null, ...(l.maxWeight ? { maxWeight: l.maxWeight } : {}) });
      lin.bias = l.bias;
      lin.biasAccum = l.biasAccum;
      data.tokens.forEach(([t], i) => { if (l.weights[i] !== 0 || l.accums[i] !== 0) lin.weights.set(t, [l.weights[i]!, l.accums[i]!]); });
      m.linear = lin;
    }
    m.calibration = data.calibration ? { a: data.calibration.a, b: data.calibration.b } : null;
    return m;
  }
}
