/**
 * Building dead-letter records (schemas/dead-letter.avsc) for stages and sinks alike: the reason,
 * the error, where the record came from, and its original bytes — dropped only when they would
 * make the letter too big for the topic, in which case the letter says where to read them.
 */
import type { DeadLetter } from '../schemas/types.ts';
import type { KafkaMessage, MessageHeaders } from './kafka.ts';
import type { RecordCodec } from './registry.ts';
import { MAX_RECORD_BYTES } from './topics.ts';

/** Why a record went to the dead-letter topic (DeadLetter.reason). */
export const DEAD_LETTER_REASONS = ['decode-error', 'unknown-schema', 'empty-record', 'process-error', 'process-timeout', 'encode-error', 'oversize', 'raw-unavailable'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export function headersToBytes(h: MessageHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.isBuffer(first) ? first : Buffer.from(String(first));
  }
  return out;
}

export interface DeadLetterSource {
  stage: string;
  stageVersion: string;
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/** The encoded letter and the error text it carries (for the log line). */
export function encodeDeadLetter(codec: RecordCodec, schemaId: number, src: DeadLetterSource, reason: DeadLetterReason, error: unknown, recordId: string | null): { value: Buffer; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  const m = src.message;
  const letter: DeadLetter = {
    stage: src.stage, reason, error: message.slice(0, 8192), recordId,
    sourceTopic: src.topic, sourcePartition: src.partition, sourceOffset: Number(m.offset),
    key: m.key ?? null, value: m.value ?? null, headers: headersToBytes(m.headers),
    failedAt: Date.now(), stageVersion: src.stageVersion,
  };
  let value = codec.encodeWith(schemaId, 'DeadLetter', letter);
  if (value.length > MAX_RECORD_BYTES) {
    value = codec.encodeWith(schemaId, 'DeadLetter', {
      ...letter, value: null,
      error: `${letter.error} (original value of ${m.value?.length} bytes omitted: too large; read it at ${src.topic}/${src.partition}@${m.offset})`,
    });
  }
  return { value, message };
}
