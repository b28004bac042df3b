/**
 * The raw message travels once. The ingress writes it (envelope.raw) to mail.inbound.raw or
 * mail.outbound.raw; every later record carries a reference instead (`MailRecord.rawRef`: topic,
 * partition, offset of that record + the SHA-256 of its raw) and an empty envelope.raw. Whoever
 * needs the bytes (the MIME and auth stages when they run alone, the egress, the console, the CLI)
 * fetches them here, by position, verified against the digest.
 *
 *   refFrom(record, source)   the reference to the record just consumed from a raw-source topic
 *   forTopic(record, policy)  the record as a topic stores it: 'ref' (raw out, reference in) or 'inline'
 *   RawStore                  fetches referenced raw bytes: reads ahead (consumers go in offset order,
 *                             so one Fetch serves the next records too), caches by bytes, coalesces
 *                             requests for the same partition, checks SHA-256.
 *
 * Retention: a reference is only good while its raw record exists, so every topic that can hold one
 * keeps records no longer than the raw topics (runtime/topics.ts `raw`, checked by topics.test.ts);
 * compacted topics that keep messages indefinitely (mail.quarantine) carry the raw inline.
 */
import { createHash } from 'node:crypto';
import type { MailRecord, RawRef } from '../schemas/types.ts';
import { OffsetOutOfRange, type KafkaClient, type RecordReader } from './kafka.ts';
import type { RecordCodec } from './registry.ts';
import type { RawPolicy } from './topics.ts';

export type { RawPolicy, RawRef };

const EMPTY = Buffer.alloc(0);

export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** True when the record holds its raw message itself (no reference, or a reference already resolved in memory). */
export function hasInlineRaw(record: Pick<MailRecord, 'envelope' | 'rawRef'>): boolean {
  return record.envelope.raw.length > 0 || !record.rawRef;
}

/**
 * The reference to a record consumed from a raw-source topic at `source`, or the record's own
 * reference when it carries one already; null when the raw is inline but not at a source (an old
 * record on an intermediate topic: it keeps its raw inline).
 */
export function refFrom(record: MailRecord, source: { topic: string; partition: number; offset: string }, sourceIsRawTopic: boolean): RawRef | null {
  if (record.rawRef) return record.rawRef;
  if (!sourceIsRawTopic || record.envelope.raw.length === 0) return null;
  return { topic: source.topic, partition: source.partition, offset: Number(source.offset), sha256: sha256Hex(record.envelope.raw) };
}

/**
 * The record as a topic with `policy` stores it. 'ref' (and 'source', for records a stage would
 * write there): a record with a reference goes without its raw. 'inline': the raw must be inline
 * (resolve it first; throws when it is not).
 */
export function forTopic(record: MailRecord, policy: RawPolicy): MailRecord {
  if (policy === 'inline') {
    if (record.envelope.raw.length === 0 && record.rawRef) throw new Error(`record ${record.envelope.id}: raw message not resolved before writing it to a topic that keeps it inline`);
    return record.rawRef ? { ...record, rawRef: null } : record;
  }
  if (!record.rawRef || record.envelope.raw.length === 0) return record;
  return { ...record, envelope: { ...record.envelope, raw: EMPTY } };
}

/** The referenced raw record is gone (retention) or does not match its digest: the message cannot be had. */
export class RawUnavailable extends Error {
  override name = 'RawUnavailable';
}

interface Cached { raw: Buffer; bytes: number }

export interface RawStoreOptions {
  /** Bytes of raw messages kept after a fetch (default 64 MiB). */
  cacheBytes?: number;
  /** Bytes one Fetch asks for (default 4 MiB): the record asked for and the ones after it. */
  readAheadBytes?: number;
}

/**
 * Fetches raw messages by reference. One per process is enough (acquireRawStore): the cache is
 * shared. Requests for a partition wait for a Fetch in flight that covers them.
 */
export class RawStore {
  private readonly cache = new Map<string, Cached>();
  private cachedBytes = 0;
  private readonly inflight = new Map<string, { from: number; done: Promise<void> }[]>();
  private reader: RecordReader | undefined;
  private readonly cacheBytes: number;
  private readonly readAheadBytes: number;
  /** Fetches made and raw messages served from the cache (for tests and metrics). */
  readonly stats = { fetches: 0, hits: 0, misses: 0 };

  constructor(private readonly kafka: KafkaClient, private readonly codec: RecordCodec, o: RawStoreOptions = {}) {
    this.cacheBytes = o.cacheBytes ?? 64 * 1024 * 1024;
    this.readAheadBytes = o.readAheadBytes ?? 4 * 1024 * 1024;
  }

  /** The raw message of `record`: inline, or fetched by its reference. */
  async raw(record: Pick<MailRecord, 'envelope' | 'rawRef'>): Promise<Buffer> {
    if (hasInlineRaw(record)) return record.envelope.raw;
    return this.fetch(record.rawRef!);
  }

  /** The record with its raw message inline (the reference kept, so writers can drop the raw again). */
  async resolve<R extends Pick<MailRecord, 'envelope' | 'rawRef'>>(record: R): Promise<R> {
    if (hasInlineRaw(record)) return record;
    return { ...record, envelope: { ...record.envelope, raw: await this.fetch(record.rawRef!) } };
  }

  async fetch(ref: RawRef): Promise<Buffer> {
    const key = `${ref.topic}\u0000${ref.partition}\u0000${ref.offset}`;
    for (let round = 0; ; round++) {
      const hit = this.take(key);
      if (hit) {
        if (round === 0) this.stats.hits++;
        return this.verified(hit, ref);
      }
      // A Fetch in flight on this partition that starts at or before this offset may bring it.
      const pk = `${ref.topic}\u0000${ref.partition}`;
      const waiting = (this.inflight.get(pk) ?? []).find((f) => f.from <= ref.offset);
      if (waiting && round < 3) {
        await waiting.done;
        continue;
      }
      this.stats.misses++;
      await this.load(ref, pk);
      const got = this.take(key);
      if (!got) throw new RawUnavailable(`raw message ${ref.topic}/${ref.partition}@${ref.offset} is not in the topic (no record at that offset)`);
      return this.verified(got, ref);
    }
  }

  private verified(raw: Buffer, ref: RawRef): Buffer {
    if (sha256Hex(raw) !== ref.sha256) throw new RawUnavailable(`raw message ${ref.topic}/${ref.partition}@${ref.offset} does not match its SHA-256 ${ref.sha256}`);
    return raw;
  }

  /** Looks up and refreshes an entry (LRU order = Map insertion order). */
  private take(key: string): Buffer | undefined {
    const c = this.cache.get(key);
    if (!c) return undefined;
    this.cache.delete(key);
    this.cache.set(key, c);
    return c.raw;
  }

  private put(key: string, raw: Buffer): void {
    if (this.cache.has(key)) return;
    this.cache.set(key, { raw, bytes: raw.length });
    this.cachedBytes += raw.length;
    for (const [k, c] of this.cache) {
      if (this.cachedBytes <= this.cacheBytes) break;
      this.cache.delete(k);
      this.cachedBytes -= c.bytes;
    }
  }

  private async load(ref: RawRef, pk: string): Promise<void> {
    let finish!: () => void;
    const entry = { from: ref.offset, done: new Promise<void>((ok) => { finish = ok; }) };
    const list = this.inflight.get(pk) ?? [];
    list.push(entry);
    this.inflight.set(pk, list);
    try {
      this.reader ??= this.kafka.reader();
      this.stats.fetches++;
      let messages;
      try {
        messages = await this.reader.read(ref.topic, ref.partition, BigInt(ref.offset), this.readAheadBytes);
      } catch (e) {
        if (e instanceof OffsetOutOfRange) throw new RawUnavailable(`raw message ${ref.topic}/${ref.partition}@${ref.offset} has expired or was never written: ${e.message}`);
        throw e;
      }
      for (const m of messages) {
        if (!m.value || m.value.length === 0) continue;
        let record: MailRecord;
        try {
          record = await this.codec.decodeAs<MailRecord>(m.value, 'MailRecord');
        } catch {
          continue; // not a MailRecord (an undecodable record on the raw topic): nothing refers to it
        }
        if (record.envelope.raw.length > 0) this.put(`${ref.topic}\u0000${ref.partition}\u0000${m.offset}`, record.envelope.raw);
      }
    } finally {
      const l = this.inflight.get(pk)!;
      l.splice(l.indexOf(entry), 1);
      if (l.length === 0) this.inflight.delete(pk);
      finish();
    }
  }

  async close(): Promise<void> {
    await this.reader?.close();
    this.reader = undefined;
    this.cache.clear();
    this.cachedBytes = 0;
  }
}

const shared = new WeakMap<KafkaClient, { store: RawStore; users: number }>();

/**
 * The process's RawStore for a Kafka client, shared by every stage and sink on that client (one
 * cache, one reader). Call `release()` when done: the last one closes it.
 */
export function acquireRawStore(kafka: KafkaClient, codec: RecordCodec): { store: RawStore; release(): Promise<void> } {
  let s = shared.get(kafka);
  if (!s) shared.set(kafka, (s = { store: new RawStore(kafka, codec), users: 0 }));
  s.users++;
  const entry = s;
  let released = false;
  return {
    store: entry.store,
    async release() {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      if (shared.get(kafka) === entry) shared.delete(kafka);
      await entry.store.close();
    },
  };
}
