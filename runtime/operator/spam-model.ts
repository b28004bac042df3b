/**
 * Spam model rollback, shared by `scop spam rollback` and the console's model page: republishes an
 * earlier version from spam.model.history (key = version) to spam.model (key = model name). The
 * bytes and signature are those published then — no signing key is needed, and the signature is
 * checked here too, so a tampered history record is refused before any scorer sees it. A header
 * marks the record as a rollback so the spam learner adopts it even if it published that version
 * itself, and continues on top of it (processors/spam/learner/core.ts adopt). Default target: the
 * version the current model replaced (its learner state's previousVersion).
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { followCompactedTopic, readCompactedTopic } from '../compacted-topic.ts';
import { ConfigError } from '../config.ts';
import { CompressionTypes, type KafkaClient, type KafkaMessage, type MessageHeaders } from '../kafka.ts';
import type { Logger } from '../log.ts';
import { modelSignatureProblem, signatureHeaders } from '../model-signature.ts';
import type { RecordCodec } from '../registry.ts';
import { readTopicRange } from '../topic-reader.ts';
import type { SpamModelRecord } from '../../schemas/types.ts';

/** The key of the (one) model on spam.model. */
export const MODEL_KEY = 'default';

/** Keys `domain:<name>` on spam.model: per-recipient-domain residuals (processors/spam/domain-model.ts), not models of their own. */
export const DOMAIN_KEY_PREFIX = 'domain:';

/**
 * Header every published model record carries beside its signature: what the console's model list
 * shows (JSON of ModelSummary), so listing the history does not decode whole models. Informational:
 * a rollback checks the signed value, never this.
 */
export const MODEL_SUMMARY_HEADER = 'scop-model-summary';

/** What the summary header may hold: bounded (the header comes off a topic anyone with write access fills). */
const modelSummarySchema = z.object({
  version: z.string().min(1).max(1000),
  trainedAt: z.number().finite().nonnegative(),
  source: z.string().max(1000),
  nham: z.number().finite().nonnegative(),
  nspam: z.number().finite().nonnegative(),
  tokens: z.number().finite().nonnegative(),
  tokenizerVersion: z.string().min(1).max(1000),
});

export type ModelSummary = z.infer<typeof modelSummarySchema>;

export const modelSummaryHeader = (m: ModelSummary): Record<string, string> => ({ [MODEL_SUMMARY_HEADER]: JSON.stringify(m) });

const MAX_SUMMARY_HEADER = 4096;

/**
 * The summary header's content, or null when it is absent or not a summary (older records: decode
 * them). `problem` hears why a header that is present is not used (the field and what is wrong).
 */
export function modelSummaryOf(headers: Record<string, unknown> | undefined, problem?: (why: string) => void): ModelSummary | null {
  const raw = headers?.[MODEL_SUMMARY_HEADER];
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : Array.isArray(raw) && raw[0] !== undefined ? String(raw[0]) : null;
  if (text === null) return null;
  if (text.length > MAX_SUMMARY_HEADER) {
    problem?.(`${MODEL_SUMMARY_HEADER}: ${text.length} characters, more than ${MAX_SUMMARY_HEADER}`);
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    problem?.(`${MODEL_SUMMARY_HEADER}: not JSON (${(e as Error).message})`);
    return null;
  }
  const parsed = modelSummarySchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  problem?.(`${MODEL_SUMMARY_HEADER}: ${issue.path.join('.') || 'value'}: ${issue.message}`);
  return null;
}

/**
 * A model record as published: its encoding (schema registered under `topic`), and the headers every
 * published model carries (its version, the summary header, the signature). The one place that
 * layout is written: the spam stage's publisher (processors/spam/model-topic.ts) and tests of what
 * reads the model topics use it.
 */
export async function encodeSignedModelRecord(codec: RecordCodec, topic: string, record: SpamModelRecord, signingKey: KeyObject): Promise<{ value: Buffer; headers: Record<string, string> }> {
  const id = await codec.registerSchema(topic, 'SpamModel');
  const value = codec.encodeWith(id, 'SpamModel', record);
  const summary = { version: record.version, trainedAt: record.trainedAt, source: record.source, nham: record.nham, nspam: record.nspam, tokens: record.tokens.length, tokenizerVersion: record.tokenizerVersion };
  return { value, headers: { 'model-version': record.version, ...modelSummaryHeader(summary), ...signatureHeaders(value, signingKey) } };
}

/**
 * Publishes a model record (key = model name), signed with `signingKey`, and returns its offset. The
 * same bytes go to the history topic (key = version) first, so a rollback can return to any
 * published version (historyTopic null: none).
 */
export async function publishModelRecord(kafka: KafkaClient, codec: RecordCodec, record: SpamModelRecord, signingKey: KeyObject, topic: string, key: string, historyTopic: string | null): Promise<string> {
  const { value, headers } = await encodeSignedModelRecord(codec, topic, record, signingKey);
  const producer = kafka.producer();
  await producer.connect();
  try {
    if (historyTopic) await producer.send({ topic: historyTopic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key: record.version, value, headers }] });
    const [meta] = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key, value, headers }] });
    return meta?.baseOffset ?? '-1';
  } finally {
    await producer.disconnect();
  }
}

/** Header a rollback adds to the republished record: the learner adopts it even if it published that version itself. */
export const ROLLBACK_HEADER = 'scop-model-rollback';

export interface RollbackResult { from: string | null; to: string; offset: string }

/** Whether a model record was republished by a rollback (its header; the bytes are those published then). */
export function isRollback(headers: Record<string, unknown> | undefined): boolean {
  return headers?.[ROLLBACK_HEADER] !== undefined;
}

/**
 * The line of a global model record: the training a per-recipient-domain residual corrects. A model
 * trained or published by other means starts a line (its version); every version the spam learner
 * makes on top of it carries that line in its state. A rollback lands on the line of the version it
 * goes back to: within the line the residuals stay (the learner's versions differ by feedback steps,
 * the drift a residual already sees between two publishes), across lines they do not apply.
 */
export function modelLine(record: { version: string; learner?: { line?: string | null } | null }): string {
  return record.learner?.line ?? record.version;
}

/** The key of a domain residual's version on spam.model.history (a global version is keyed by its version alone). */
export const domainHistoryKey = (domain: string, version: string) => `${DOMAIN_KEY_PREFIX}${domain}@${version}`;

export async function rollbackModel(o: {
  kafka: KafkaClient; codec: RecordCodec; log: Logger; modelTopic: string; historyTopic: string;
  /** Public keys whose signatures are accepted (SPAM_MODEL_PUBLIC_KEY_FILES). */
  trusted: readonly KeyObject[];
  /** The version to go back to; default the current model's previous version. */
  to?: string;
}): Promise<RollbackResult> {
  const current = (await readCompactedTopic(o.kafka, o.modelTopic, o.log)).get(MODEL_KEY);
  const record = current ? await o.codec.decodeAs<SpamModelRecord>(current, 'SpamModel') : null;
  const to = o.to ?? record?.learner?.previousVersion ?? undefined;
  if (!to) throw new ConfigError('--to', `the model on ${o.modelTopic} (${record?.version ?? 'none'}) names no previous version`, 'give the version to go back to: scop spam rollback --to <version> (see the console\'s model page or spam.model.history)');
  const m = await signedFromHistory(o, to, `version ${to}`, 'pick a version that is still in the history topic (30 days by default)');
  return { from: record?.version ?? null, to, offset: await republish(o.kafka, o.modelTopic, MODEL_KEY, m) };
}

/**
 * The newest record under `historyKey` on the history topic, refused unless a trusted key signed it.
 * `what` names it in the errors (version v [of domain d]); `fix` says what to do when it is not there.
 */
async function signedFromHistory(o: { kafka: KafkaClient; historyTopic: string; trusted: readonly KeyObject[] }, historyKey: string, what: string, fix: string): Promise<KafkaMessage & { value: Buffer }> {
  let found: KafkaMessage | null = null;
  await readTopicRange(o.kafka, o.historyTopic, { kind: 'beginning' }, (m) => {
    if (m.key?.toString() === historyKey && m.value) found = m;
  });
  const m = found as KafkaMessage | null;
  if (!m?.value) throw new ConfigError('--to', `${what} is not on ${o.historyTopic}`, fix);
  const problem = modelSignatureProblem(m.value, m.headers, o.trusted);
  if (problem) throw new Error(`${what} on ${o.historyTopic} is refused: ${problem}`);
  return m as KafkaMessage & { value: Buffer };
}

/** Puts a history record back on the model topic under `key`: its own bytes and signature headers, plus the rollback header. Its offset. */
async function republish(kafka: KafkaClient, modelTopic: string, key: string, m: KafkaMessage & { value: Buffer }): Promise<string> {
  const headers = firstHeaders(m.headers);
  headers[ROLLBACK_HEADER] = String(Date.now());
  const producer = kafka.producer();
  await producer.connect();
  try {
    const [meta] = await producer.send({ topic: modelTopic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key, value: m.value, headers }] });
    return meta?.baseOffset ?? '-1';
  } finally {
    await producer.disconnect();
  }
}

/** The newest record of each key on a model topic with its headers (tombstones remove the key). */
async function readModelTopic(kafka: KafkaClient, topic: string, log: Logger): Promise<Map<string, { value: Buffer; headers: MessageHeaders | undefined }>> {
  const latest = new Map<string, { value: Buffer; headers: MessageHeaders | undefined }>();
  const follower = await followCompactedTopic({
    kafka, topic, name: 'read', log,
    onRecord: (key, value, meta) => { if (value) latest.set(key, { value, headers: meta.headers }); else latest.delete(key); },
  });
  await follower.stop();
  return latest;
}

const firstHeaders = (h: MessageHeaders | undefined): Record<string, string | Buffer> => {
  const out: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined) out[k] = Array.isArray(v) ? v[0]! : v;
  return out;
};

export interface DomainRollbackResult { domain: string; from: string; to: string; offset: string }

/**
 * `scop spam rollback --domain <name> [--to <version>]`: republishes an earlier version of one
 * domain's residual from spam.model.history (key domain:<name>@<version>), default the version the
 * current one replaced, with its original bytes and signature (checked first) and the rollback header:
 * the learner adopts it and republishes it at the end of the topic. Refused when the residual was
 * learnt on another line of the global model than the one in use (scorers would not apply it).
 */
export async function rollbackDomain(o: {
  kafka: KafkaClient; codec: RecordCodec; log: Logger; modelTopic: string; historyTopic: string;
  trusted: readonly KeyObject[]; domain: string; to?: string;
}): Promise<DomainRollbackResult> {
  const key = `${DOMAIN_KEY_PREFIX}${o.domain}`;
  const topic = await readModelTopic(o.kafka, o.modelTopic, o.log);
  const cur = topic.get(key);
  if (!cur) throw new ConfigError('--domain', `no model for domain ${o.domain} on ${o.modelTopic}`, `name a domain that has one (scop spam models lists them; ${[...topic.keys()].filter((k) => k.startsWith(DOMAIN_KEY_PREFIX)).length} domain models now)`);
  const current = await o.codec.decodeAs<SpamModelRecord>(cur.value, 'SpamModel');
  const to = o.to ?? current.domain?.previousVersion ?? undefined;
  if (!to) throw new ConfigError('--to', `the model of ${o.domain} (${current.version}) names no previous version`, `give the version to go back to: scop spam rollback --domain ${o.domain} --to <version>, or remove it: scop spam rollback --domain ${o.domain} --remove`);
  if (to === current.version) throw new ConfigError('--to', `${to} is the model of ${o.domain} in use already`, 'pick an earlier version');
  const historyKey = domainHistoryKey(o.domain, to);
  const m = await signedFromHistory(o, historyKey, `version ${to} of ${o.domain}`, `pick a version that is still in the history topic (30 days by default), or remove the domain's model: scop spam rollback --domain ${o.domain} --remove`);
  const target = await o.codec.decodeAs<SpamModelRecord>(m.value, 'SpamModel');
  if (target.domain?.name !== o.domain) throw new Error(`${historyKey} on ${o.historyTopic} is not a residual of ${o.domain}`);
  const global = topic.get(MODEL_KEY);
  const line = global ? modelLine(await o.codec.decodeAs<SpamModelRecord>(global.value, 'SpamModel')) : null;
  if (target.domain.base !== line) throw new ConfigError('--to', `version ${to} of ${o.domain} was learnt on the global model line ${target.domain.base ?? '(unknown)'}, the global model in use is of line ${line ?? '(none)'}: scorers would not apply it`, `remove the domain's model instead (scop spam rollback --domain ${o.domain} --remove): the learner learns it again from the next labels`);
  return { domain: o.domain, from: current.version, to, offset: await republish(o.kafka, o.modelTopic, key, m) };
}

/**
 * `scop spam rollback --domain <name> --remove`: a tombstone for the domain's residual (scorers drop
 * it; compaction deletes it), marked with the rollback header so the learner drops it too (its own
 * tombstones carry none) and starts the domain again from zero at its next label.
 */
export async function removeDomain(o: { kafka: KafkaClient; log: Logger; modelTopic: string; domain: string }): Promise<{ domain: string; version: string | null; offset: string }> {
  const key = `${DOMAIN_KEY_PREFIX}${o.domain}`;
  const topic = await readModelTopic(o.kafka, o.modelTopic, o.log);
  const cur = topic.get(key);
  if (!cur) throw new ConfigError('--domain', `no model for domain ${o.domain} on ${o.modelTopic}`, 'name a domain that has one (scop spam models lists them)');
  const producer = o.kafka.producer();
  await producer.connect();
  try {
    const [meta] = await producer.send({ topic: o.modelTopic, acks: -1, messages: [{ key, value: null, headers: { [ROLLBACK_HEADER]: String(Date.now()) } }] });
    const version = cur.headers?.['model-version'];
    return { domain: o.domain, version: version === undefined ? null : String(Array.isArray(version) ? version[0] : version), offset: meta?.baseOffset ?? '-1' };
  } finally {
    await producer.disconnect();
  }
}

export interface ModelsOnTopic {
  /** The global model in use and its line; null: none. */
  global: { version: string; line: string; trainedAt: number; nham: number; nspam: number } | null;
  /** Per-recipient-domain residuals, by domain name; `applied`: scorers blend it in (enough labels, learnt on the line in use). */
  domains: { domain: string; version: string; nham: number; nspam: number; inUse: boolean; base: string | null; applied: boolean; previousVersion: string | null; lastLabelAt: number | null }[];
}

/** `scop spam models`: what spam.model holds now (signatures are the scorers' business; this only reads). */
export async function modelsOnTopic(o: { kafka: KafkaClient; codec: RecordCodec; log: Logger; modelTopic: string }): Promise<ModelsOnTopic> {
  const topic = await readModelTopic(o.kafka, o.modelTopic, o.log);
  const g = topic.get(MODEL_KEY);
  const gr = g ? await o.codec.decodeAs<SpamModelRecord>(g.value, 'SpamModel') : null;
  const line = gr ? modelLine(gr) : null;
  const domains: ModelsOnTopic['domains'] = [];
  for (const [key, { value }] of topic) {
    if (!key.startsWith(DOMAIN_KEY_PREFIX)) continue;
    const r = await o.codec.decodeAs<SpamModelRecord>(value, 'SpamModel');
    const d = r.domain;
    domains.push({
      domain: key.slice(DOMAIN_KEY_PREFIX.length), version: r.version, nham: r.nham, nspam: r.nspam, inUse: d?.inUse ?? false, base: d?.base ?? null,
      applied: !!d?.inUse && d.base !== null && d.base === line, previousVersion: d?.previousVersion ?? null, lastLabelAt: d?.lastLabelAt ?? null,
    });
  }
  domains.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  return { global: gr ? { version: gr.version, line: line!, trainedAt: gr.trainedAt, nham: gr.nham, nspam: gr.nspam } : null, domains };
}
