/**
 * Following a compacted topic as a table: read it from the beginning to its end before start-up
 * completes, then keep following it. Every instance must see every partition, so each follower
 * has its own consumer group and commits nothing. Used for state that must survive any instance
 * (blocklist, reputation, delivery log, spam model): the topic is the state, memory is a cache.
 * The consumer is supervised (consumer-supervisor.ts): re-created after a crash, resuming where
 * it got to, and reported on /healthz when a HealthRegistry is given.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { ConsumerSupervisor } from './consumer-supervisor.ts';
import type { HealthRegistry } from './health.ts';
import type { KafkaClient, MessageHeaders } from './kafka.ts';
import type { Logger } from './log.ts';

export interface CompactedRecordMeta {
  partition: number;
  offset: string;
  /** The record's Kafka headers (e.g. a model's signature). */
  headers?: MessageHeaders;
  /** The record's timestamp (ms since the epoch, as text like Kafka's). */
  timestamp?: string;
}

export interface FollowOptions {
  kafka: KafkaClient;
  topic: string;
  /** Short name for the consumer group and logs, e.g. "ingress-blocklist". */
  name: string;
  log: Logger;
  /** Applies one record in log order; `value` null is a tombstone. A throw is logged and the record skipped. */
  onRecord(key: string, value: Buffer | null, meta: CompactedRecordMeta): void | Promise<void>;
  /** How long start-up may take to read the topic to its end (default 120 s). */
  syncTimeoutMs?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Where the follower's health is reported (/healthz) and its consumer metrics go. */
  health?: HealthRegistry;
  metrics?: Registry;
}

export interface CompactedTopicFollower {
  /** Waits until every record committed to the topic when called has been applied. */
  sync(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The end offset of every non-empty partition (for a read_committed reader, the last stable offset).
 * Right after a topic is created its leader may not be elected yet, so this asks again for a while.
 */
export async function topicEndOffsets(kafka: KafkaClient, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return new Map(offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]));
      } catch (e) {
        if (attempt >= 20) throw new Error(`topic ${topic}: ${(e as Error).message} (create it with \`scop topics apply\`)`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** One-shot: the latest value per key of a compacted topic as it is now (tombstones removed). */
export async function readCompactedTopic(kafka: KafkaClient, topic: string, log: Logger, timeoutMs = 30000): Promise<Map<string, Buffer>> {
  const latest = new Map<string, Buffer>();
  const follower = await followCompactedTopic({
    kafka, topic, name: 'read', log, syncTimeoutMs: timeoutMs,
    onRecord: (key, value) => { if (value) latest.set(key, value); else latest.delete(key); },
  });
  await follower.stop();
  return latest;
}

/** Resolves once the topic has been read to the end offsets it had at the call. */
export async function followCompactedTopic(o: FollowOptions): Promise<CompactedTopicFollower> {
  const position = new Map<number, bigint>();
  const waiters = new Set<{ target: Map<number, bigint>; ok: () => void }>();
  const reached = (target: Map<number, bigint>) => [...target].every(([p, high]) => (position.get(p) ?? -1n) >= high);
  const advance = (partition: number, next: bigint) => {
    if (next > (position.get(partition) ?? -1n)) position.set(partition, next);
    supervisor.progress({ topic: o.topic, partition }, next);
    for (const w of waiters) if (reached(w.target)) { waiters.delete(w); w.ok(); }
  };

  const endOffsets = () => topicEndOffsets(o.kafka, o.topic);
  const waitFor = (target: Map<number, bigint>, timeoutMs: number) =>
    reached(target) ? Promise.resolve() : new Promise<void>((ok, fail) => {
      const w = { target, ok: () => { clearTimeout(timer); ok(); } };
      const timer = setTimeout(() => { waiters.delete(w); fail(new Error(`${o.topic} was not read to its end within ${timeoutMs} ms`)); }, timeoutMs);
      waiters.add(w);
    });

  const initial = await endOffsets();
  // Every instance reads every partition: a group of its own, nothing committed. A consumer
  // re-created after a crash resumes where the last one got to, so nothing is applied twice.
  const supervisor = new ConsumerSupervisor({
    name: `follower ${o.name}`, kafka: o.kafka, log: o.log, metrics: o.metrics ?? new Registry(), health: o.health,
    consumer: { groupId: `scop-${o.name}-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`, maxWaitTimeMs: 500, sessionTimeoutMs: o.sessionTimeoutMs ?? 10000, heartbeatIntervalMs: o.heartbeatIntervalMs ?? 1000 },
    topics: [o.topic], fromBeginning: true,
    startOffsets: () => new Map([[o.topic, new Map(position)]]),
    eachBatch: async (b) => {
      for (const m of b.records) {
        const key = m.key?.toString('utf8') ?? '';
        if (BigInt(m.offset) < (position.get(b.partition) ?? -1n)) continue;
        try {
          await o.onRecord(key, m.value, { partition: b.partition, offset: m.offset, headers: m.headers, timestamp: m.timestamp });
        } catch (e) {
          o.log.error({ topic: o.topic, key, partition: b.partition, offset: m.offset, err: (e as Error).message }, 'cannot apply a record of a compacted topic; skipped');
        }
        advance(b.partition, BigInt(m.offset) + 1n);
      }
      // Control records (transaction markers) and compacted gaps move the end offset past the last record.
      advance(b.partition, b.nextOffset);
    },
  });
  await supervisor.start();
  try {
    await waitFor(initial, o.syncTimeoutMs ?? 120000);
  } catch (e) {
    await supervisor.stop().catch(() => {});
    throw e;
  }
  return {
    sync: async (timeoutMs = 30000) => waitFor(await endOffsets(), timeoutMs),
    async stop() {
      // A consumer stuck rejoining after a broker restart would hold shutdown for a session timeout.
      await Promise.race([supervisor.stop().catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
      // The group holds no offsets, so the broker drops it once empty.
    },
  };
}
