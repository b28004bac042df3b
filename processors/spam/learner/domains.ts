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

/** The published residuals, serialised; get() returns a new live model each time. */
export class PublishedResiduals {
  private readonly stored = new Map<string, { bytes: Buffer; labels: number }>();

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

  get(name: string): BayesModel | undefined {
    const s = this.stored.get(name);
    return s ? BayesModel.fromData(deserialize(s.bytes) as ModelData) : undefined;
  }

  set(name: string, model: BayesModel): void {
    this.stored.set(name, { bytes: serialize(model.toData({ source: '', trainedAt: 0 })), labels: model.nham + model.nspam });
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
}

export class DomainDeltas {
  /** What spam.model holds (or will after the publish in flight). */
  readonly published = new PublishedResiduals();
  /** Residuals this batch changed (clones of the published ones, or new). */
  readonly working = new Map<string, BayesModel>();

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

  /** The domain a label of a message with these recipient domains goes to; null: the global model only (none, several, or over the cap). */
  route(domains: readonly string[]): string | null {
    if (domains.length !== 1) return null;
    const d = domains[0]!;
    return this.has(d) || this.size < this.o.maxDomains ? d : null;
  }

  /** Learns a label into the domain's working residual, on top of the (working) global model. */
  learn(name: string, global: BayesModel, tokens: readonly string[], label: Label, previous: Label | undefined): void {
    let w = this.working.get(name);
    if (!w) {
      w = this.published.get(name) ?? emptyDelta(global);
      this.working.set(name, w);
    }
    if (previous !== undefined && previous !== label) forgetLabel(w, tokens, previous);
    learnResidual(w, global, tokens, label, this.o.maxTokens);
  }

  /** A domain's batch refused: back to its published residual. */
  reject(name: string): void {
    this.working.delete(name);
  }

  /** Every working residual is published now. */
  commit(): void {
    for (const [d, m] of this.working) this.published.set(d, m);
    this.working.clear();
  }

  /** The batch is dropped (read again from the positions). */
  drop(): void {
    this.working.clear();
  }
}
