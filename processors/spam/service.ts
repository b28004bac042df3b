/**
 * The spam stage: mail.inbound.authenticated → tokenize (MIME section, envelope, auth verdicts) →
 * score → the record with its `spam` section on mail.inbound.scored. The model comes from
 * the compacted spam.model topic and is swapped in while the stage runs; on a fresh install (empty
 * topic) the stage publishes the shipped default model first, so spam is caught from the first message.
 *
 * Tokenizing is the part whose cost a sender controls. Every input is cut to the limits first
 * (bounds.ts) and the tokenizer is linear; on top of that, messages larger than
 * SPAM_INLINE_MAX_CHARS are tokenized in a worker thread (runtime/cpu-pool.ts) that the record's
 * time limit terminates, so nothing a sender writes can hold the stage past processTimeoutMs. Small
 * messages (nearly all mail) are tokenized inline: for them the worker hop would cost more than the
 * tokenizing (README "Bounded cost").
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counterOn, gaugeOn, histogramOn } from '../../runtime/metrics.ts';
import { z } from 'zod';
import { envBool, envInt, loadEnv } from '../../runtime/config.ts';
import { boundedWorker } from '../../runtime/cpu-pool.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { DEFAULT_MODEL_FILE, loadDefaultModel } from './default-model.ts';
import { domainModelFor, forScoring, type DomainModel } from './domain-model.ts';
import { modelLine } from '../../runtime/operator/spam-model.ts';
import { BayesModel, type Verdict } from './model.ts';
import { followModels, publishModel, type ModelFollower } from './model-topic.ts';
import { spamInputFromRecord, type SpamInput } from './input.ts';
import { spamSection, STAGE_VERSION, type ActiveModel } from './scorer.ts';
import { EVIDENCE, spamSymbols } from './symbols.ts';
import type { TokenizeTask } from './tokenize-worker.ts';
import { DEFAULT_LIMITS, tokenize, TOKENIZER_VERSION, type TokenizerLimits } from './tokenizer.ts';
import { loadModelKeys } from '../../runtime/model-signature.ts';
import { SPAM_SYMBOLS } from './symbol-names.ts';

/** The stage's per-record limit; SPAM_TOKENIZE_TIMEOUT_MS stays below it. */
export const PROCESS_TIMEOUT_MS = 10_000;
/**
 * A worker tokenize past this is stopped (its thread terminated). Below the record limit: records wait
 * for the one thread with their own clocks running, and a limit past the record's would let one stuck
 * tokenize take the records queued behind it to the dead letters too. The largest input the limits
 * allow tokenizes in < 50 ms of CPU (redos.test.ts); a replacement worker's start (~1 s) counts here.
 */
export const DEFAULT_TOKENIZE_TIMEOUT_MS = 4_000;

interface SpamMetrics {
  verdicts: Counter<'verdict' | 'model_version'>;
  probability: Histogram;
  modelInfo: Gauge<'version'>;
  modelSwitches: Counter;
  domainModels: Gauge;
  domainScored: Counter;
  evidence: Counter<'symbol' | 'verdict'>;
}

const VERDICTS: readonly Verdict[] = ['spam', 'unsure', 'ham'];

export function spamMetrics(registry: Registry): SpamMetrics {
  const m: SpamMetrics = {
    verdicts: counterOn(registry, { name: 'scop_spam_verdicts_total', help: 'Messages scored, by verdict and the model version that scored them.', labelNames: ['verdict', 'model_version'] as const }),
    probability: histogramOn(registry, { name: 'scop_spam_probability', help: 'Spam probability of scored messages.', buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99] }),
    modelInfo: gaugeOn(registry, { name: 'scop_spam_model_info', help: 'The model version this scorer uses (value 1; older versions drop to 0).', labelNames: ['version'] as const }),
    modelSwitches: counterOn(registry, { name: 'scop_spam_model_switches_total', help: 'Times this scorer switched to a new model version.' }),
    domainModels: gaugeOn(registry, { name: 'scop_spam_domain_models', help: 'Per-recipient-domain models this scorer blends in.' }),
    domainScored: counterOn(registry, { name: 'scop_spam_domain_scored_total', help: 'Messages scored with a per-recipient-domain model blended in.' }),
    // Per verdict: each symbol's hit rate per class on live traffic, what its policy weight is tuned with (the corpora cannot say much about relays).
    evidence: counterOn(registry, { name: 'scop_spam_evidence_total', help: 'Evidence symbols emitted (RDNS_NONE, MIME_HTML_ONLY, ...), by symbol and the verdict of the same message.', labelNames: ['symbol', 'verdict'] as const }),
  };
  // Symbols × verdicts is a closed set: every series starts at zero, so a dashboard shows a symbol that never fired as 0, not as missing.
  for (const e of EVIDENCE) for (const verdict of VERDICTS) m.evidence.inc({ symbol: e.symbol, verdict }, 0);
  return m;
}

export interface SpamState {
  active: ActiveModel | null;
  /** Per-recipient-domain residuals in use (domain-model.ts), by domain: each replaced whole when its record arrives. */
  domains: Map<string, DomainModel>;
  follower: ModelFollower;
  metrics: SpamMetrics;
  tokenizer: BoundedTokenizer;
}

export interface SpamConfig {
  modelTopic: string;
  defaultModelFile: string;
  publishDefault: boolean;
  limits: TokenizerLimits;
  /** Messages whose text + HTML exceed this many characters are tokenized in a worker thread (0: all of them). */
  inlineMaxChars: number;
  tokenizeThreads: number;
  tokenizeTimeoutMs: number;
}

export function loadSpamConfig(env: NodeJS.ProcessEnv): SpamConfig {
  const d = DEFAULT_LIMITS;
  const cfg = loadEnv(
    {
      SPAM_MODEL_TOPIC: z.string().min(1).default(TOPICS.spamModel.name), SPAM_DEFAULT_MODEL: z.string().min(1).default(DEFAULT_MODEL_FILE), SPAM_PUBLISH_DEFAULT: envBool().default('true'),
      SPAM_MAX_TEXT_CHARS: envInt(1_000).max(10_000_000).default(d.maxTextChars),
      SPAM_MAX_HTML_CHARS: envInt(1_000).max(10_000_000).default(d.maxHtmlChars),
      SPAM_MAX_FIELD_CHARS: envInt(100).max(100_000).default(d.maxFieldChars),
      SPAM_MAX_URLS: envInt(1).max(10_000).default(d.maxUrls),
      SPAM_MAX_TOKENS: envInt(100).max(100_000).default(d.maxTokens),
      SPAM_INLINE_MAX_CHARS: envInt(0).max(1_000_000).default(32768),
      SPAM_TOKENIZE_THREADS: envInt(1).max(64).default(1),
      SPAM_TOKENIZE_TIMEOUT_MS: envInt(100).max(PROCESS_TIMEOUT_MS - 1_000).default(DEFAULT_TOKENIZE_TIMEOUT_MS),
      SPAM_CLIENT_RDNS: envBool().default('true'),
    },
    {
      SPAM_MODEL_TOPIC: 'a Kafka topic name', SPAM_DEFAULT_MODEL: 'path of a model file (.json or .json.gz) from `scop spam train --out`', SPAM_PUBLISH_DEFAULT: 'true or false',
      SPAM_MAX_TEXT_CHARS: 'characters of plain-text body tokenized, 1000–10000000 (default 200000)',
      SPAM_MAX_HTML_CHARS: 'characters of HTML body tokenized, 1000–10000000 (default 262144)',
      SPAM_MAX_FIELD_CHARS: 'characters of each header value tokenized, 100–100000 (default 2000)',
      SPAM_MAX_URLS: 'URLs tokenized per message, 1–10000 (default 100)',
      SPAM_MAX_TOKENS: 'distinct tokens per message, 100–100000 (default 3000)',
      SPAM_INLINE_MAX_CHARS: 'text + HTML size up to which a message is tokenized on the main thread, 0–1000000 (0: every message in a worker; default 32768)',
      SPAM_TOKENIZE_THREADS: 'worker threads for tokenizing large messages, 1–64 (default 1)',
      SPAM_TOKENIZE_TIMEOUT_MS: `milliseconds a worker may tokenize one message, 100–${PROCESS_TIMEOUT_MS - 1_000} (below the stage's ${PROCESS_TIMEOUT_MS} ms record limit), e.g. SPAM_TOKENIZE_TIMEOUT_MS=${DEFAULT_TOKENIZE_TIMEOUT_MS}`,
      SPAM_CLIENT_RDNS: 'true when the ingress looks up client reverse DNS (INGRESS_REVERSE_DNS), else false',
    },
    env,
  );
  return {
    modelTopic: cfg.SPAM_MODEL_TOPIC, defaultModelFile: cfg.SPAM_DEFAULT_MODEL, publishDefault: cfg.SPAM_PUBLISH_DEFAULT,
    limits: { ...d, maxTextChars: cfg.SPAM_MAX_TEXT_CHARS, maxHtmlChars: cfg.SPAM_MAX_HTML_CHARS, maxFieldChars: cfg.SPAM_MAX_FIELD_CHARS, maxUrls: cfg.SPAM_MAX_URLS, maxTokens: cfg.SPAM_MAX_TOKENS, clientRdns: cfg.SPAM_CLIENT_RDNS },
    inlineMaxChars: cfg.SPAM_INLINE_MAX_CHARS, tokenizeThreads: cfg.SPAM_TOKENIZE_THREADS, tokenizeTimeoutMs: cfg.SPAM_TOKENIZE_TIMEOUT_MS,
  };
}

/** Tokenizes inline when the message is small, else in a worker that its time limit or the signal (the record's) terminates. */
export interface BoundedTokenizer {
  tokenize(input: SpamInput, signal?: AbortSignal): Promise<string[]>;
  close(): Promise<void>;
}

/** Text + HTML characters: what the tokenizer's cost grows with (header fields are cut to a few KB each). */
export function bodyChars(input: SpamInput): number {
  return (input.text?.length ?? 0) + (input.html?.length ?? 0);
}

export function boundedTokenizer(opts: {
  limits: TokenizerLimits; inlineMaxChars: number; threads: number; timeoutMs: number; registry?: Registry;
  /** The worker module (tests substitute one that can hang). */
  module?: URL;
}): BoundedTokenizer {
  const worker = boundedWorker<SpamInput, TokenizeTask, string[]>({
    pool: { name: 'spam-tokenize', module: opts.module ?? new URL('./tokenize-worker.ts', import.meta.url), threads: opts.threads, timeoutMs: opts.timeoutMs, maxHeapMb: 256, registry: opts.registry },
    inlineUpTo: opts.inlineMaxChars, sizeOf: bodyChars, timeoutKey: 'SPAM_TOKENIZE_TIMEOUT_MS',
    describe: (chars) => `tokenizing a message of ${chars} body characters`,
  });
  return {
    async tokenize(input, signal) {
      if (worker.inline(input)) return tokenize(input, opts.limits);
      return worker.run(input, { input, limits: opts.limits }, { signal });
    },
    close: () => worker.close(),
  };
}

export const spamService = defineStage<SpamState, 'spam'>({
  name: 'spam',
  symbols: SPAM_SYMBOLS,
  section: 'spam',
  version: STAGE_VERSION,
  description: 'spam scoring (logistic regression over the Bayes tokens) with models hot-swapped from spam.model',
  input: TOPICS.inboundAuthenticated,
  output: TOPICS.inboundScored,
  defaultMetricsPort: 9475,
  concurrency: 4,
  processTimeoutMs: PROCESS_TIMEOUT_MS,
  async init(svc) {
    const config = loadSpamConfig(svc.env);
    const metrics = spamMetrics(svc.metrics);
    const log = svc.log.child({ component: 'spam-model' });
    const tokenizer = boundedTokenizer({ limits: config.limits, inlineMaxChars: config.inlineMaxChars, threads: config.tokenizeThreads, timeoutMs: config.tokenizeTimeoutMs, registry: svc.metrics });
    const state = { active: null, domains: new Map(), metrics, tokenizer } as unknown as SpamState;
    const use = (model: BayesModel, version: string, line: string, how: string) => {
      const previous = state.active?.version;
      if (previous === version) return;
      state.active = { model, version, line }; // one assignment: records in flight keep the model they started with
      if (previous) metrics.modelInfo.set({ version: previous }, 0);
      metrics.modelInfo.set({ version }, 1);
      if (previous) metrics.modelSwitches.inc();
      log.info({ modelVersion: version, line, previous, how, nham: model.nham, nspam: model.nspam, tokens: model.counts.size, thresholds: model.thresholds }, 'spam model in use');
    };
    // Only signed models are used (model-signature.ts); on one box the pair is created here the first time.
    const keys = loadModelKeys({ env: svc.env, dataDir: svc.dataDir, create: true });
    state.follower = await followModels({
      kafka: svc.kafka, codec: svc.codec, log, tokenizerVersion: TOKENIZER_VERSION, topic: config.modelTopic, trusted: keys.trusted, health: svc.health, metrics: svc.metrics,
      apply: (model, data, _offset, extra) => use(model, data.version, modelLine({ version: data.version, learner: extra.learner }), 'spam.model topic'),
      applyDomain: (name, delta) => {
        // A domain below its label minimum is published (the learner's state) but not blended in; one of
        // another global line is kept (its line may come back) but applied only on top of its own (domainModelFor).
        if (delta?.info.inUse) state.domains.set(name, { name, delta: forScoring(delta.model), version: delta.data.version, base: delta.info.base });
        else state.domains.delete(name);
        metrics.domainModels.set(state.domains.size);
        log.debug({ domain: name, modelVersion: delta?.data.version, inUse: delta?.info.inUse ?? false, base: delta?.info.base }, 'per-domain spam model');
      },
    });
    await state.follower.caughtUp;
    if (!state.active) {
      const data = loadDefaultModel(config.defaultModelFile);
      if (!data) throw new Error(`no spam model on ${config.modelTopic} and no default model file at ${config.defaultModelFile}: train one with \`scop spam train --corpora --publish\``);
      if (data.tokenizerVersion !== TOKENIZER_VERSION) throw new Error(`default model ${config.defaultModelFile} was trained with tokenizer ${data.tokenizerVersion}, this scorer has ${TOKENIZER_VERSION}: regenerate it with \`scop spam train --corpora --out ${config.defaultModelFile}\``);
      use(BayesModel.fromData(data), data.version, data.version, 'default model file');
      // Published only by a scorer that can sign it, and never over models it refused (an operator must look at those).
      if (config.publishDefault && keys.signing && state.follower.refused === 0) {
        try {
          const offset = await publishModel(svc.kafka, svc.codec, data, keys.signing, config.modelTopic);
          log.info({ modelVersion: data.version, offset, topic: config.modelTopic }, 'published the default spam model (the model topic was empty)');
        } catch (e) {
          // A scorer whose principal may not write spam.model (SECURITY.md): it scores with the file all the same.
          log.warn({ err: (e as Error).message, topic: config.modelTopic }, 'could not publish the default spam model; scoring with it locally');
        }
      }
    }
    return state;
  },
  async close(state) {
    await state.follower.stop();
    await state.tokenizer.close();
  },
  async process(record, ctx) {
    const input = spamInputFromRecord(record);
    const tokens = await ctx.state.tokenizer.tokenize(input, ctx.signal);
    // The model in use when the tokens are ready (a hot swap during tokenizing is fine: one model scores).
    const active = ctx.state.active!;
    const domain = domainModelFor(record.envelope.rcptTo, ctx.state.domains, active.line ?? active.version);
    const spam = spamSection(tokens, active, Date.now(), domain);
    if (domain) ctx.state.metrics.domainScored.inc();
    // The global version only: a label per domain model version would grow without bound.
    ctx.state.metrics.verdicts.inc({ verdict: spam.verdict, model_version: active.version });
    ctx.state.metrics.probability.observe(spam.probability);
    ctx.log.debug({ verdict: spam.verdict, probability: spam.probability, modelVersion: spam.modelVersion }, 'scored');
    const symbols = spamSymbols(spam, tokens);
    for (const s of symbols.slice(1)) ctx.state.metrics.evidence.inc({ symbol: s.symbol, verdict: spam.verdict });
    return { section: spam, symbols };
  },
});
