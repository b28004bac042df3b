/**
 * Per-recipient-domain models (issue 17, item 4): a residual logistic regression per recipient
 * domain on top of the global model, so one customer's labels move that customer's scores only.
 *
 * The blend is a sum of margins: score(domain d, message x) = σ(cal(m_global(x) + m_d(x))), where m_d
 * is the domain's own weights and bias. m_d is learnt on d's labels with m_global(x) as a fixed
 * offset (LinearPart.step's `offset`), i.e. it learns only what the global model gets wrong for d —
 * the additive form of a hierarchical model ("frustratingly easy domain adaptation", Daumé 2007:
 * shared + per-domain weights, margins added). A domain that has no labels adds 0 (its weights start
 * at 0 = the global model), and each label moves it by at most one AdaGrad step capped like the
 * global weights, so the domain's say grows with its label count without a hand-set mixing weight;
 * below SPAM_LEARNER_DOMAIN_MIN_LABELS it is not used at all (a few labels are not a customer's view).
 *
 * Shared by the learner (learns and publishes) and the scorer (follows and blends); the records go on
 * spam.model under the key `domain:<name>` (model-topic.ts).
 */
import { domainToASCII } from 'node:url';
import { DOMAIN_KEY_PREFIX } from '../../runtime/operator/spam-model.ts';
import { BayesModel, featureScale, LinearPart, type Label, type Score } from './model.ts';

export { DOMAIN_KEY_PREFIX };
export const domainKey = (name: string) => `${DOMAIN_KEY_PREFIX}${name}`;

/** Recipients looked at per message (a message to thousands of recipients is a list: global only anyway). */
const MAX_RECIPIENTS = 1000;

/** The domain of one forward-path, lower-case A-label (IDNs as xn--), or null when it has none or is not a domain. */
export function recipientDomain(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0 || address.length > 512) return null;
  let d = address.slice(at + 1).replace(/>$/, '').replace(/\.$/, '');
  if (d.startsWith('[')) return null; // address literal: no domain to keep a model for
  d = domainToASCII(d.toLowerCase());
  return d && d.length <= 253 ? d : null;
}

/** The distinct recipient domains of a message, sorted. */
export function recipientDomains(rcptTo: readonly string[]): string[] {
  const set = new Set<string>();
  for (const a of rcptTo.slice(0, MAX_RECIPIENTS)) {
    const d = recipientDomain(a);
    if (d) set.add(d);
  }
  return [...set].sort();
}

/** What a blend needs of a residual: its margin on a message's tokens. */
export interface Residual {
  margin(tokens: readonly string[]): number;
}

/** A domain's residual as a scorer holds it. */
export interface DomainModel {
  name: string;
  delta: Residual;
  version: string;
  /** The global model line it was learnt against (SpamDomainModel.base; null: unknown, never applied). */
  base: string | null;
}

/**
 * The domain model that applies to a message: its recipients' one domain, when that has a model in
 * use learnt against the global model line in use (`line`, runtime/operator/spam-model.ts modelLine):
 * a residual of another line corrects other margins. Several domains: none (the global model scores).
 */
export function domainModelFor(rcptTo: readonly string[], models: ReadonlyMap<string, DomainModel>, line: string): DomainModel | null {
  if (models.size === 0) return null;
  const ds = recipientDomains(rcptTo);
  const m = ds.length === 1 ? models.get(ds[0]!) : undefined;
  return m && m.base === line ? m : null;
}

/**
 * A residual as a scorer keeps it: token → weight and the bias, nothing else (the counts and AdaGrad
 * sums serve only the learner; this form is ~40 % smaller than the learner's, README). Its margin is
 * LinearPart.margin's, to the bit: every token the residual has an entry for counts as known, also
 * with weight 0.
 */
export class ScoringResidual implements Residual {
  private constructor(private readonly weights: Map<string, number>, private readonly bias: number, private readonly lengthNorm: number) {}

  static of(delta: BayesModel): ScoringResidual {
    const l = delta.linear;
    if (!l) throw new Error('a residual has a linear part');
    const w = new Map<string, number>();
    for (const [t, [x]] of l.weights) w.set(t, x);
    return new ScoringResidual(w, l.bias, l.options.lengthNorm);
  }

  margin(tokens: readonly string[]): number {
    let s = 0;
    let n = 0;
    for (const t of tokens) {
      const w = this.weights.get(t);
      if (w !== undefined) { s += w; n++; }
    }
    return s * Math.pow(Math.max(1, n), -this.lengthNorm) + this.bias;
  }
}

export const forScoring = (delta: BayesModel): Residual => ScoringResidual.of(delta);

/** The global model's score with the domain's residual margin added (the global cutoffs and calibration decide). */
export function blendedScore(global: BayesModel, delta: BayesModel | Residual | null, tokens: readonly string[]): Score {
  const r = delta instanceof BayesModel ? delta.linear : delta;
  if (!r || !global.linear) return global.score(tokens);
  return global.score(tokens, r.margin(tokens));
}

/** A domain with no labels: adds 0 to every margin. Same learning options and weight caps as the global model. */
export function emptyDelta(global: BayesModel): BayesModel {
  if (!global.linear) throw new Error('per-domain models need a linear (formatVersion 2) global model');
  const d = new BayesModel(global.tokenizerVersion);
  d.thresholds = { ...global.thresholds };
  d.options = { ...global.options };
  d.linear = new LinearPart({ ...global.linear.options });
  return d;
}

/**
 * One label into a domain's residual: its token counts, then one AdaGrad step of the domain's
 * weights with the global margin as offset. The NB feature values come from the global counts plus
 * the domain's own (what this domain has seen is evidence the global counts lack: with the global
 * counts alone a domain's new newsletter needed ~5× more labels than the global model's own feedback
 * step, README). Then at most `maxTokens` tokens are kept: the strongest weights (|weight|, ties by
 * token, so a replay prunes the same way).
 */
export function learnResidual(delta: BayesModel, global: BayesModel, tokens: Iterable<string>, label: Label, maxTokens: number): void {
  const g = global.linear;
  const l = delta.linear;
  if (!g || !l) throw new Error('per-domain models need a linear (formatVersion 2) global model');
  const distinct = [...new Set(tokens)];
  delta.learnCounts(distinct, label);
  const nb = g.options.nbScale;
  const nham = global.nham + delta.nham;
  const nspam = global.nspam + delta.nspam;
  l.step(distinct, label === 'spam' ? 1 : 0, g.feedbackRate, (t) => {
    const c = global.counts.get(t);
    const d = delta.counts.get(t);
    return featureScale(nb, (c?.[0] ?? 0) + (d?.[0] ?? 0), (c?.[1] ?? 0) + (d?.[1] ?? 0), nham, nspam);
  }, g.margin(distinct));
  if (l.weights.size > maxTokens) pruneDelta(delta, Math.floor(maxTokens * 0.9));
}

/** A label taken back (a correction): its counts exactly; the weights are corrected forwards by the next step. */
export function forgetLabel(delta: BayesModel, tokens: Iterable<string>, label: Label): void {
  delta.unlearn(tokens, label);
}

/** Keeps the `keep` tokens of strongest weight, with their counts (pruning to 90 % of the cap makes it rare: amortised O(1) per label). */
export function pruneDelta(delta: BayesModel, keep: number): void {
  const l = delta.linear!;
  const all = [...l.weights].sort((a, b) => Math.abs(b[1][0]) - Math.abs(a[1][0]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = keep; i < all.length; i++) l.weights.delete(all[i]![0]);
  for (const t of [...delta.counts.keys()]) if (!l.weights.has(t)) delta.counts.delete(t);
}
