/**
 * A sparse Bayes model with Robinson's token probabilities and Fisher/Robinson chi-square combining
 * (as SpamBayes and Bogofilter do). It keeps per-token message counts, so it learns (and unlearns)
 * one message at a time, and the counts are all a model is: merging and serialising are exact.
 *
 * Hand-written: no maintained npm library does sparse incremental Bayes with chi-square combining
 * (ml-naivebayes is dense and batch-only; see README for the comparison).
 */
import { createHash } from 'node:crypto';

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

/** Serialised form (JSON, and the Avro spam-model record carries the same fields). */
export interface ModelData {
  format: 'scop-spam-bayes';
  formatVersion: 1;
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

  constructor(readonly tokenizerVersion: string) {}

  /** Adds one message (its distinct tokens). */
  learn(tokens: Iterable<string>, label: Label): void {
    this.adjust(tokens, label, 1);
  }

  /** Removes a message learnt earlier (e.g. a correction: unlearn as ham, learn as spam). */
  unlearn(tokens: Iterable<string>, label: Label): void {
    this.adjust(tokens, label, -1);
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

  /** Scores a message's distinct tokens (as tokenize() returns them). */
  score(tokens: readonly string[]): Score {
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
    return m;
  }

  /** Deterministic content hash: the same training data gives the same version everywhere. */
  computeVersion(): string {
    const hash = createHash('sha256');
    hash.update(JSON.stringify([this.tokenizerVersion, this.nham, this.nspam, this.thresholds, this.options]));
    for (const t of [...this.counts.keys()].sort()) {
      const c = this.counts.get(t)!;
      hash.update(`${t}\u0000${c[0]}\u0000${c[1]}\n`);
    }
    return `bayes-${hash.digest('hex').slice(0, 16)}`;
  }

  toData(meta: { source: string; trainedAt?: number }): ModelData {
    const tokens = [...this.counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([t, c]) => [t, c[0], c[1]] as [string, number, number]);
    return {
      format: 'scop-spam-bayes', formatVersion: 1, version: this.computeVersion(), tokenizerVersion: this.tokenizerVersion,
      trainedAt: meta.trainedAt ?? Date.now(), source: meta.source, nham: this.nham, nspam: this.nspam,
      thresholds: { ...this.thresholds }, options: { ...this.options }, tokens,
    };
  }

  static fromData(data: ModelData): BayesModel {
    if (data.format !== 'scop-spam-bayes' || data.formatVersion !== 1) throw new Error(`not a scop spam model (format ${String(data.format)} v${String(data.formatVersion)})`);
    const m = new BayesModel(data.tokenizerVersion);
    m.nham = data.nham;
    m.nspam = data.nspam;
    m.thresholds = { ...data.thresholds };
    m.options = { ...DEFAULT_OPTIONS, ...data.options };
    for (const [t, hc, sc] of data.tokens) m.counts.set(t, [hc, sc]);
    return m;
  }
}
