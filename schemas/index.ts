/**
 * The Avro schemas in this folder are the source of truth for every record on the pipeline's
 * topics. This module loads them (resolving named references between files), and exposes each
 * top-level record as a self-contained schema for the registry and an avsc Type for tests.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

export const SCHEMAS_DIR = dirname(fileURLToPath(import.meta.url));

/** Top-level records and the file each lives in; files are parsed in this order (dependencies first). */
export const SCHEMA_FILES = {
  Envelope: 'envelope.avsc',
  Symbol: 'symbol.avsc',
  AuthSection: 'auth.avsc',
  MimeSection: 'mime.avsc',
  SpamSection: 'spam.avsc',
  FirewallSection: 'firewall.avsc',
  DecisionSection: 'decision.avsc',
  DkimSignSection: 'dkim-sign.avsc',
  MailRecord: 'mail-record.avsc',
  DeadLetter: 'dead-letter.avsc',
  Block: 'block.avsc',
  Alert: 'alert.avsc',
  DmarcEvent: 'dmarc-event.avsc',
  Reputation: 'reputation.avsc',
  ReputationEvent: 'reputation-event.avsc',
  DeliveryJob: 'delivery.avsc',
  DeliveryStatus: 'delivery-status.avsc',
  SpamModel: 'spam-model.avsc',
  SpamFeedback: 'spam-feedback.avsc',
  AuditEvent: 'audit-event.avsc',
  SmtpRefusal: 'smtp-refusal.avsc',
  GreylistEntry: 'greylist-entry.avsc',
} as const;

export type SchemaName = keyof typeof SCHEMA_FILES;

export interface LoadedSchema {
  name: SchemaName;
  fullName: string;
  /** Self-contained schema (named types inlined), as registered. */
  schema: avro.Schema;
  type: avro.Type;
}

/** Parses an .avsc file's JSON; `dir` lets the compatibility test read historical snapshots. */
export function readSchemaFile(file: string, dir = SCHEMAS_DIR): avro.Schema {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as avro.Schema;
}

/** Loads every schema in SCHEMA_FILES order, so later files may refer to earlier named types. */
export function loadSchemas(readFile: (file: string) => avro.Schema = (f) => readSchemaFile(f)): Map<SchemaName, LoadedSchema> {
  const registry: Record<string, avro.Type> = {};
  const out = new Map<SchemaName, LoadedSchema>();
  for (const [name, file] of Object.entries(SCHEMA_FILES) as [SchemaName, string][]) {
    const type = avro.Type.forSchema(readFile(file), { registry });
    // schema() inlines named types at first use, which makes the result self-contained;
    // exportAttrs keeps field defaults (and docs), without which a reader cannot resolve an older
    // writer's record and the registry would refuse a new nullable field as BACKWARD incompatible.
    out.set(name, { name, fullName: type.name ?? name, schema: type.schema({ exportAttrs: true }) as avro.Schema, type });
  }
  return out;
}

let cached: Map<SchemaName, LoadedSchema> | undefined;
export function schema(name: SchemaName): LoadedSchema {
  cached ??= loadSchemas();
  return cached.get(name)!;
}
