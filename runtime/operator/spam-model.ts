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
