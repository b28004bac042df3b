/**
 * Generates TypeScript types from the Avro schemas (schemas/generated/*.ts) with @ovotech/avro-ts,
 * so code that reads or writes records is typed by the .avsc files. Run: `npm run scop -- schemas codegen`.
 * schemas.test.ts fails when the committed output is stale.
 */
import { toTypeScript } from '@ovotech/avro-ts';
import { loadSchemas, SCHEMA_FILES, SCHEMAS_DIR, type SchemaName } from './index.ts';
import { join } from 'node:path';

/** Records generated as their own file; Envelope and AuthSection are generated inside MailRecord. */
export const GENERATED: SchemaName[] = ['MailRecord', 'DeadLetter', 'Block', 'Alert', 'DmarcEvent', 'Reputation', 'ReputationEvent', 'DeliveryJob', 'DeliveryStatus', 'SpamModel', 'SpamFeedback', 'AuditEvent', 'SmtpRefusal', 'GreylistEntry'];

export function generatedFileFor(name: SchemaName): string {
  return join(SCHEMAS_DIR, 'generated', SCHEMA_FILES[name].replace(/\.avsc$/, '.ts'));
}

export function renderTypes(): Map<SchemaName, string> {
  const schemas = loadSchemas();
  const out = new Map<SchemaName, string>();
  // avro-ts calls deprecated TypeScript factory methods, which print a warning per call.
  const warn = console.warn;
  console.warn = () => {};
  try {
    for (const name of GENERATED) {
      // avro-ts writes a reference to an already-defined named type as `Namespace.Name` (a TS
      // namespace it does not emit); the interfaces it emits are flat `NamespaceName`.
      const ts = toTypeScript(schemas.get(name)!.schema as never, { logicalTypes: { 'timestamp-millis': 'number' } })
        .replace(/\b(DevScop[A-Za-z0-9]*)\.([A-Z][A-Za-z0-9]*)\b/g, '$1$2');
      out.set(name, `// Generated from schemas/${SCHEMA_FILES[name]} by schemas/codegen.ts. Do not edit.\n${ts}\n`);
    }
  } finally {
    console.warn = warn;
  }
  return out;
}
