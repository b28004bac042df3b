/**
 * The learner's per-recipient-domain residuals (domain-model.ts): which domain a label goes to, the
 * published and the working (this batch's) residual of each domain, and what a batch may publish.
 * Copy on write: a domain's residual is made a live model the first time a batch touches it; the
 * published ones are kept serialised (v8 structured clone of the model's record form: ~1/5 of the
 * live model's heap, README), so the learner holds many domains compactly plus the few a batch changed.
 */
import { deserialize, serialize } from 'node:v8';
import { emptyDelta, forgetLabel, learnResidual } from '../domain-model.ts';
import { BayesModel, type Label, type ModelData } from '../model.ts';

/** What the learner keeps of a residual besides its weights (the record's SpamDomainModel fields). */
export interface ResidualMeta {
  /** Its version (content hash); for a working residual, computed at publish. */
  version: string;
  /** The version it replaced (a domain rollback goes back to it). */
  previousVersion: string | null;
  /** Kafka timestamp of its newest label (idle eviction). */
  lastLabelAt: number;
}

/** The published residuals, serialised; get() returns a new live model each time. */
export class PublishedResiduals {
  private readonly stored = new Map<string, { bytes: Buffer; labels: number; meta: ResidualMeta }>();

  get size(): number {
    return this.stored.size;
  }

  has(name: string): boolean {
    return this.stored.has(name);
  }

  keys(): IterableIterator<string> {
    return this.stored.keys();
  }

  /** The domain's labels (what decides whether scorers use it) without decoding it. */
  labels(name: string): number | undefined {
    return this.stored.get(name)?.labels;
  }

  meta(name: string): ResidualMeta | undefined {
    return this.stored.get(name)?.meta;
  }

  get(name: string): BayesModel | undefined {
    const s = this.stored.get(name);
    return s ? BayesModel.fromData(deserialize(s.bytes) as ModelData) : undefined;
  }

  set(name: string, model: BayesModel, meta: ResidualMeta): void {
    this.stored.set(name, { bytes: serialize(model.toData({ source: '', trainedAt: 0 })), labels: model.nham + model.nspam, meta });
  }

  delete(name: string): void {
    this.stored.delete(name);
  }

  /** Bytes held (the memory figure). */
  bytes(): number {
    let n = 0;
    for (const s of this.stored.values()) n += s.bytes.length;
    return n;
  }
}

export interface DomainOptions {
  /** Domains with a model at most; a new domain beyond it is learnt as if it had none (global). */
  maxDomains: number;
  /** Weights per domain at most (the strongest are kept). */
  maxTokens: number;
  /** Labels a domain needs before scorers blend its residual in. */
  minLabels: number;
  /**
   * isolated: a label of a one-domain message is learnt into its domain only (the global model does
   * not see it: other customers' scores do not move); shared: into the global model too.
   */
  global: 'isolated' | 'shared';
  /**
   * A domain whose newest label is older than this (ms, by the labels' Kafka timestamps) may be
   * evicted to make room for a new domain when the cap is full.
   */
  idleMs: number;
}

export class DomainDeltas {
  /** What spam.model holds (or will after the publish in flight). */
  readonly published = new PublishedResiduals();
  /** Residuals this batch changed (clones of the published ones, or new), with what their records will say. */
  readonly working = new Map<string, BayesModel>();
  readonly workingMeta = new Map<string, Omit<ResidualMeta, 'version'>>();
  /** Domains this batch evicted (their tombstones go out with it; restored if the batch is dropped). */
  readonly evicted = new Map<string, { model: BayesModel; meta: ResidualMeta }>();

  constructor(readonly o: DomainOptions) {}

  get size(): number {
    let n = this.published.size;
    for (const d of this.working.keys()) if (!this.published.has(d)) n++;
    return n;
  }

  /** The working residual, else (decoded) the published one. */
  current(name: string): BayesModel | undefined {
    return this.working.get(name) ?? this.published.get(name);
  }

  has(name: string): boolean {
    return this.working.has(name) || this.published.has(name);
  }

  inUse(delta: BayesModel | undefined): boolean {
    return !!delta && delta.nham + delta.nspam >= this.o.minLabels;
  }

  /**
   * The domain a label of a message with these recipient domains goes to; null: the global model
   * only (none, several, or over the cap with no domain idle enough to evict). `at`: the label's
   * Kafka timestamp — the clock of eviction, so a replay after a crash evicts exactly the same.
   */
  route(domains: readonly string[], at: number): string | null {
    if (domains.length !== 1) return null;
    const d = domains[0]!;
    if (this.has(d) || this.size < this.o.maxDomains) return d;
    return this.evictIdle(at) ? d : null;
  }

  /** Evicts the published domain idle longest (ties: by name), if it had no label for idleMs at `at`; false: none has. */
  private evictIdle(at: number): boolean {
    let idlest: { name: string; t: number } | null = null;
    for (const name of this.published.keys()) {
      if (this.working.has(name)) continue;
      const t = this.published.meta(name)!.lastLabelAt;
      if (at - t < this.o.idleMs) continue;
      if (!idlest || t < idlest.t || (t === idlest.t && name < idlest.name)) idlest = { name, t };
    }
    if (!idlest) return false;
    this.evicted.set(idlest.name, { model: this.published.get(idlest.name)!, meta: this.published.meta(idlest.name)! });
    this.published.delete(idlest.name);
    return true;
  }

  /** Learns a label into the domain's working residual, on top of the (working) global model. */
  learn(name: string, global: BayesModel, tokens: readonly string[], label: Label, previous: Label | undefined, at: number): void {
    let w = this.working.get(name);
    if (!w) {
      const pub = this.published.meta(name);
      w = this.published.get(name) ?? emptyDelta(global);
      this.working.set(name, w);
      this.workingMeta.set(name, { previousVersion: pub?.version ?? null, lastLabelAt: pub?.lastLabelAt ?? 0 });
    }
    const m = this.workingMeta.get(name)!;
    m.lastLabelAt = Math.max(m.lastLabelAt, at);
    if (previous !== undefined && previous !== label) forgetLabel(w, tokens, previous);
    learnResidual(w, global, tokens, label, this.o.maxTokens);
  }

  /**
   * A residual to (re)publish as it is: one read back at start without a line (stamped now), or a
   * domain rollback adopted (written again after anything the learner wrote before it).
   */
  republish(name: string, model: BayesModel, meta: Omit<ResidualMeta, 'version'>): void {
    this.working.set(name, model);
    this.workingMeta.set(name, { ...meta });
  }

  /** A domain's batch refused: back to its published residual. */
  reject(name: string): void {
    this.working.delete(name);
    this.workingMeta.delete(name);
  }

  /** An operator removed the domain's residual: forgotten, published and working. */
  remove(name: string): void {
    this.published.delete(name);
    this.reject(name);
    this.evicted.delete(name);
  }

  /** Every domain, published or not: forgotten (the global model's line changed: the residuals corrected other margins). */
  clear(): string[] {
    const names = [...new Set([...this.published.keys(), ...this.working.keys()])].sort();
    for (const n of names) this.remove(n);
    this.evicted.clear();
    return names;
  }

  /** Every working residual is published now. */
  commit(): void {
    for (const [d, m] of this.working) this.published.set(d, m, { version: m.computeVersion(), ...this.workingMeta.get(d)! });
    this.working.clear();
    this.workingMeta.clear();
    this.evicted.clear();
  }

  /** The batch is dropped (read again from the positions): evicted domains come back. */
  drop(): void {
    this.working.clear();
    this.workingMeta.clear();
    for (const [d, e] of this.evicted) this.published.set(d, e.model, e.meta);
    this.evicted.clear();
  }
}
