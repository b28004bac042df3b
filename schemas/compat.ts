/**
 * BACKWARD compatibility of the schemas against every released version kept in schemas/history/
 * (`<Name>/v<N>.avsc`, written by `scop schemas snapshot`): a consumer built with the current schema
 * must read every record ever written. Checked with avsc's schema resolution, as the registry does.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { loadSchemas, SCHEMAS_DIR, type SchemaName } from './index.ts';

export const HISTORY_DIR = join(SCHEMAS_DIR, 'history');

/** Problems found when `reader` reads data written with each of `writers` (empty: compatible). */
export function backwardProblems(reader: avro.Schema, writers: { label: string; schema: avro.Schema }[]): string[] {
  const readerType = avro.Type.forSchema(reader);
  const problems: string[] = [];
  for (const w of writers) {
    try {
      readerType.createResolver(avro.Type.forSchema(w.schema));
    } catch (e) {
      problems.push(`cannot read data written with ${w.label}: ${(e as Error).message}`);
    }
  }
  return problems;
}

export function historyOf(name: SchemaName, dir = HISTORY_DIR): { label: string; version: number; schema: avro.Schema }[] {
  const folder = join(dir, name);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .map((f) => /^v(\d+)\.avsc$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), label: `${name} v${m[1]}`, schema: JSON.parse(readFileSync(join(folder, m[0]), 'utf8')) as avro.Schema }))
    .sort((a, b) => a.version - b.version);
}

/** Records whose history is kept (each is self-contained; Envelope lives inside MailRecord). */
/** Every record written to a topic (runtime/topics.test.ts checks that each topic's schema is here). */
export const VERSIONED: SchemaName[] = ['MailRecord', 'DeadLetter', 'Block', 'Alert', 'DmarcEvent', 'SpamModel', 'SpamFeedback', 'Reputation', 'ReputationEvent', 'DeliveryJob', 'DeliveryStatus', 'AuditEvent', 'SmtpRefusal', 'GreylistEntry'];

/** Adds the current schema as a new history version when it differs from the latest (canonical form). */
export function snapshot(dir = HISTORY_DIR): string[] {
  const written: string[] = [];
  const current = loadSchemas();
  for (const name of VERSIONED) {
    const schema = current.get(name)!.schema;
    const history = historyOf(name, dir);
    const last = history.at(-1);
    const canon = (s: avro.Schema) => avro.Type.forSchema(s).schema({ exportAttrs: true });
    if (last && JSON.stringify(canon(last.schema)) === JSON.stringify(canon(schema))) continue;
    const problems = backwardProblems(schema, history);
    if (problems.length) throw new Error(`${name} is not BACKWARD compatible: ${problems.join('; ')}`);
    mkdirSync(join(dir, name), { recursive: true });
    const file = join(dir, name, `v${(last?.version ?? 0) + 1}.avsc`);
    writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`);
    written.push(file);
  }
  return written;
}
