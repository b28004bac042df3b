/**
 * The `_schemas` topic record format, byte-compatible with Confluent Schema Registry so the topic
 * can be read by either implementation. Keys must serialise deterministically (fixed field order):
 * log compaction compares key bytes, so a re-written key must produce the very same bytes.
 */
import { z } from 'zod';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export type RecordKey =
  | { keytype: 'SCHEMA'; subject: string; version: number }
  | { keytype: 'CONFIG'; subject: string | null }
  | { keytype: 'DELETE_SUBJECT'; subject: string }
  | { keytype: 'NOOP' };

export interface SchemaValue {
  subject: string;
  version: number;
  id: number;
  schemaType?: string;
  schema: string;
  deleted: boolean;
}
export interface ConfigValue {
  compatibilityLevel: CompatibilityLevel;
}
export interface DeleteSubjectValue {
  subject: string;
  version: number;
}

export function encodeKey(key: RecordKey): string {
  switch (key.keytype) {
    case 'SCHEMA':
      return JSON.stringify({ keytype: 'SCHEMA', subject: key.subject, version: key.version, magic: 1 });
    case 'CONFIG':
      return JSON.stringify({ keytype: 'CONFIG', subject: key.subject, magic: 0 });
    case 'DELETE_SUBJECT':
      return JSON.stringify({ keytype: 'DELETE_SUBJECT', subject: key.subject, magic: 0 });
    case 'NOOP':
      return JSON.stringify({ keytype: 'NOOP', magic: 0 });
  }
}

export function encodeSchemaValue(v: SchemaValue): string {
  const out: Record<string, unknown> = { subject: v.subject, version: v.version, id: v.id };
  // Confluent omits schemaType for Avro; keep that so its registry reads our records unchanged.
  if (v.schemaType && v.schemaType !== 'AVRO') out.schemaType = v.schemaType;
  out.schema = v.schema;
  out.deleted = v.deleted;
  return JSON.stringify(out);
}

const keySchema = z.discriminatedUnion('keytype', [
  z.object({ keytype: z.literal('SCHEMA'), subject: z.string(), version: z.number().int().positive() }),
  z.object({ keytype: z.literal('CONFIG'), subject: z.string().nullable().optional().transform((s) => s ?? null) }),
  z.object({ keytype: z.literal('DELETE_SUBJECT'), subject: z.string() }),
  z.object({ keytype: z.literal('NOOP') }),
]);
const schemaValueSchema = z.object({
  subject: z.string(),
  version: z.number().int().positive(),
  id: z.number().int().positive(),
  schemaType: z.string().optional(),
  schema: z.string(),
  deleted: z.boolean().optional().transform((d) => d ?? false),
});
const configValueSchema = z.object({
  compatibilityLevel: z.string().transform((s) => s.toUpperCase()).pipe(z.enum(COMPATIBILITY_LEVELS)),
});
const deleteSubjectValueSchema = z.object({ subject: z.string(), version: z.number().int().positive() });

/** A decoded log record; `null` value = tombstone. Unknown key types (MODE, CONTEXT…) decode to undefined. */
export type LogRecord =
  | { keytype: 'SCHEMA'; subject: string; version: number; value: SchemaValue | null }
  | { keytype: 'CONFIG'; subject: string | null; value: ConfigValue | null }
  | { keytype: 'DELETE_SUBJECT'; subject: string; value: DeleteSubjectValue | null }
  | { keytype: 'NOOP' };

/** Throws on malformed JSON or shape; the caller logs and skips such records rather than stopping. */
export function decodeRecord(key: Buffer | null, value: Buffer | null): LogRecord | undefined {
  if (!key) return undefined;
  const rawKey: unknown = JSON.parse(key.toString('utf8'));
  const kt = (rawKey as { keytype?: unknown } | null)?.keytype;
  if (kt !== 'SCHEMA' && kt !== 'CONFIG' && kt !== 'DELETE_SUBJECT' && kt !== 'NOOP') return undefined;
  const k = keySchema.parse(rawKey);
  const rawValue: unknown = value && value.length > 0 ? JSON.parse(value.toString('utf8')) : null;
  switch (k.keytype) {
    case 'SCHEMA':
      return { keytype: 'SCHEMA', subject: k.subject, version: k.version, value: rawValue === null ? null : schemaValueSchema.parse(rawValue) };
    case 'CONFIG':
      return { keytype: 'CONFIG', subject: k.subject, value: rawValue === null ? null : configValueSchema.parse(rawValue) };
    case 'DELETE_SUBJECT':
      return { keytype: 'DELETE_SUBJECT', subject: k.subject, value: rawValue === null ? null : deleteSubjectValueSchema.parse(rawValue) };
    case 'NOOP':
      return { keytype: 'NOOP' };
  }
}
