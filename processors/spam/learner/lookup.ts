/**
 * Joining a label with its record: a **bounded lookup** on the records topic, not a compacted index.
 *
 * A record id is a UUIDv7 that the ingress drew when it accepted the message, so the id carries
 * the acceptance time to the millisecond. Every stage writes the record after that time, so the
 * record sits on the records topic at or after the offset Kafka's time index gives for
 * (time − skew) — skew covers clocks of different hosts — and normally within seconds of it (the
 * stage latency). The lookup asks for those offsets (ListOffsets by timestamp), reads forward
 * comparing Kafka keys (the record id; only a match is decoded) and stops per partition at the
 * first of: every id found, a record stamped later than (time + window), the partition's end, or
 * SPAM_LEARNER_LOOKUP_MAX_RECORDS records read. Labels close in time share one scan.
 *
 * Why not an index: a compacted topic cannot be read by key, so an index would be a local store of
 * every record id of the retention period (millions of entries per day, rebuilt at every start);
 * the lookup needs no state, costs a few hundred records per label at normal latency, and its worst
 * case is a configured bound. What it cannot find (the record expired after 7 days, or a label
 * for an id that was never a record) is counted as `record-not-found` and skipped.
 */
import type { KafkaClient } from '../../../runtime/kafka.ts';
import type { RecordCodec } from '../../../runtime/registry.ts';
import { readTopicRange } from '../../../runtime/topic-reader.ts';
import type { MailRecord } from '../../../schemas/types.ts';

/** The lookups' throwaway consumer groups (under the learner's ACL group prefix, scop-learner). */
export const LOOKUP_GROUP_PREFIX = 'scop-learner-read';

export interface LookupOptions {
  topic: string;
  /** The scan starts this long before the id's time. */
  skewMs: number;
  /** …and gives up on records stamped this long after it. */
  windowMs: number;
  /** At most this many records are read per scan. */
  maxRecords: number;
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The acceptance time a UUIDv7 record id carries (ms since the epoch), or null for any other id. */
export function recordIdTime(recordId: string): number | null {
  if (!UUID_V7.test(recordId)) return null;
  return parseInt(recordId.slice(0, 8) + recordId.slice(9, 13), 16);
}

interface Cluster { ids: Set<string>; from: number; to: number }

/** Ids whose windows overlap are scanned together. */
export function clusters(ids: Iterable<string>, o: Pick<LookupOptions, 'skewMs' | 'windowMs'>): Cluster[] {
  const timed = [...new Set(ids)].map((id) => ({ id, t: recordIdTime(id) })).filter((x): x is { id: string; t: number } => x.t !== null).sort((a, b) => a.t - b.t);
  const out: Cluster[] = [];
  for (const { id, t } of timed) {
    const last = out[out.length - 1];
    if (last && t - o.skewMs <= last.to) {
      last.ids.add(id);
      last.to = Math.max(last.to, t + o.windowMs);
    } else out.push({ ids: new Set([id]), from: t - o.skewMs, to: t + o.windowMs });
  }
  return out;
}

/** The records of `ids` found on the topic (id → record); ids not found are absent. */
export async function lookupRecords(kafka: KafkaClient, codec: RecordCodec, ids: Iterable<string>, o: LookupOptions, onProgress?: () => Promise<void> | void): Promise<Map<string, MailRecord>> {
  const found = new Map<string, MailRecord>();
  for (const c of clusters(ids, o)) {
    const admin = kafka.admin();
    await admin.connect();
    let start: Map<number, bigint>;
    try {
      // -1: nothing stamped at or after that time in the partition.
      start = new Map((await admin.fetchTopicOffsetsByTimestamp(o.topic, c.from)).filter((p) => BigInt(p.offset) >= 0n).map((p) => [p.partition, BigInt(p.offset)]));
    } finally {
      await admin.disconnect();
    }
    if (start.size === 0) continue;
    const wanted = new Set(c.ids);
    let read = 0;
    await readTopicRange(kafka, o.topic, { kind: 'offsets', offsets: start }, async (m) => {
      if (++read % 500 === 0) await onProgress?.();
      if (read > o.maxRecords) return 'done';
      if (Number(m.timestamp) > c.to) return 'done-partition';
      const key = m.key?.toString('latin1');
      if (!key || !wanted.has(key) || !m.value) return;
      const record = await codec.decodeAs<MailRecord>(m.value, 'MailRecord');
      if (record.envelope.id !== key) return;
      found.set(key, record);
      wanted.delete(key);
      return wanted.size === 0 ? 'done' : undefined;
    }, undefined, { groupPrefix: LOOKUP_GROUP_PREFIX });
  }
  return found;
}
