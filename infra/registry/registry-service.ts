/**
 * Registry operations on top of RegistryState (reads) and a SchemaLogWriter (writes).
 * Writes never touch state directly: they go to the log, and the outcome is read back from
 * state once this instance's consumer has applied them — the same path every other instance takes.
 */
import { z } from 'zod';
import type avro from 'avsc';
import { compatibilityProblems, parseAvro, type ParsedSchema, type PriorVersion } from './avro.ts';
import { errors, RegistryError } from './errors.ts';
import { COMPATIBILITY_LEVELS, encodeSchemaValue, type CompatibilityLevel, type RecordKey } from './records.ts';
import type { RegistryState, SchemaEntry } from './state.ts';
import type { Logger } from '../../runtime/log.ts';

export interface LogAppend {
  key: RecordKey;
  /** Serialised value; null writes a tombstone. */
  value: string | null;
}

export interface SchemaLogWriter {
  /** Appends records in order; resolves once this instance has applied them to its state. */
  append(records: LogAppend[]): Promise<void>;
}

export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';
const MAX_WRITE_ATTEMPTS = 20;

const schemaRequest = z.object({
  schema: z.string({ required_error: 'the "schema" field is required', invalid_type_error: '"schema" must be a string' }).min(1, 'the "schema" field is empty'),
  schemaType: z.string().optional(),
  references: z.array(z.unknown()).optional(),
});

export type VersionSpec = number | 'latest';

export function parseVersion(raw: string): VersionSpec {
  if (raw === 'latest' || raw === '-1') return 'latest';
  if (!/^\d{1,10}$/.test(raw)) throw errors.invalidVersion(raw);
  const n = Number(raw);
  if (n < 1 || n > 2 ** 31 - 1) throw errors.invalidVersion(raw);
  return n;
}

export function parseLevel(raw: unknown): CompatibilityLevel {
  const up = typeof raw === 'string' ? raw.toUpperCase() : raw;
  if (!COMPATIBILITY_LEVELS.includes(up as CompatibilityLevel)) throw errors.invalidCompatibility(raw);
  return up as CompatibilityLevel;
}

export class RegistryService {
  /** Writes from one instance are serialised: they would only race each other for the same ids. */
  private writeChain: Promise<unknown> = Promise.resolve();
  /** Parsed avsc types of stored schemas, by identity; parsing is the costly part of a compatibility check. */
  private readonly typeCache = new Map<string, avro.Type>();

  constructor(
    private readonly state: RegistryState,
    private readonly log: SchemaLogWriter,
    private readonly logger: Logger,
  ) {}

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(fn, fn);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private parseRequest(body: unknown): ParsedSchema {
    const r = schemaRequest.safeParse(body);
    if (!r.success) throw errors.invalidSchema(r.error.issues[0]?.message ?? 'malformed request');
    const type = (r.data.schemaType ?? 'AVRO').toUpperCase();
    if (type !== 'AVRO') {
      throw new RegistryError(422, 42201, `Invalid schema: schemaType '${r.data.schemaType}' is not supported; this registry supports AVRO only`);
    }
    if (r.data.references && r.data.references.length > 0) {
      throw new RegistryError(422, 42201, 'Invalid schema: schema references are not supported by this registry');
    }
    return parseAvro(r.data.schema);
  }

  private typeOf(e: SchemaEntry): avro.Type {
    let t = this.typeCache.get(e.identity);
    if (!t) {
      t = parseAvro(e.schema).type;
      this.typeCache.set(e.identity, t);
    }
    return t;
  }

  private priors(entries: SchemaEntry[]): PriorVersion[] {
    return entries.map((e) => ({ version: e.version, type: this.typeOf(e) }));
  }

  effectiveLevel(subject: string): CompatibilityLevel {
    return this.state.config(subject) ?? this.state.config(null) ?? DEFAULT_COMPATIBILITY;
  }

  // ---- schemas and subjects -------------------------------------------------------------------

  register(subject: string, body: unknown): Promise<{ id: number }> {
    const parsed = this.parseRequest(body);
    return this.serialize(async () => {
      for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
        const live = this.state.versions(subject, false);
        const same = live.find((e) => e.identity === parsed.identity);
        if (same) return { id: same.id };
        const problems = compatibilityProblems(parsed.type, this.priors(live), this.effectiveLevel(subject));
        if (problems.length > 0) throw errors.incompatible(problems);

        const id = this.state.idForIdentity(parsed.identity, 'AVRO') ?? this.state.nextId();
        const version = this.state.maxVersion(subject) + 1;
        const key: RecordKey = { keytype: 'SCHEMA', subject, version };
        await this.log.append([{ key, value: encodeSchemaValue({ subject, version, id, schema: parsed.text, deleted: false }) }]);

        const now = this.state.entry(subject, version);
        if (now && now.id === id && now.identity === parsed.identity) return { id };
        // Another instance won this version or id. If it won the version, our losing record is now
        // the newest under that key and compaction would keep it; re-append the winner so it stays last.
        if (now) await this.log.append([{ key, value: encodeSchemaValue({ ...now }) }]);
        this.logger.debug({ subject, version, id, attempt }, 'lost a concurrent registration; retrying');
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
      }
      throw errors.store(`could not register under '${subject}' after ${MAX_WRITE_ATTEMPTS} attempts: too many concurrent writers`);
    });
  }

  lookup(subject: string, body: unknown, includeDeleted: boolean): SchemaEntry {
    const parsed = this.parseRequest(body);
    const versions = this.state.versions(subject, includeDeleted);
    if (versions.length === 0) throw errors.subjectNotFound(subject);
    const match = versions.find((e) => e.identity === parsed.identity);
    if (!match) throw errors.schemaNotFound();
    return match;
  }

  subjects(includeDeleted: boolean): string[] {
    return this.state.subjectNames(includeDeleted);
  }

  versionNumbers(subject: string, includeDeleted: boolean): number[] {
    const versions = this.state.versions(subject, includeDeleted);
    if (versions.length === 0) throw errors.subjectNotFound(subject);
    return versions.map((e) => e.version);
  }

  version(subject: string, spec: VersionSpec, includeDeleted: boolean): SchemaEntry {
    const versions = this.state.versions(subject, includeDeleted);
    if (versions.length === 0) throw errors.subjectNotFound(subject);
    const e = spec === 'latest' ? versions.at(-1) : versions.find((x) => x.version === spec);
    if (!e) throw errors.versionNotFound(subject, spec);
    return e;
  }

  schemaById(id: number, subject?: string): { schema: string; schemaType: string } {
    const s = this.state.schemaById(id);
    if (!s) throw errors.schemaNotFound(`Schema ${id} not found`);
    if (subject !== undefined && !this.state.usagesOfId(id, true).some((u) => u.subject === subject)) {
      throw errors.schemaNotFound(`Schema ${id} not found under subject '${subject}'`);
    }
    return s;
  }

  usagesOfId(id: number, includeDeleted: boolean): Array<{ subject: string; version: number }> {
    if (!this.state.schemaById(id)) throw errors.schemaNotFound(`Schema ${id} not found`);
    return this.state.usagesOfId(id, includeDeleted);
  }

  deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.serialize(async () => {
      const all = this.state.versions(subject, true);
      if (all.length === 0) throw errors.subjectNotFound(subject);
      const live = all.filter((e) => !e.deleted);
      if (!permanent) {
        if (live.length === 0) throw errors.subjectSoftDeleted(subject);
        const version = this.state.maxVersion(subject);
        await this.log.append([{ key: { keytype: 'DELETE_SUBJECT', subject }, value: JSON.stringify({ subject, version }) }]);
        return live.map((e) => e.version);
      }
      if (live.length > 0) throw errors.subjectNotSoftDeleted(subject);
      // Tombstones let compaction drop the subject entirely, config and delete marker included.
      const records: LogAppend[] = all.map((e) => ({ key: { keytype: 'SCHEMA', subject, version: e.version }, value: null }));
      records.push({ key: { keytype: 'DELETE_SUBJECT', subject }, value: null });
      if (this.state.config(subject)) records.push({ key: { keytype: 'CONFIG', subject }, value: null });
      await this.log.append(records);
      return all.map((e) => e.version);
    });
  }

  deleteVersion(subject: string, spec: VersionSpec, permanent: boolean): Promise<number> {
    return this.serialize(async () => {
      const all = this.state.versions(subject, true);
      if (all.length === 0) throw errors.subjectNotFound(subject);
      const e = spec === 'latest' ? (permanent ? all : all.filter((x) => !x.deleted)).at(-1) : all.find((x) => x.version === spec);
      if (!e) throw errors.versionNotFound(subject, spec);
      const key: RecordKey = { keytype: 'SCHEMA', subject, version: e.version };
      if (!permanent) {
        if (e.deleted) throw errors.versionSoftDeleted(subject, e.version);
        await this.log.append([{ key, value: encodeSchemaValue({ ...e, deleted: true }) }]);
      } else {
        if (!e.deleted) throw errors.versionNotSoftDeleted(subject, e.version);
        await this.log.append([{ key, value: null }]);
      }
      return e.version;
    });
  }

  // ---- compatibility --------------------------------------------------------------------------

  /** Tests a schema against one version, or (spec undefined / 'latest' with a transitive level) as registration would. */
  testCompatibility(subject: string, spec: VersionSpec | undefined, body: unknown): string[] {
    const parsed = this.parseRequest(body);
    const level = this.effectiveLevel(subject);
    const live = this.state.versions(subject, false);
    if (spec === undefined || spec === 'latest') return compatibilityProblems(parsed.type, this.priors(live), level);
    const target = this.version(subject, spec, false);
    return compatibilityProblems(parsed.type, this.priors([target]), level);
  }

  // ---- config ---------------------------------------------------------------------------------

  getConfig(subject: string | null, defaultToGlobal: boolean): CompatibilityLevel {
    if (subject === null) return this.state.config(null) ?? DEFAULT_COMPATIBILITY;
    const own = this.state.config(subject);
    if (own) return own;
    if (defaultToGlobal) return this.state.config(null) ?? DEFAULT_COMPATIBILITY;
    throw errors.subjectConfigNotFound(subject);
  }

  setConfig(subject: string | null, body: unknown): Promise<CompatibilityLevel> {
    const b = (body ?? {}) as { compatibility?: unknown; compatibilityLevel?: unknown };
    if (typeof body !== 'object' || body === null) throw errors.invalidCompatibility(undefined);
    const level = parseLevel(b.compatibility ?? b.compatibilityLevel);
    return this.serialize(async () => {
      await this.log.append([{ key: { keytype: 'CONFIG', subject }, value: JSON.stringify({ compatibilityLevel: level }) }]);
      return level;
    });
  }

  deleteConfig(subject: string | null): Promise<CompatibilityLevel> {
    return this.serialize(async () => {
      const previous = this.state.config(subject);
      if (!previous) {
        if (subject === null) return DEFAULT_COMPATIBILITY;
        throw errors.subjectConfigNotFound(subject);
      }
      await this.log.append([{ key: { keytype: 'CONFIG', subject }, value: null }]);
      return previous;
    });
  }
}
