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
import { readCompactedTopic } from '../compacted-topic.ts';
import { ConfigError } from '../config.ts';
import { CompressionTypes, type KafkaClient, type KafkaMessage } from '../kafka.ts';
import type { Logger } from '../log.ts';
import { modelSignatureProblem } from '../model-signature.ts';
import type { RecordCodec } from '../registry.ts';
import { readTopicRange } from '../topic-reader.ts';
import type { SpamModelRecord } from '../../schemas/types.ts';

/** The key of the (one) model on spam.model. */
export const MODEL_KEY = 'default';

/**
 * Header every published model record carries beside its signature: what the console's model list
 * shows (JSON of ModelSummary), so listing the history does not decode whole models. Informational:
 * a rollback checks the signed value, never this.
 */
export const MODEL_SUMMARY_HEADER = 'scop-model-summary';

export interface ModelSummary { version: string; trainedAt: number; source: string; nham: number; nspam: number; tokens: number; tokenizerVersion: string }

export const modelSummaryHeader = (m: ModelSummary): Record<string, string> => ({ [MODEL_SUMMARY_HEADER]: JSON.stringify(m) });

/** The summary header's content, or null when it is absent or not a summary (older records: decode them). */
export function modelSummaryOf(headers: Record<string, unknown> | undefined): ModelSummary | null {
  const raw = headers?.[MODEL_SUMMARY_HEADER];
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : Array.isArray(raw) && raw[0] !== undefined ? String(raw[0]) : null;
  if (text === null || text.length > 4096) return null;
  try {
    const v = JSON.parse(text) as Partial<ModelSummary>;
    const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
    const str = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= 1000;
    if (str(v.version) && num(v.trainedAt) && typeof v.source === 'string' && num(v.nham) && num(v.nspam) && num(v.tokens) && str(v.tokenizerVersion)) return v as ModelSummary;
  } catch { /* not JSON: treated as absent */ }
  return null;
}

/** Header a rollback adds to the republished record: the learner adopts it even if it published that version itself. */
export const ROLLBACK_HEADER = 'scop-model-rollback';

export interface RollbackResult { from: string | null; to: string; offset: string }

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
  let found: KafkaMessage | null = null;
  await readTopicRange(o.kafka, o.historyTopic, { kind: 'beginning' }, (m) => {
    if (m.key?.toString() === to && m.value) found = m;
  });
  const m = found as KafkaMessage | null;
  if (!m?.value) throw new ConfigError('--to', `version ${to} is not on ${o.historyTopic}`, 'pick a version that is still in the history topic (30 days by default)');
  const problem = modelSignatureProblem(m.value, m.headers, o.trusted);
  if (problem) throw new Error(`version ${to} on ${o.historyTopic} is refused: ${problem}`);
  const headers: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(m.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v[0]! : v;
  headers[ROLLBACK_HEADER] = String(Date.now());
  const producer = o.kafka.producer();
  await producer.connect();
  try {
    const [meta] = await producer.send({ topic: o.modelTopic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key: MODEL_KEY, value: m.value, headers }] });
    return { from: record?.version ?? null, to, offset: meta?.baseOffset ?? '-1' };
  } finally {
    await producer.disconnect();
  }
}
