/**
 * The learner's per-recipient-domain residuals (domain-model.ts): which domain a label goes to, the
 * published and the working (this batch's) residual of each domain, and what a batch may publish.
 * Copy on write: a domain's residual is cloned the first time a batch touches it, so the learner holds
 * the published residuals once plus the few a batch changed.
 */
import { emptyDelta, forgetLabel, learnResidual } from '../domain-model.ts';
import type { BayesModel, Label } from '../model.ts';

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
  readonly published = new Map<string, BayesModel>();
  /** Residuals this batch changed (clones of the published ones, or new). */
  readonly working = new Map<string, BayesModel>();

  constructor(readonly o: DomainOptions) {}

  get size(): number {
    let n = this.published.size;
    for (const d of this.working.keys()) if (!this.published.has(d)) n++;
    return n;
  }

  current(name: string): BayesModel | undefined {
    return this.working.get(name) ?? this.published.get(name);
  }

  inUse(delta: BayesModel | undefined): boolean {
    return !!delta && delta.nham + delta.nspam >= this.o.minLabels;
  }

  /** The domain a label of a message with these recipient domains goes to; null: the global model only (none, several, or over the cap). */
  route(domains: readonly string[]): string | null {
    if (domains.length !== 1) return null;
    const d = domains[0]!;
    return this.current(d) || this.size < this.o.maxDomains ? d : null;
  }

  /** Learns a label into the domain's working residual, on top of the (working) global model. */
  learn(name: string, global: BayesModel, tokens: readonly string[], label: Label, previous: Label | undefined): void {
    let w = this.working.get(name);
    if (!w) {
      w = this.published.get(name)?.clone() ?? emptyDelta(global);
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
