/**
 * Consumer-group lag as the broker sees it (what kafka_exporter reports): for every group with
 * committed offsets, partition end − committed offset. Unlike each stage's own lag gauge, it keeps
 * growing while a stage is down, which is what the "lag growing" alert needs. Read at scrape time
 * through the admin API, at most every `minIntervalMs` (a cached answer in between).
 */
import type { Registry } from 'prom-client';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import { gaugeOn } from '../runtime/metrics.ts';

export interface GroupLag { group: string; topic: string; partition: number; lag: number }

/** Throwaway readers (runtime/topic-reader.ts) and followers commit nothing worth watching. */
const IGNORED = /^scop-read-/;

export async function consumerGroupLag(kafka: KafkaClient): Promise<GroupLag[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const ends = new Map<string, Map<number, bigint>>();
    const out: GroupLag[] = [];
    for (const { groupId } of groups.filter((g) => !IGNORED.test(g.groupId))) {
      for (const t of await admin.fetchOffsets({ groupId })) {
        let end = ends.get(t.topic);
        if (!end) {
          end = new Map((await admin.fetchTopicOffsets(t.topic)).map((p) => [p.partition, BigInt(p.high)]));
          ends.set(t.topic, end);
        }
        for (const p of t.partitions) {
          const committed = BigInt(p.offset);
          const high = end.get(p.partition);
          if (committed < 0n || high === undefined) continue;
          out.push({ group: groupId, topic: t.topic, partition: p.partition, lag: Number(high > committed ? high - committed : 0n) });
        }
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

export function registerLagMetrics(registry: Registry, kafka: KafkaClient, log: Logger, minIntervalMs = 10000): void {
  let last = 0;
  let cached: GroupLag[] = [];
  let inflight: Promise<void> | undefined;
  gaugeOn(registry, {
    name: 'scop_kafka_consumergroup_lag', help: 'Records between a consumer group\'s committed offset and the end of the partition (broker view), per group and partition.',
    labelNames: ['group', 'topic', 'partition'] as const,
    async collect() {
      if (Date.now() - last >= minIntervalMs) {
        inflight ??= consumerGroupLag(kafka).then((l) => { cached = l; last = Date.now(); }, (e: unknown) => log.warn({ err: (e as Error).message }, 'consumer-group lag: admin request failed')).finally(() => { inflight = undefined; });
        await inflight;
      }
      this.reset();
      for (const l of cached) this.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, l.lag);
    },
  });
}
