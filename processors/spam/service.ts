/**
 * The spam stage: mail.inbound.authenticated → tokenize (MIME section, envelope, auth verdicts) →
 * Bayes score → the record with its `spam` section on mail.inbound.scored. The model comes from
 * the compacted spam.model topic and is swapped in while the stage runs; on a fresh install (empty
 * topic) the stage publishes the shipped default model first, so spam is caught from the first message.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counterOn, gaugeOn, histogramOn } from '../../runtime/metrics.ts';
import { z } from 'zod';
import { envBool, loadEnv } from '../../runtime/config.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { DEFAULT_MODEL_FILE, loadDefaultModel } from './default-model.ts';
import { BayesModel } from './model.ts';
import { followModels, publishModel, type ModelFollower } from './model-topic.ts';
import { loadModelKeys } from './model-signature.ts';
import { scoreRecord, STAGE_VERSION, type ActiveModel } from './scorer.ts';
import { TOKENIZER_VERSION } from './tokenizer.ts';

interface SpamMetrics {
  verdicts: Counter<'verdict' | 'model_version'>;
  probability: Histogram;
  modelInfo: Gauge<'version'>;
  modelSwitches: Counter;
}

function spamMetrics(registry: Registry): SpamMetrics {
  return {
    verdicts: counterOn(registry, { name: 'scop_spam_verdicts_total', help: 'Messages scored, by verdict and the model version that scored them.', labelNames: ['verdict', 'model_version'] as const }),
    probability: histogramOn(registry, { name: 'scop_spam_probability', help: 'Spam probability of scored messages.', buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99] }),
    modelInfo: gaugeOn(registry, { name: 'scop_spam_model_info', help: 'The model version this scorer uses (value 1; older versions drop to 0).', labelNames: ['version'] as const }),
    modelSwitches: counterOn(registry, { name: 'scop_spam_model_switches_total', help: 'Times this scorer switched to a new model version.' }),
  };
}

export interface SpamState {
  active: ActiveModel | null;
  follower: ModelFollower;
  metrics: SpamMetrics;
}

export interface SpamConfig {
  modelTopic: string;
  defaultModelFile: string;
  publishDefault: boolean;
}

export function loadSpamConfig(env: NodeJS.ProcessEnv): SpamConfig {
  const cfg = loadEnv(
    { SPAM_MODEL_TOPIC: z.string().min(1).default(TOPICS.spamModel.name), SPAM_DEFAULT_MODEL: z.string().min(1).default(DEFAULT_MODEL_FILE), SPAM_PUBLISH_DEFAULT: envBool().default('true') },
    { SPAM_MODEL_TOPIC: 'a Kafka topic name', SPAM_DEFAULT_MODEL: 'path of a model file (.json or .json.gz) from `scop spam train --out`', SPAM_PUBLISH_DEFAULT: 'true or false' },
    env,
  );
  return { modelTopic: cfg.SPAM_MODEL_TOPIC, defaultModelFile: cfg.SPAM_DEFAULT_MODEL, publishDefault: cfg.SPAM_PUBLISH_DEFAULT };
}

export const spamService = defineStage<SpamState, MailRecord, MailRecord>({
  name: 'spam',
  version: STAGE_VERSION,
  description: 'spam scoring (logistic regression over the Bayes tokens) with models hot-swapped from spam.model',
  input: TOPICS.inboundAuthenticated,
  output: TOPICS.inboundScored,
  defaultMetricsPort: 9475,
  concurrency: 4,
  processTimeoutMs: 10000,
  async init(svc) {
    const config = loadSpamConfig(svc.env);
    const metrics = spamMetrics(svc.metrics);
    const log = svc.log.child({ component: 'spam-model' });
    const state = { active: null, metrics } as unknown as SpamState;
    const use = (model: BayesModel, version: string, how: string) => {
      const previous = state.active?.version;
      if (previous === version) return;
      state.active = { model, version }; // one assignment: records in flight keep the model they started with
      if (previous) metrics.modelInfo.set({ version: previous }, 0);
      metrics.modelInfo.set({ version }, 1);
      if (previous) metrics.modelSwitches.inc();
      log.info({ modelVersion: version, previous, how, nham: model.nham, nspam: model.nspam, tokens: model.counts.size, thresholds: model.thresholds }, 'spam model in use');
    };
    // Only signed models are used (model-signature.ts); on one box the pair is created here the first time.
    const keys = loadModelKeys({ env: svc.env, dataDir: svc.dataDir, create: true });
    state.follower = await followModels({
      kafka: svc.kafka, codec: svc.codec, log, tokenizerVersion: TOKENIZER_VERSION, topic: config.modelTopic, trusted: keys.trusted,
      apply: (model, data) => use(model, data.version, 'spam.model topic'),
    });
    await state.follower.caughtUp;
    if (!state.active) {
      const data = loadDefaultModel(config.defaultModelFile);
      if (!data) throw new Error(`no spam model on ${config.modelTopic} and no default model file at ${config.defaultModelFile}: train one with \`scop spam train --spamassassin --publish\``);
      if (data.tokenizerVersion !== TOKENIZER_VERSION) throw new Error(`default model ${config.defaultModelFile} was trained with tokenizer ${data.tokenizerVersion}, this scorer has ${TOKENIZER_VERSION}: regenerate it with \`scop spam train --spamassassin --out ${config.defaultModelFile}\``);
      use(BayesModel.fromData(data), data.version, 'default model file');
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
  },
  process(record, ctx) {
    const active = ctx.state.active!;
    const spam = scoreRecord(record, active);
    ctx.state.metrics.verdicts.inc({ verdict: spam.verdict, model_version: spam.modelVersion });
    ctx.state.metrics.probability.observe(spam.probability);
    ctx.log.debug({ verdict: spam.verdict, probability: spam.probability, modelVersion: spam.modelVersion }, 'scored');
    return { ...record, spam };
  },
});
