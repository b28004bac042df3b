/**
 * Reads a topic from a start point (beginning, an offset, a time, or an offset per partition) up to
 * its end as of the start, or until the callback says it is done, with a callback per message and
 * progress counts: what `scop replay`, the console's dead-letter re-drive, `scop spam train
 * --from-topics` and the spam learner's record lookups need. A throwaway consumer group per read (deleted afterwards):
 * kafkajs can only seek inside a group.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from './config.ts';
import type { KafkaClient, KafkaMessage } from './kafka.ts';

export type StartAt = { kind: 'beginning' } | { kind: 'offset'; offset: bigint } | { kind: 'time'; ms: number } | { kind: 'offsets'; offsets: ReadonlyMap<number, bigint> };

/** What a reader's callback may answer: stop reading this partition, or stop altogether (bounded lookups). */
export type ReadControl = void | 'done-partition' | 'done';

/** `--from` value: "beginning", an offset (digits), or a time (ISO 8601, or epoch ms with a trailing "ms"). */
export function parseStartAt(value: string | undefined): StartAt {
  if (!value || value === 'beginning' || value === 'earliest') return { kind: 'beginning' };
  if (/^\d+$/.test(value)) return { kind: 'offset', offset: BigInt(value) };
  if (/^\d+ms$/.test(value)) return { kind: 'time', ms: Number(value.slice(0, -2)) };
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ConfigError('--from', `"${value}" is neither an offset nor a time`, 'use beginning, an offset (e.g. 1200), or a time (e.g. 2025-01-31T12:00:00Z or 1738324800000ms)');
  return { kind: 'time', ms };
}

export interface ReadProgress { read: number; total: number }

export async function readTopicRange(
  kafka: KafkaClient, topic: string, from: StartAt,
  onMessage: (m: KafkaMessage, partition: number) => Promise<ReadControl> | ReadControl,
  onProgress?: (p: ReadProgress) => void,
  /** groupPrefix: the throwaway group's name prefix (default scop-read), for a principal's ACL prefix. */
  opts: { groupPrefix?: string } = {},
): Promise<ReadProgress> {
  const admin = kafka.admin();
  await admin.connect();
  const start = new Map<number, bigint>();
  const end = new Map<number, bigint>();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    for (const p of offsets) {
      end.set(p.partition, BigInt(p.high));
      start.set(p.partition, BigInt(p.low));
    }
    if (from.kind === 'offset') for (const [p, low] of start) start.set(p, from.offset > low ? from.offset : low);
    if (from.kind === 'offsets') {
      // Only the partitions named, each from its offset (within what the partition still holds).
      for (const p of [...start.keys()]) {
        const o = from.offsets.get(p);
        if (o === undefined) start.set(p, end.get(p)!);
        else start.set(p, o > start.get(p)! ? (o < end.get(p)! ? o : end.get(p)!) : start.get(p)!);
      }
    }
    if (from.kind === 'time') {
      for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, from.ms)) {
        const o = BigInt(p.offset);
        start.set(p.partition, o < 0n ? end.get(p.partition)! : o);
      }
    }
  } finally {
    await admin.disconnect();
  }
  let total = 0;
  for (const [p, s] of start) total += Math.max(0, Number(end.get(p)! - s));
  const progress = { read: 0, total };
  const pending = new Set([...start].filter(([p, s]) => s < end.get(p)!).map(([p]) => p));
  if (pending.size === 0) return progress;

  const groupId = `${opts.groupPrefix ?? 'scop-read'}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeMs: 250 });
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const finished = new Promise<void>((ok, no) => { finish = ok; fail = no; });
  try {
    await consumer.run({
      topics: [topic], fromBeginning: true,
      startOffsets: new Map([[topic, start]]),
      onCrash: (e) => fail(e),
      eachBatch: async (batch) => {
        const p = batch.partition;
        if (!pending.has(p)) return; // done with it (its end, or the callback said so)
        const stop = end.get(p)!;
        for (const m of batch.records) {
          const o = BigInt(m.offset);
          if (o < start.get(p)! || o >= stop) continue;
          let control: ReadControl;
          try {
            control = await onMessage(m, p);
          } catch (e) {
            fail(e);
            return;
          }
          progress.read++;
          if (progress.read % 100 === 0) onProgress?.(progress);
          if (control === 'done') { pending.clear(); finish(); return; }
          if (control === 'done-partition') { pending.delete(p); break; }
        }
        if (batch.nextOffset >= stop) pending.delete(p);
        if (pending.size === 0) finish();
      },
    });
    await finished;
    onProgress?.(progress);
  } finally {
    await consumer.stop();
    const a = kafka.admin();
    await a.connect();
    await a.deleteGroups([groupId]).catch(() => {});
    await a.disconnect();
  }
  return progress;
}
