/**
 * The decision stage's settings from the environment: where the policy file is and how often it is
 * looked at, and the ten DECISION_* variables of before the policy file. Those still work, as
 * changes to the built-in default policy (the policy file overrides them key by key); they are
 * deprecated: README "Migrating from DECISION_* variables" gives each one's policy-file form.
 */
import { z } from 'zod';
import { envInt, loadEnv } from '../../runtime/config.ts';
import { policyFileFromEnv } from '../../runtime/policy-file.ts';

const action = z.enum(['deliver', 'junk', 'quarantine', 'reject']);
/** A score threshold, or `off` to never apply the rule. */
const threshold = z.string().transform((s, ctx) => {
  if (s === 'off') return Infinity;
  const n = Number(s);
  if (!Number.isFinite(n)) { ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a number or off' }); return z.NEVER; }
  return n;
});

const legacyShape = {
  DECISION_SPAM_ACTION: action.optional(),
  DECISION_SPAM_UNSURE_ACTION: action.optional(),
  DECISION_SPAM_REJECT_PROBABILITY: threshold.optional(),
  DECISION_DMARC_REJECT_ACTION: action.optional(),
  DECISION_DMARC_QUARANTINE_ACTION: action.optional(),
  DECISION_DANGEROUS_ATTACHMENT_ACTION: action.optional(),
  DECISION_VIRUS_ACTION: action.optional(),
  DECISION_REPUTATION_JUNK: threshold.optional(),
  DECISION_REPUTATION_QUARANTINE: threshold.optional(),
  DECISION_DOMAIN_REPUTATION_JUNK: threshold.optional(),
};
export type LegacyEnv = Partial<{ [K in keyof typeof legacyShape]: NonNullable<z.infer<(typeof legacyShape)[K]>> }>;

const num = (key: string, example: string) => `a number or off, e.g. ${key}=${example} (deprecated: README "Migrating from DECISION_* variables")`;
const act = (key: string, example: string) => `one of deliver, junk, quarantine, reject, e.g. ${key}=${example} (deprecated: README "Migrating from DECISION_* variables")`;

export function loadDecisionConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadEnv({ ...legacyShape, DECISION_POLICY_POLL_MS: envInt(100).max(3_600_000).default(2000) }, {
    DECISION_SPAM_ACTION: act('DECISION_SPAM_ACTION', 'quarantine'),
    DECISION_SPAM_UNSURE_ACTION: act('DECISION_SPAM_UNSURE_ACTION', 'junk'),
    DECISION_SPAM_REJECT_PROBABILITY: num('DECISION_SPAM_REJECT_PROBABILITY', '0.9999'),
    DECISION_DMARC_REJECT_ACTION: act('DECISION_DMARC_REJECT_ACTION', 'reject'),
    DECISION_DMARC_QUARANTINE_ACTION: act('DECISION_DMARC_QUARANTINE_ACTION', 'junk'),
    DECISION_DANGEROUS_ATTACHMENT_ACTION: act('DECISION_DANGEROUS_ATTACHMENT_ACTION', 'quarantine'),
    DECISION_VIRUS_ACTION: act('DECISION_VIRUS_ACTION', 'reject'),
    DECISION_REPUTATION_JUNK: num('DECISION_REPUTATION_JUNK', '3'),
    DECISION_REPUTATION_QUARANTINE: num('DECISION_REPUTATION_QUARANTINE', '8'),
    DECISION_DOMAIN_REPUTATION_JUNK: num('DECISION_DOMAIN_REPUTATION_JUNK', '5'),
    DECISION_POLICY_POLL_MS: 'milliseconds between looks at the policy file for changes (100..3600000), e.g. DECISION_POLICY_POLL_MS=2000',
  }, env);
  const { DECISION_POLICY_POLL_MS: pollMs, ...rest } = c;
  const legacy = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as LegacyEnv;
  return { policyFile: policyFileFromEnv(env), pollMs, legacy };
}

export type DecisionConfig = ReturnType<typeof loadDecisionConfig>;
