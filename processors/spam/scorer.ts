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
}

/** What the section's modelVersion says: the global version, plus `+<domain>@<version>` when a domain's residual was blended in. */
export function scoredBy(active: ActiveModel, domain: DomainModel | null): string {
  return domain ? `${active.version}+${domain.name}@${domain.version}` : active.version;
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
    modelVersion: scoredBy(active, domain),
    tokenizerVersion: TOKENIZER_VERSION,
  };
}

/** Tokenize and score on this thread (tests, bench, replay tools; the stage tokenizes in a worker). */
export function scoreRecord(record: MailRecord, active: ActiveModel, now = Date.now()): SpamSection {
  return spamSection(tokenize(spamInputFromRecord(record)), active, now);
}
