/**
 * Avro parsing, schema identity and compatibility, all via avsc — the same library the
 * @kafkajs/confluent-schema-registry client decodes with, so "compatible" here means "resolvable there".
 */
import avro from 'avsc';
import { errors } from './errors.ts';
import type { CompatibilityLevel } from './records.ts';

export interface ParsedSchema {
  /** Compact JSON of what the client sent; stored and served back. */
  text: string;
  /**
   * Identity used for "same schema" decisions: JSON with object keys sorted, so whitespace and key
   * order do not create new versions. Unlike Avro's Parsing Canonical Form it keeps defaults, docs
   * and logical types, because those change meaning (a default decides BACKWARD compatibility).
   */
  identity: string;
  type: avro.Type;
}

export function parseAvro(text: string): ParsedSchema {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw errors.invalidSchema(`not valid JSON (${(e as Error).message})`);
  }
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(json as avro.Schema);
  } catch (e) {
    throw errors.invalidSchema((e as Error).message);
  }
  return { text: JSON.stringify(json), identity: sortedJson(json), type };
}

function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${sortedJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Why `reader` cannot read data written with `writer`, or undefined if it can. */
function resolveProblem(reader: avro.Type, writer: avro.Type): string | undefined {
  try {
    reader.createResolver(writer);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export interface PriorVersion {
  version: number;
  type: avro.Type;
}

/**
 * Checks `candidate` against `priors` (live versions, oldest first) under `level`; returns the
 * problems found (empty = compatible). Non-transitive levels look at the newest prior only.
 */
export function compatibilityProblems(candidate: avro.Type, priors: PriorVersion[], level: CompatibilityLevel): string[] {
  if (level === 'NONE' || priors.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? priors : priors.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const problems: string[] = [];
  for (const prior of against) {
    if (backward) {
      const p = resolveProblem(candidate, prior.type);
      if (p) problems.push(`BACKWARD: the new schema cannot read data written with version ${prior.version}: ${p}`);
    }
    if (forward) {
      const p = resolveProblem(prior.type, candidate);
      if (p) problems.push(`FORWARD: version ${prior.version} cannot read data written with the new schema: ${p}`);
    }
  }
  return problems;
}

/** Identity of a stored schema text (see ParsedSchema.identity); tolerant of non-JSON legacy text. */
export function schemaIdentity(text: string): string {
  try {
    return sortedJson(JSON.parse(text));
  } catch {
    return text;
  }
}
