/**
 * The learner's state machine, without Kafka: which labels it takes (trusted source, rate limit,
 * repeats), what it learns (or holds back as the false-positive test sample), how far it got on the
 * feedback topic, and whether a batch of labels may be published (the FP guard). learner.ts feeds it
 * labels and records and publishes what it holds; everything here is serialised into the model's
 * `learner` field (schemas/spam-model.avsc), so a restarted learner continues exactly where the
 * published model ends: a crash neither loses nor learns a label twice.
 */
import { createHash } from 'node:crypto';
import type { SpamLearnerState } from '../../../schemas/types.ts';
import { blendedScore } from '../domain-model.ts';
import type { BayesModel, Label, ModelData } from '../model.ts';
import { DomainDeltas, type DomainOptions } from './domains.ts';

/** Why a label was or was not learnt (the `outcome` label of scop_spam_learner_labels_total). */
export type LabelOutcome =
  | 'learnt' | 'corrected' | 'held-back' | 'duplicate' | 'untrusted-source' | 'rate-limited' | 'invalid'
  | 'record-not-found' | 'no-mime' | 'rejected';

export const OUTCOMES: readonly LabelOutcome[] = ['learnt', 'corrected', 'held-back', 'duplicate', 'untrusted-source', 'rate-limited', 'invalid', 'record-not-found', 'no-mime', 'rejected'];

export interface CoreOptions {
  /** Source names labels may come from; `name:*` matches every source starting with `name:`, `*` any. */
  trustedSources: readonly string[];
  /** Labels per hour per source (a token bucket of this size, refilled continuously). */
  ratePerHour: number;
  /** Percentage of ham labels held back as the FP test sample instead of being learnt. */
  holdbackPercent: number;
  holdbackMax: number;
  /** Below this many held-back ham the FP guard cannot judge a batch; it publishes and says so. */
  holdbackMin: number;
  /** Most tokens kept per held-back message. */
  holdbackTokens: number;
  /** Labels remembered (record id → label) to skip repeats and correct changed labels. */
  recentMax: number;
  /** Largest rise of the FP rate on the held-back sample one published batch may cause (0.01 = 1 point). */
  maxFpIncrease: number;
  /** Per-recipient-domain residuals (domain-model.ts); null: off. */
  domains?: DomainOptions | null;
}

export interface Published {
  model: BayesModel;
  data: ModelData;
}

export interface GuardResult {
  ok: boolean;
  /** Held-back ham used. */
  sample: number;
  fpBefore: number;
  fpAfter: number;
  /** Why the guard did not judge (sample too small). */
  skipped?: string;
}

export interface DomainGuardResult extends GuardResult {
  domain: string;
  /** Labels of the domain in the batch. */
  labels: number;
  /** Whose ham the FP rate was measured on: the domain's own held-back ham, or the whole sample (too few of its own). */
  sampleOf: 'domain' | 'global';
  sources: Record<string, number>;
}

type Sample = { recordId: string; tokens: string[]; domain: string | null };

export function sourceTrusted(source: string, trusted: readonly string[]): boolean {
  return trusted.some((t) => t === '*' || t === source || (t.endsWith(':*') && source.startsWith(t.slice(0, -1))));
}

/** Deterministic: the same record id is held back on every run and every machine. */
export function heldBack(recordId: string, percent: number): boolean {
  if (percent <= 0) return false;
  return createHash('sha256').update(recordId).digest().readUInt32BE(0) % 100 < percent;
}

/** Share of the sample the model calls spam (its own cutoffs). */
export function fpRate(model: BayesModel, sample: readonly { tokens: string[] }[], delta: BayesModel | null = null): number {
  if (sample.length === 0) return 0;
  let fp = 0;
  for (const s of sample) if (blendedScore(model, delta, s.tokens).verdict === 'spam') fp++;
  return fp / sample.length;
}

interface Bucket { tokens: number; at: number }

export class LearnerCore {
  /** What is published (or adopted): the model the current batch is learnt on top of. */
  published!: Published;
  /** The working model: published + the labels of the current batch. */
  model!: BayesModel;
  /** Next offset to read per partition of the feedback topic (what the working model accounts for). */
  readonly positions = new Map<number, bigint>();
  private recent = new Map<string, Label>();
  private publishedRecent = new Map<string, Label>();
  private holdback: Sample[] = [];
  /**
   * The line of the global model (runtime/operator/spam-model.ts modelLine): the model last adopted
   * from elsewhere; the residuals are learnt against it and name it.
   */
  line: string | undefined;
  /** The per-domain residuals; null: off. */
  readonly domains: DomainDeltas | null;
  /** This batch's labels per domain (a domain's batch can be refused alone). */
  private readonly batchDomains = new Map<string, { records: string[]; times: number[]; sources: Map<string, number> }>();
  private readonly buckets = new Map<string, Bucket>();
  labelsLearnt = 0;
  private publishedLabelsLearnt = 0;
  /** Kafka timestamps (ms) of the labels learnt since the last publish: the label → model latency. */
  pendingLabelTimes: number[] = [];
  /** Sources of the labels in the current batch (for a rejection's alert). */
  readonly pendingSources = new Map<string, number>();

  constructor(private readonly o: CoreOptions, readonly feedbackTopic: string) {
    this.domains = o.domains ? new DomainDeltas(o.domains) : null;
  }

  get pending(): number {
    return this.pendingLabelTimes.length;
  }

  get holdbackSize(): number {
    return this.holdback.length;
  }

  /**
   * Starts from (or switches to) a published model. Positions: the model's, moved forward to
   * `atLeast` where that is further (a rollback republishes an older model; the labels learnt after
   * it must not come back). The current batch is dropped: it is read again from the positions.
   */
  adopt(model: BayesModel, data: ModelData, state: SpamLearnerState | null, atLeast: ReadonlyMap<number, bigint> = new Map(), line: string = state?.line ?? data.version): string[] {
    const lineChanged = this.line !== undefined && this.line !== line;
    this.line = line;
    this.published = { model, data };
    this.model = model.clone();
    const own = state && state.feedbackTopic === this.feedbackTopic ? state : null;
    const positions = new Map<number, bigint>(own ? own.positions.map((p) => [p.partition, BigInt(p.offset)]) : []);
    for (const [p, o] of atLeast) if (o > (positions.get(p) ?? -1n)) positions.set(p, o);
    this.positions.clear();
    for (const [p, o] of positions) this.positions.set(p, o);
    if (own) {
      this.publishedRecent = new Map(own.recent.map((r) => [r.recordId, r.label as Label]));
      this.holdback = own.holdback.map((h) => ({ recordId: h.recordId, tokens: [...h.tokens], domain: h.domain ?? null }));
      this.buckets.clear();
      for (const b of own.rateBuckets) this.buckets.set(b.source, { tokens: b.tokens, at: b.at });
      this.publishedLabelsLearnt = own.labelsLearnt;
    }
    // A model made elsewhere (trained by hand, the default) keeps what this learner knew of labels and samples.
    this.endBatch(false);
    // Residuals learnt against another line of the global model correct other margins: they go (tombstones, by the caller).
    return lineChanged && this.domains ? this.domains.clear() : [];
  }

  /** An operator removed a domain's residual (`scop spam rollback --domain d --remove`): forgotten with this batch's labels for it. */
  removeDomain(name: string): void {
    this.domains?.remove(name);
    this.batchDomains.delete(name);
  }

  /** The partition's position moves past a label, whatever became of it. */
  advance(partition: number, nextOffset: bigint): void {
    if (nextOffset > (this.positions.get(partition) ?? -1n)) this.positions.set(partition, nextOffset);
  }

  /** Before the record is looked up: is this label to be learnt at all? null = yes. */
  admit(recordId: string, label: string, source: string, now: number): LabelOutcome | null {
    if ((label !== 'ham' && label !== 'spam') || !recordId || recordId.length > 200) return 'invalid';
    if (!sourceTrusted(source, this.o.trustedSources)) return 'untrusted-source';
    if (this.recent.get(recordId) === label) return 'duplicate';
    if (label === 'ham' && this.holdback.some((h) => h.recordId === recordId)) return 'duplicate';
    if (!this.take(source, now)) return 'rate-limited';
    return null;
  }

  /** Token bucket per source; its state is part of the published state, so a restart does not refill it. */
  private take(source: string, now: number): boolean {
    const cap = this.o.ratePerHour;
    const b = this.buckets.get(source) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + (Math.max(0, now - b.at) * cap) / 3_600_000);
    b.at = now;
    this.buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * Learns (or holds back) one admitted label with the record's tokens. `domains`: the record's
   * recipient domains (domain-model.ts); with per-domain models on, a one-domain message's label goes
   * to that domain's residual (and, shared, to the global model too); other labels to the global model.
   */
  learn(recordId: string, label: Label, tokens: string[], source: string, labelTime: number, domains: readonly string[] = []): LabelOutcome {
    const previous = this.recent.get(recordId);
    const sample = this.holdback.findIndex((h) => h.recordId === recordId);
    // The same label twice in one batch passes admit() twice: only the first is learnt.
    if (previous === label || (label === 'ham' && sample >= 0)) return 'duplicate';
    if (sample >= 0) this.holdback.splice(sample, 1); // a held-back ham now called spam: learnt below, not tested on
    if (previous === undefined && label === 'ham' && heldBack(recordId, this.o.holdbackPercent)) {
      this.holdback.push({ recordId, tokens: [...new Set(tokens)].slice(0, this.o.holdbackTokens), domain: this.domains && domains.length === 1 ? domains[0]! : null });
      if (this.holdback.length > this.o.holdbackMax) this.holdback.splice(0, this.holdback.length - this.o.holdbackMax);
      return 'held-back';
    }
    // A changed label: its counts are taken back exactly (the tokenizer is deterministic), then it is learnt forwards.
    // A residual adds to a linear margin: a counts-only (format 1) global model gets every label itself.
    const domain = this.model.linear ? (this.domains?.route(domains, labelTime) ?? null) : null;
    if (!domain || this.domains!.o.global === 'shared') {
      if (previous !== undefined && previous !== label) this.model.unlearn(tokens, previous);
      this.model.learn(tokens, label);
    }
    if (domain) {
      this.domains!.learn(domain, this.model, tokens, label, previous, labelTime);
      const b = this.batchDomains.get(domain) ?? { records: [], times: [], sources: new Map<string, number>() };
      b.records.push(recordId);
      b.times.push(labelTime);
      b.sources.set(source, (b.sources.get(source) ?? 0) + 1);
      this.batchDomains.set(domain, b);
    }
    this.recent.delete(recordId);
    this.recent.set(recordId, label);
    if (this.recent.size > this.o.recentMax) this.recent.delete(this.recent.keys().next().value!);
    this.labelsLearnt++;
    this.pendingLabelTimes.push(labelTime);
    this.pendingSources.set(source, (this.pendingSources.get(source) ?? 0) + 1);
    return previous !== undefined && previous !== label ? 'corrected' : 'learnt';
  }

  /** The FP guard: how the batch moves the FP rate on the held-back ham. */
  guard(): GuardResult {
    const sample = this.holdback;
    if (sample.length < this.o.holdbackMin) {
      return { ok: true, sample: sample.length, fpBefore: 0, fpAfter: 0, skipped: `${sample.length} held-back ham, fewer than SPAM_LEARNER_HOLDBACK_MIN (${this.o.holdbackMin})` };
    }
    const fpBefore = fpRate(this.published.model, sample);
    const fpAfter = fpRate(this.model, sample);
    return { ok: fpAfter - fpBefore <= this.o.maxFpIncrease + 1e-12, sample: sample.length, fpBefore, fpAfter };
  }

  /**
   * The FP guard per domain the batch touched: the domain's blend (published global + residual vs
   * working global + residual) on the domain's own held-back ham when it has SPAM_LEARNER_HOLDBACK_MIN
   * of them, else on the whole sample (the domain's customers get the global ham's protection).
   */
  domainGuards(): DomainGuardResult[] {
    const d = this.domains;
    if (!d) return [];
    const out: DomainGuardResult[] = [];
    for (const [domain, b] of this.batchDomains) {
      const own = this.holdback.filter((h) => h.domain === domain);
      const sampleOf = own.length >= this.o.holdbackMin ? 'domain' : 'global';
      const sample = sampleOf === 'domain' ? own : this.holdback;
      const base = { domain, labels: b.records.length, sampleOf, sources: Object.fromEntries(b.sources), sample: sample.length } as const;
      if (sample.length < this.o.holdbackMin) {
        out.push({ ...base, ok: true, fpBefore: 0, fpAfter: 0, skipped: `${sample.length} held-back ham, fewer than SPAM_LEARNER_HOLDBACK_MIN (${this.o.holdbackMin})` });
        continue;
      }
      const before = d.published.get(domain);
      const after = d.working.get(domain);
      const fpBefore = fpRate(this.published.model, sample, d.inUse(before) ? before! : null);
      const fpAfter = fpRate(this.model, sample, d.inUse(after) ? after! : null);
      out.push({ ...base, ok: fpAfter - fpBefore <= this.o.maxFpIncrease + 1e-12, fpBefore, fpAfter });
    }
    return out;
  }

  /**
   * One domain's batch refused by its guard: its residual goes back to the published one. Isolated,
   * its labels are not learnt at all (as a refused global batch: they may be given again); shared,
   * the global model keeps them.
   */
  rejectDomain(domain: string): void {
    const b = this.batchDomains.get(domain);
    if (!b || !this.domains) return;
    this.domains.reject(domain);
    this.batchDomains.delete(domain);
    if (this.domains.o.global === 'shared') return;
    for (const id of b.records) {
      const was = this.publishedRecent.get(id);
      this.recent.delete(id);
      if (was !== undefined) this.recent.set(id, was);
    }
    this.labelsLearnt -= b.records.length;
    for (const t of b.times) {
      const i = this.pendingLabelTimes.indexOf(t);
      if (i >= 0) this.pendingLabelTimes.splice(i, 1);
    }
    for (const [s, n] of b.sources) {
      const left = (this.pendingSources.get(s) ?? 0) - n;
      if (left > 0) this.pendingSources.set(s, left);
      else this.pendingSources.delete(s);
    }
  }

  /** Domains whose residual this batch changed (and their guard passed): to publish with the global model. */
  changedDomains(): string[] {
    return this.domains ? [...this.domains.working.keys()].sort() : [];
  }

  /** The state to publish with the working model (or, after a rejection, with the published one). */
  state(now: number, previousVersion: string | null): SpamLearnerState {
    const cap = this.o.ratePerHour;
    return {
      feedbackTopic: this.feedbackTopic,
      positions: [...this.positions].sort((a, b) => a[0] - b[0]).map(([partition, offset]) => ({ partition, offset: Number(offset) })),
      previousVersion,
      labelsLearnt: this.labelsLearnt,
      publishedAt: now,
      recent: [...this.recent].map(([recordId, label]) => ({ recordId, label })),
      holdback: this.holdback.map((h) => ({ recordId: h.recordId, tokens: h.tokens, domain: h.domain })),
      // Full buckets carry no information: a source seen once long ago does not stay in the state for ever.
      rateBuckets: [...this.buckets]
        .filter(([, b]) => b.tokens + ((now - b.at) * cap) / 3_600_000 < cap)
        .map(([source, b]) => ({ source, tokens: b.tokens, at: b.at })),
      line: this.line ?? null,
    };
  }

  /** After a publish: the working model is the published one. */
  committed(model: BayesModel, data: ModelData): void {
    this.published = { model, data };
    this.model = model.clone();
    this.endBatch(true);
  }

  /**
   * After the guard refused the batch: back to the published model, the batch's labels not
   * learnt, but the positions stay past them (they are not read again: an operator looks at the
   * alert and labels again if the labels were right).
   */
  rejected(): void {
    this.model = this.published.model.clone();
    this.endBatch(false);
  }

  /** Ends the current batch: kept (what it learnt is now the published state) or dropped (back to the published state). */
  private endBatch(kept: boolean): void {
    if (kept) {
      this.publishedRecent = new Map(this.recent);
      this.publishedLabelsLearnt = this.labelsLearnt;
      this.domains?.commit();
    } else {
      this.recent = new Map(this.publishedRecent);
      this.labelsLearnt = this.publishedLabelsLearnt;
      this.domains?.drop();
    }
    this.pendingLabelTimes = [];
    this.pendingSources.clear();
    this.batchDomains.clear();
  }
}
