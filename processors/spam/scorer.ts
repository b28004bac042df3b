/**
 * MailRecord → spam section, with the model the scorer holds right now. The model reference is
 * swapped whole (one assignment) when a new version arrives, so a record is scored by exactly one
 * model and says which.
 */
import type { MailRecord, SpamSection } from '../../schemas/types.ts';
import { blendedScore, type DomainModel } from './domain-model.ts';
import { spamInputFromRecord } from './input.ts';
import type { BayesModel } from './model.ts';
import { tokenize, TOKENIZER_VERSION } from './tokenizer.ts';

export const STAGE_VERSION = '1.2.0';
export const TOP_TOKENS = 15;

export interface ActiveModel {
  model: BayesModel;
  version: string;
  /** Its line (runtime/operator/spam-model.ts modelLine): only residuals learnt on it are blended in. Default: the version. */
  line?: string;
}

/** Which models scored a message: the global version and, when one was blended in, the domain's residual. */
export interface ScoredBy {
  global: string;
  domain: { name: string; version: string } | null;
}

/**
 * The section's modelVersion text: `<global>` or `<global>+<domain>@<residual version>`. Unambiguous:
 * model versions are `bayes-<hex>` (or a file's name), domains are A-labels — neither holds `+` or `@`
 * where the parser splits (the first `+`, then the last `@`).
 */
export function formatScoredBy(s: ScoredBy): string {
  return s.domain ? `${s.global}+${s.domain.name}@${s.domain.version}` : s.global;
}

/** The inverse of formatScoredBy, for whoever reads a section (reports, the console, tests). */
export function parseScoredBy(text: string): ScoredBy {
  const plus = text.indexOf('+');
  if (plus < 0) return { global: text, domain: null };
  const rest = text.slice(plus + 1);
  const at = rest.lastIndexOf('@');
  if (plus === 0 || at <= 0 || at === rest.length - 1) throw new Error(`modelVersion "${text.slice(0, 200)}" is neither <global> nor <global>+<domain>@<version>`);
  return { global: text.slice(0, plus), domain: { name: rest.slice(0, at), version: rest.slice(at + 1) } };
}

export function scoredBy(active: ActiveModel, domain: DomainModel | null): ScoredBy {
  return { global: active.version, domain: domain ? { name: domain.name, version: domain.version } : null };
}

/** The section for a message's tokens (tokenized already, e.g. in a worker thread); `domain`: the recipients' domain model to blend in (domain-model.ts). */
export function spamSection(tokens: readonly string[], active: ActiveModel, now = Date.now(), domain: DomainModel | null = null): SpamSection {
  const s = blendedScore(active.model, domain?.delta ?? null, tokens);
  return {
    stageVersion: STAGE_VERSION,
    scoredAt: now,
    probability: s.probability,
    score: s.score,
    verdict: s.verdict,
    hamCutoff: active.model.thresholds.ham,
    spamCutoff: active.model.thresholds.spam,
    topTokens: s.clues.slice(0, TOP_TOKENS).map((c) => ({ token: c.token, probability: c.prob })),
    tokenCount: tokens.length,
    modelVersion: formatScoredBy(scoredBy(active, domain)),
    tokenizerVersion: TOKENIZER_VERSION,
  };
}

/** Tokenize and score on this thread (tests, bench, replay tools; the stage tokenizes in a worker). */
export function scoreRecord(record: MailRecord, active: ActiveModel, now = Date.now()): SpamSection {
  return spamSection(tokenize(spamInputFromRecord(record)), active, now);
}
