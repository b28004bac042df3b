/** The decision stage's thresholds, from the environment (README "Configuration"). */
import { z } from 'zod';
import { loadEnv } from '../../runtime/config.ts';

const action = z.enum(['deliver', 'junk', 'quarantine', 'reject']);
/** A score threshold, or `off` to never apply the rule. */
const threshold = z.string().transform((s, ctx) => {
  if (s === 'off') return Infinity;
  const n = Number(s);
  if (!Number.isFinite(n)) { ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a number or off' }); return z.NEVER; }
  return n;
});

const shape = {
  DECISION_SPAM_ACTION: action.default('quarantine'),
  DECISION_SPAM_UNSURE_ACTION: action.default('junk'),
  DECISION_SPAM_REJECT_PROBABILITY: threshold.default('off'),
  DECISION_DMARC_REJECT_ACTION: action.default('reject'),
  DECISION_DMARC_QUARANTINE_ACTION: action.default('junk'),
  DECISION_DANGEROUS_ATTACHMENT_ACTION: action.default('quarantine'),
  DECISION_VIRUS_ACTION: action.default('reject'),
  DECISION_REPUTATION_JUNK: threshold.default('3'),
  DECISION_REPUTATION_QUARANTINE: threshold.default('8'),
  DECISION_DOMAIN_REPUTATION_JUNK: threshold.default('5'),
};

const num = (key: string, example: string) => `a number or off, e.g. ${key}=${example}`;
const act = (key: string, example: string) => `one of deliver, junk, quarantine, reject, e.g. ${key}=${example}`;
const help = {
  DECISION_SPAM_ACTION: act('DECISION_SPAM_ACTION', 'quarantine'),
  DECISION_SPAM_UNSURE_ACTION: act('DECISION_SPAM_UNSURE_ACTION', 'junk'),
  DECISION_SPAM_REJECT_PROBABILITY: 'a spam probability (0..1) from which mail is refused after acceptance, or off, e.g. DECISION_SPAM_REJECT_PROBABILITY=0.9999',
  DECISION_DMARC_REJECT_ACTION: act('DECISION_DMARC_REJECT_ACTION', 'reject'),
  DECISION_DMARC_QUARANTINE_ACTION: act('DECISION_DMARC_QUARANTINE_ACTION', 'junk'),
  DECISION_DANGEROUS_ATTACHMENT_ACTION: act('DECISION_DANGEROUS_ATTACHMENT_ACTION', 'quarantine'),
  DECISION_VIRUS_ACTION: act('DECISION_VIRUS_ACTION', 'reject'),
  DECISION_REPUTATION_JUNK: num('DECISION_REPUTATION_JUNK', '3'),
  DECISION_REPUTATION_QUARANTINE: num('DECISION_REPUTATION_QUARANTINE', '8'),
  DECISION_DOMAIN_REPUTATION_JUNK: num('DECISION_DOMAIN_REPUTATION_JUNK', '5'),
};

export function loadDecisionConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadEnv(shape, help, env);
  return {
    spam: { spam: c.DECISION_SPAM_ACTION, unsure: c.DECISION_SPAM_UNSURE_ACTION, rejectProbability: c.DECISION_SPAM_REJECT_PROBABILITY },
    dmarc: { reject: c.DECISION_DMARC_REJECT_ACTION, quarantine: c.DECISION_DMARC_QUARANTINE_ACTION },
    dangerousAttachment: c.DECISION_DANGEROUS_ATTACHMENT_ACTION,
    virus: c.DECISION_VIRUS_ACTION,
    reputation: { junk: c.DECISION_REPUTATION_JUNK, quarantine: c.DECISION_REPUTATION_QUARANTINE, domainJunk: c.DECISION_DOMAIN_REPUTATION_JUNK },
  };
}

export type DecisionConfig = ReturnType<typeof loadDecisionConfig>;
