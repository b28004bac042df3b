/**
 * Models on Kafka: the Avro form of a model, publishing it to the compacted spam.model topic, and
 * a follower that reads the topic from the beginning and hands every newer model to the scorer
 * while it keeps scoring (hot swap, no restart).
 */
import type { KeyObject } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import type { KafkaClient, MessageHeaders } from '../../runtime/kafka.ts';
import type { Registry } from 'prom-client';
import { followCompactedTopic } from '../../runtime/compacted-topic.ts';
import type { HealthRegistry } from '../../runtime/health.ts';
import { alertId, newAlert, publishAlert } from '../../runtime/alerts.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { TOPICS } from '../../runtime/topics.ts';
import { encodeSignedModelRecord, MODEL_KEY, publishModelRecord } from '../../runtime/operator/spam-model.ts';
import type { SpamDomainModelInfo, SpamLearnerState, SpamModelRecord } from '../../schemas/types.ts';
import { DOMAIN_KEY_PREFIX } from './domain-model.ts';
import { BayesModel, type ModelData } from './model.ts';
import { keyId, modelSignatureProblem } from '../../runtime/model-signature.ts';


/**
 * The Avro record of a model; `learner`: the spam learner's state (learner/), null for models made
 * otherwise; `domain`: set on a per-recipient-domain residual (domain-model.ts).
 */
export function modelToRecord(data: ModelData, learner: SpamLearnerState | null = null, domain: SpamDomainModelInfo | null = null): SpamModelRecord {
  return {
    format: data.format, formatVersion: data.formatVersion, version: data.version, tokenizerVersion: data.tokenizerVersion,
    trainedAt: data.trainedAt, source: data.source, nham: data.nham, nspam: data.nspam,
    hamCutoff: data.thresholds.ham, spamCutoff: data.thresholds.spam, options: { ...data.options },
    tokens: data.tokens.map((t) => t[0]), hamCounts: data.tokens.map((t) => t[1]), spamCounts: data.tokens.map((t) => t[2]),
    // A model file from before NB scaling has no nbScale; the Avro field is nullable, not optional.
    linear: data.linear ? { ...data.linear, nbScale: data.linear.nbScale ?? null, maxWeight: data.linear.maxWeight ?? null } : null,
    calibration: data.calibration ? { ...data.calibration } : null,
    learner,
    domain,
  };
}

export function modelFromRecord(r: SpamModelRecord): ModelData {
  if (r.tokens.length !== r.hamCounts.length || r.tokens.length !== r.spamCounts.length) throw new Error(`spam model ${r.version}: token and count arrays differ in length`);
  return {
    format: r.format as ModelData['format'], formatVersion: r.formatVersion as 1 | 2, version: r.version, tokenizerVersion: r.tokenizerVersion,
    trainedAt: r.trainedAt, source: r.source, nham: r.nham, nspam: r.nspam,
    thresholds: { ham: r.hamCutoff, spam: r.spamCutoff }, options: { ...r.options },
    tokens: r.tokens.map((t, i) => [t, r.hamCounts[i]!, r.spamCounts[i]!]),
    linear: r.linear ? { ...r.linear } : null,
    calibration: r.calibration ? { ...r.calibration } : null,
  };
}

/** Model file: JSON (ModelData), gzipped when the name ends in .gz. */
export function readModelFile(path: string): ModelData {
  const bytes = readFileSync(path);
  const json = path.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
  return JSON.parse(json) as ModelData;
}

export function writeModelFile(path: string, data: ModelData): void {
  const json = JSON.stringify(data);
  writeFileSync(path, path.endsWith('.gz') ? gzipSync(json, { level: 9 }) : json);
}

/** The history topic that goes with a model topic: spam.model → spam.model.history; others (tests) have none unless given. */
export function historyTopicFor(topic: string): string | null {
  return topic === TOPICS.spamModel.name ? TOPICS.spamModelHistory.name : null;
}

/** A model record's bytes and headers as published: signed over the exact value bytes (model-signature.ts). */
export function encodeSignedModel(codec: RecordCodec, topic: string, data: ModelData, signingKey: KeyObject, learner: SpamLearnerState | null = null, domain: SpamDomainModelInfo | null = null): Promise<{ value: Buffer; headers: Record<string, string> }> {
  return encodeSignedModelRecord(codec, topic, modelToRecord(data, learner, domain), signingKey);
}

/**
 * Publishes a model (key = model name), signed with `signingKey` (model-signature.ts), and returns its
 * offset. The same bytes go to the history topic (key = version) first, so `scop spam rollback` can
 * return to any published version (historyTopic: default spam.model.history for spam.model; null: none).
 */
export function publishModel(kafka: KafkaClient, codec: RecordCodec, data: ModelData, signingKey: KeyObject, topic: string = TOPICS.spamModel.name, key = MODEL_KEY, historyTopic: string | null = historyTopicFor(topic)): Promise<string> {
  return publishModelRecord(kafka, codec, modelToRecord(data), signingKey, topic, key, historyTopic);
}

export interface ModelFollower {
  /** Resolves once the topic has been read up to its end as of start (the newest model, if any, applied). */
  caughtUp: Promise<void>;
  /** Model records refused so far (unsigned, or not signed by a trusted key). */
  readonly refused: number;
  stop(): Promise<void>;
}

/**
 * Follows the model topic: every record whose tokenizer version matches and whose version differs
 * from the current one is decoded and passed to `apply`. Each follower has its own group (a scorer
 * must see every model, not a share of them) and starts from the beginning (runtime/compacted-topic.ts);
 * compaction keeps that short.
 */
export async function followModels(opts: {
  kafka: KafkaClient; codec: RecordCodec; log: Logger; tokenizerVersion: string;
  /** Public keys whose signatures are accepted (model-signature.ts): anything else is refused. */
  trusted: readonly KeyObject[];
  /** Where a refusal is announced (ops.alerts by default); null: only logged (CLI tools). */
  alertsTopic?: string | null;
  topic?: string; key?: string; health?: HealthRegistry; metrics?: Registry;
  /** The follower's name: its consumer group is scop-<name>-<host>-… (default spam-model; the learner's differs, for its ACL prefix). */
  followerName?: string;
  /** `extra`: what a learner needs besides the model (its state in the record, the Kafka headers). */
  apply(model: BayesModel, data: ModelData, offset: string, extra: { learner: SpamLearnerState | null; headers: MessageHeaders | undefined }): void | Promise<void>;
  /**
   * Per-recipient-domain residuals (key domain:<name>, domain-model.ts), signed like models; absent:
   * ignored. `delta` null: the domain's record was deleted (a tombstone).
   */
  applyDomain?(name: string, delta: { model: BayesModel; data: ModelData; info: SpamDomainModelInfo } | null, offset: string, headers: MessageHeaders | undefined): void | Promise<void>;
}): Promise<ModelFollower> {
  const topic = opts.topic ?? TOPICS.spamModel.name;
  const key = opts.key ?? MODEL_KEY;
  const alertsTopic = opts.alertsTopic === undefined ? TOPICS.alerts.name : opts.alertsTopic;
  let refused = 0;
  opts.log.info({ trustedKeys: opts.trusted.map(keyId) }, 'spam models are accepted when signed by these keys');
  const refuse = async (problem: string, offset: string, version: string | undefined) => {
    refused++;
    // The model in use stays; the record is not even decoded (a forged one gets no further than this).
    opts.log.error({ topic, offset, modelVersion: version, problem }, 'spam model refused; keeping the current model');
    if (!alertsTopic) return;
    const producer = opts.kafka.producer();
    try {
      await producer.connect();
      await publishAlert(producer, opts.codec, newAlert({
        id: alertId('spam', 'model-refused', topic, offset), kind: 'model-refused', severity: 'critical', source: 'spam',
        summary: `spam model at ${topic}@${offset} refused: ${problem}`, subject: topic, details: { offset, problem, ...(version ? { modelVersion: version } : {}) },
      }), alertsTopic);
    } catch (e) {
      opts.log.error({ err: (e as Error).message }, 'could not publish the model-refused alert');
    } finally {
      await producer.disconnect().catch(() => {});
    }
  };
  const started = followCompactedTopic({
    kafka: opts.kafka, topic, name: opts.followerName ?? 'spam-model', log: opts.log, health: opts.health, metrics: opts.metrics,
    onRecord: async (recordKey, value, meta) => {
      const domain = recordKey.startsWith(DOMAIN_KEY_PREFIX) && opts.applyDomain ? recordKey.slice(DOMAIN_KEY_PREFIX.length) : null;
      if (recordKey !== key && domain === null) return;
      if (!value) {
        if (domain !== null) await opts.applyDomain!(domain, null, meta.offset, meta.headers);
        return;
      }
      // The signature first, over the exact bytes: unsigned or untrusted models are never decoded or applied.
      const problem = modelSignatureProblem(value, meta.headers, opts.trusted);
      if (problem) return refuse(problem, meta.offset, meta.headers?.['model-version']?.toString());
      const record = await opts.codec.decodeAs<SpamModelRecord>(value, 'SpamModel');
      if (record.tokenizerVersion !== opts.tokenizerVersion) {
        opts.log.warn({ modelVersion: record.version, tokenizerVersion: record.tokenizerVersion, ours: opts.tokenizerVersion }, 'ignoring a spam model trained with another tokenizer version');
        return;
      }
      // A residual is never a whole model, nor one domain's residual another's.
      if ((record.domain?.name ?? null) !== domain) return refuse(`record under key ${recordKey} is ${record.domain ? `the residual of domain ${record.domain.name}` : 'a whole model'}`, meta.offset, record.version);
      const data = modelFromRecord(record);
      if (domain !== null) {
        await opts.applyDomain!(domain, { model: BayesModel.fromData(data), data, info: record.domain! }, meta.offset, meta.headers);
        return;
      }
      await opts.apply(BayesModel.fromData(data), data, meta.offset, { learner: record.learner ?? null, headers: meta.headers });
      opts.log.debug({ version: record.version, offset: meta.offset }, 'spam model read');
    },
  });
  return {
    caughtUp: started.then(() => undefined),
    get refused() { return refused; },
    stop: () => started.then((f) => f.stop(), () => undefined),
  };
}
