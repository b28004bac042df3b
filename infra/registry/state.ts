/**
 * The registry's in-memory view, built only by applying `_schemas` records in log order.
 * Every rule here is a pure function of the log prefix, so all instances reading the same
 * topic hold the same state without a leader. Conflicts are settled by "first record wins":
 * a later record that claims an occupied subject/version, or an id already bound to a
 * different schema, is ignored, and the writer that produced it notices and retries.
 */
import { schemaIdentity } from './avro.ts';
import type { CompatibilityLevel, LogRecord, SchemaValue } from './records.ts';

export interface SchemaEntry {
  subject: string;
  version: number;
  id: number;
  schemaType: string;
  schema: string;
  identity: string;
  deleted: boolean;
}

interface IdEntry {
  schema: string;
  schemaType: string;
  identity: string;
  /** Subject versions (soft-deleted included) using this id; the id is forgotten at zero. */
  refs: number;
}

export type ApplyOutcome = 'applied' | 'ignored';

export class RegistryState {
  private readonly subjects = new Map<string, Map<number, SchemaEntry>>();
  private readonly ids = new Map<number, IdEntry>();
  private readonly configs = new Map<string | null, CompatibilityLevel>();
  /** Highest id ever accepted; never lowered by deletes so live instances do not hand an id out twice. */
  private highestId = 0;

  apply(rec: LogRecord): ApplyOutcome {
    switch (rec.keytype) {
      case 'NOOP':
        return 'applied';
      case 'CONFIG':
        if (rec.value) this.configs.set(rec.subject, rec.value.compatibilityLevel);
        else this.configs.delete(rec.subject);
        return 'applied';
      case 'DELETE_SUBJECT':
        if (!rec.value) return 'applied';
        for (const e of this.subjects.get(rec.subject)?.values() ?? []) {
          if (e.version <= rec.value.version) e.deleted = true;
        }
        return 'applied';
      case 'SCHEMA':
        return rec.value ? this.applySchema(rec.subject, rec.version, rec.value) : this.removeVersion(rec.subject, rec.version);
    }
  }

  private applySchema(subject: string, version: number, v: SchemaValue): ApplyOutcome {
    if (v.subject !== subject || v.version !== version) return 'ignored'; // value disagrees with its key
    const identity = schemaIdentity(v.schema);
    const schemaType = v.schemaType ?? 'AVRO';
    const versions = this.subjects.get(subject) ?? new Map<number, SchemaEntry>();
    const existing = versions.get(version);
    if (existing) {
      if (existing.id !== v.id || existing.identity !== identity) return 'ignored'; // lost a race for this version
      // The same record again (soft delete, or a repair write): only the deleted flag may move, one way.
      if (v.deleted) existing.deleted = true;
      return 'applied';
    }
    const owner = this.ids.get(v.id);
    if (owner && (owner.identity !== identity || owner.schemaType !== schemaType)) return 'ignored'; // lost a race for this id
    versions.set(version, { subject, version, id: v.id, schemaType, schema: v.schema, identity, deleted: v.deleted });
    this.subjects.set(subject, versions);
    if (owner) owner.refs++;
    else this.ids.set(v.id, { schema: v.schema, schemaType, identity, refs: 1 });
    this.highestId = Math.max(this.highestId, v.id);
    return 'applied';
  }

  private removeVersion(subject: string, version: number): ApplyOutcome {
    const versions = this.subjects.get(subject);
    const e = versions?.get(version);
    if (!versions || !e) return 'applied';
    versions.delete(version);
    if (versions.size === 0) this.subjects.delete(subject);
    const owner = this.ids.get(e.id);
    if (owner && --owner.refs <= 0) this.ids.delete(e.id);
    return 'applied';
  }

  // ---- queries -------------------------------------------------------------------------------

  subjectNames(includeDeleted: boolean): string[] {
    return [...this.subjects.keys()].filter((s) => this.versions(s, includeDeleted).length > 0).sort();
  }

  /** Versions of a subject, oldest first. */
  versions(subject: string, includeDeleted: boolean): SchemaEntry[] {
    const all = [...(this.subjects.get(subject)?.values() ?? [])].sort((a, b) => a.version - b.version);
    return includeDeleted ? all : all.filter((e) => !e.deleted);
  }

  entry(subject: string, version: number): SchemaEntry | undefined {
    return this.subjects.get(subject)?.get(version);
  }

  /** Highest version number present, soft-deleted included (new versions continue after it, as in Confluent). */
  maxVersion(subject: string): number {
    let max = 0;
    for (const v of this.subjects.get(subject)?.keys() ?? []) max = Math.max(max, v);
    return max;
  }

  nextId(): number {
    return this.highestId + 1;
  }

  schemaById(id: number): { schema: string; schemaType: string } | undefined {
    const e = this.ids.get(id);
    return e && { schema: e.schema, schemaType: e.schemaType };
  }

  /** Lowest id already bound to an identical schema, so the same schema keeps one id across subjects. */
  idForIdentity(identity: string, schemaType: string): number | undefined {
    let best: number | undefined;
    for (const [id, e] of this.ids) {
      if (e.identity === identity && e.schemaType === schemaType && (best === undefined || id < best)) best = id;
    }
    return best;
  }

  usagesOfId(id: number, includeDeleted: boolean): Array<{ subject: string; version: number }> {
    const out: Array<{ subject: string; version: number }> = [];
    for (const [subject, versions] of this.subjects) {
      for (const e of versions.values()) if (e.id === id && (includeDeleted || !e.deleted)) out.push({ subject, version: e.version });
    }
    return out.sort((a, b) => (a.subject === b.subject ? a.version - b.version : a.subject < b.subject ? -1 : 1));
  }

  /** Subject-level (subject given) or global (null) compatibility, if one was set. */
  config(subject: string | null): CompatibilityLevel | undefined {
    return this.configs.get(subject);
  }
}
