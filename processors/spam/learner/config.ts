/** The spam learner's settings (SPAM_LEARNER_*), validated at start; every default is in the README. */
import { join } from 'node:path';
import { z } from 'zod';
import { envBool, envInt, envPort, loadEnv } from '../../../runtime/config.ts';
import { TOPICS } from '../../../runtime/topics.ts';
import { historyTopicFor } from '../model-topic.ts';
import type { CoreOptions } from './core.ts';
import type { LookupOptions } from './lookup.ts';

export interface LearnerConfig {
  feedbackTopic: string;
  modelTopic: string;
  /** null: none (a test's own model topic). */
  historyTopic: string | null;
  alertsTopic: string;
  lookup: LookupOptions;
  core: CoreOptions;
  /** A new version at most this often… */
  publishIntervalMs: number;
  /** …or as soon as this many labels wait. */
  publishLabels: number;
  transactionalId: string;
  /** The feedback hook (hook.ts); null: off. */
  hook: { host: string; port: number; tokensFile: string } | null;
}

const fraction = () => z.coerce.number().min(0).max(1);

export function loadLearnerConfig(env: NodeJS.ProcessEnv, dataDir: string): LearnerConfig {
  const c = loadEnv(
    {
      SPAM_MODEL_TOPIC: z.string().min(1).default(TOPICS.spamModel.name),
      SPAM_MODEL_HISTORY_TOPIC: z.string().min(1).optional(),
      SPAM_LEARNER_FEEDBACK_TOPIC: z.string().min(1).default(TOPICS.spamFeedback.name),
      SPAM_LEARNER_RECORDS_TOPIC: z.string().min(1).default(TOPICS.inboundAuthenticated.name),
      SPAM_LEARNER_ALERTS_TOPIC: z.string().min(1).default(TOPICS.alerts.name),
      SPAM_LEARNER_PUBLISH_INTERVAL_MS: envInt(100).max(86_400_000).default(60_000),
      SPAM_LEARNER_PUBLISH_LABELS: envInt(1).max(1_000_000).default(500),
      SPAM_LEARNER_TRUSTED_SOURCES: z.string().default('cli,quarantine:*,console:*,imap:*'),
      SPAM_LEARNER_RATE_PER_HOUR: envInt(1).max(1_000_000).default(600),
      SPAM_LEARNER_MAX_FP_INCREASE: fraction().default(0.01),
      SPAM_LEARNER_HOLDBACK_PERCENT: envInt(0).max(50).default(10),
      SPAM_LEARNER_HOLDBACK_MAX: envInt(0).max(10_000).default(200),
      SPAM_LEARNER_HOLDBACK_MIN: envInt(1).max(10_000).default(20),
      SPAM_LEARNER_RECENT_MAX: envInt(0).max(1_000_000).default(5_000),
      SPAM_LEARNER_LOOKUP_SKEW_MS: envInt(0).max(86_400_000).default(60_000),
      SPAM_LEARNER_LOOKUP_WINDOW_MS: envInt(1_000).max(7 * 86_400_000).default(3_600_000),
      SPAM_LEARNER_LOOKUP_MAX_RECORDS: envInt(100).max(100_000_000).default(200_000),
      SPAM_LEARNER_TRANSACTIONAL_ID: z.string().min(1).default('scop-learner-spam'),
      SPAM_LEARNER_HOOK_PORT: z.union([z.literal('off'), envPort()]).default('off'),
      SPAM_LEARNER_HOOK_HOST: z.string().min(1).default('127.0.0.1'),
      SPAM_LEARNER_HOOK_TOKENS_FILE: z.string().min(1).optional(),
      SPAM_LEARNER_DOMAIN_MODELS: envBool().default('false'),
      SPAM_LEARNER_DOMAIN_MAX: envInt(1).max(10_000).default(100),
      SPAM_LEARNER_DOMAIN_MAX_TOKENS: envInt(100).max(200_000).default(2_000),
      SPAM_LEARNER_DOMAIN_MIN_LABELS: envInt(1).max(1_000_000).default(20),
      SPAM_LEARNER_DOMAIN_GLOBAL: z.enum(['isolated', 'shared']).default('isolated'),
      SPAM_LEARNER_DOMAIN_IDLE_DAYS: envInt(1).max(3650).default(30),
    },
    {
      SPAM_MODEL_TOPIC: 'the model topic the scorers follow (spam.model)',
      SPAM_MODEL_HISTORY_TOPIC: 'the topic every published version also goes to (spam.model.history), or none',
      SPAM_LEARNER_FEEDBACK_TOPIC: 'the labels topic (spam.feedback)',
      SPAM_LEARNER_RECORDS_TOPIC: 'a topic of MailRecords with the mime section, kept at least as long as labels come late (mail.inbound.authenticated)',
      SPAM_LEARNER_ALERTS_TOPIC: 'where a rejected batch is announced (ops.alerts)',
      SPAM_LEARNER_PUBLISH_INTERVAL_MS: 'milliseconds between two published versions at most, 100–86400000 (default 60000)',
      SPAM_LEARNER_PUBLISH_LABELS: 'labels that make a version at once, 1–1000000 (default 500)',
      SPAM_LEARNER_TRUSTED_SOURCES: 'comma-separated label sources to learn from; name:* matches name:anything, * any (default cli,quarantine:*,console:*,imap:*)',
      SPAM_LEARNER_RATE_PER_HOUR: 'labels per hour one source may give, 1–1000000 (default 600)',
      SPAM_LEARNER_MAX_FP_INCREASE: 'largest rise of the held-back ham FP rate one version may cause, 0–1 (default 0.01 = 1 point)',
      SPAM_LEARNER_HOLDBACK_PERCENT: 'percentage of ham labels kept as the test sample instead of learnt, 0–50 (default 10)',
      SPAM_LEARNER_HOLDBACK_MAX: 'held-back ham kept, 0–10000 (default 200)',
      SPAM_LEARNER_HOLDBACK_MIN: 'held-back ham needed before the FP guard judges, 1–10000 (default 20)',
      SPAM_LEARNER_RECENT_MAX: 'labels remembered to skip repeats and correct changed labels, 0–1000000 (default 5000)',
      SPAM_LEARNER_LOOKUP_SKEW_MS: 'how far before a record id\'s time its lookup starts (clock skew), ms (default 60000)',
      SPAM_LEARNER_LOOKUP_WINDOW_MS: 'how far after it the lookup gives up (pipeline latency), ms (default 3600000)',
      SPAM_LEARNER_LOOKUP_MAX_RECORDS: 'records one lookup reads at most, ≥ 100 (default 200000)',
      SPAM_LEARNER_TRANSACTIONAL_ID: 'the Kafka transactional id all learners of one model topic share (one runs; a new one fences the old); under the ACL prefix scop-learner (default scop-learner-spam)',
      SPAM_LEARNER_HOOK_PORT: 'the feedback hook\'s HTTP port (e.g. 9487), or off (default)',
      SPAM_LEARNER_HOOK_HOST: 'the address the feedback hook listens on (default 127.0.0.1)',
      SPAM_LEARNER_HOOK_TOKENS_FILE: 'the hook\'s token file (scop spam hook-token <name>), default <data dir>/secrets/spam-feedback-hook.tokens',
      SPAM_LEARNER_DOMAIN_MODELS: 'true to keep a model per recipient domain on top of the global one, else false (default)',
      SPAM_LEARNER_DOMAIN_MAX: 'recipient domains with a model at most, 1–10000 (default 100; later domains are learnt globally)',
      SPAM_LEARNER_DOMAIN_MAX_TOKENS: 'weights kept per domain model, 100–200000 (default 2000)',
      SPAM_LEARNER_DOMAIN_MIN_LABELS: 'labels a domain needs before scorers use its model, ≥ 1 (default 20)',
      SPAM_LEARNER_DOMAIN_GLOBAL: 'isolated (a one-domain message\'s label teaches its domain only, default) or shared (the global model too)',
      SPAM_LEARNER_DOMAIN_IDLE_DAYS: 'days without a label after which a domain\'s model may be evicted to make room for a new domain when SPAM_LEARNER_DOMAIN_MAX is reached, 1–3650 (default 30)',
    },
    env,
  );
  const history = c.SPAM_MODEL_HISTORY_TOPIC === 'none' ? null : (c.SPAM_MODEL_HISTORY_TOPIC ?? historyTopicFor(c.SPAM_MODEL_TOPIC));
  return {
    feedbackTopic: c.SPAM_LEARNER_FEEDBACK_TOPIC, modelTopic: c.SPAM_MODEL_TOPIC, historyTopic: history, alertsTopic: c.SPAM_LEARNER_ALERTS_TOPIC,
    lookup: { topic: c.SPAM_LEARNER_RECORDS_TOPIC, skewMs: c.SPAM_LEARNER_LOOKUP_SKEW_MS, windowMs: c.SPAM_LEARNER_LOOKUP_WINDOW_MS, maxRecords: c.SPAM_LEARNER_LOOKUP_MAX_RECORDS },
    core: {
      trustedSources: c.SPAM_LEARNER_TRUSTED_SOURCES.split(',').map((s) => s.trim()).filter(Boolean),
      ratePerHour: c.SPAM_LEARNER_RATE_PER_HOUR, holdbackPercent: c.SPAM_LEARNER_HOLDBACK_PERCENT, holdbackMax: c.SPAM_LEARNER_HOLDBACK_MAX,
      holdbackMin: c.SPAM_LEARNER_HOLDBACK_MIN, holdbackTokens: 1000, recentMax: c.SPAM_LEARNER_RECENT_MAX, maxFpIncrease: c.SPAM_LEARNER_MAX_FP_INCREASE,
      domains: c.SPAM_LEARNER_DOMAIN_MODELS ? {
        maxDomains: c.SPAM_LEARNER_DOMAIN_MAX, maxTokens: c.SPAM_LEARNER_DOMAIN_MAX_TOKENS, minLabels: c.SPAM_LEARNER_DOMAIN_MIN_LABELS, global: c.SPAM_LEARNER_DOMAIN_GLOBAL,
        idleMs: c.SPAM_LEARNER_DOMAIN_IDLE_DAYS * 86_400_000,
      } : null,
    },
    publishIntervalMs: c.SPAM_LEARNER_PUBLISH_INTERVAL_MS, publishLabels: c.SPAM_LEARNER_PUBLISH_LABELS,
    transactionalId: c.SPAM_LEARNER_TRANSACTIONAL_ID,
    hook: c.SPAM_LEARNER_HOOK_PORT === 'off' ? null : {
      host: c.SPAM_LEARNER_HOOK_HOST, port: c.SPAM_LEARNER_HOOK_PORT,
      tokensFile: c.SPAM_LEARNER_HOOK_TOKENS_FILE ?? hookTokensFile(dataDir),
    },
  };
}

/** Where the feedback hook's tokens are kept by default. */
export function hookTokensFile(dataDir: string): string {
  return join(dataDir, 'secrets', 'spam-feedback-hook.tokens');
}
