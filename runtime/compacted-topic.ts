/**
 * Following a compacted topic as a table: read it from the beginning to its end before start-up
 * completes, then keep following it. Every instance must see every partition, so each follower
 * has its own consumer group and commits nothing. Used for state that must survive any instance
 * (blocklist, reputation, delivery log, spam model): the topic is the state, memory is a cache.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Consumer, KafkaClient, MessageHeaders } from './kafka.ts';
import type { Logger } from './log.ts';

export interface CompactedRecordMeta {
  partition: number;
  offset: string;
  /** The record's Kafka headers (e.g. a model's signature). */
  headers?: MessageHeaders;
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
  /** Whether kafkajs restarts the consumer after a crash (e.g. a broker away); default: until stop(). */
  restartOnFailure?: () => Promise<boolean>;
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
    for (const w of waiters) if (reached(w.target)) { waiters.delete(w); w.ok(); }
  };
  let stopped = false;

  const endOffsets = () => topicEndOffsets(o.kafka, o.topic);
  const waitFor = (target: Map<number, bigint>, timeoutMs: number) =>
    reached(target) ? Promise.resolve() : new Promise<void>((ok, fail) => {
      const w = { target, ok: () => { clearTimeout(timer); ok(); } };
      const timer = setTimeout(() => { waiters.delete(w); fail(new Error(`${o.topic} was not read to its end within ${timeoutMs} ms`)); }, timeoutMs);
      waiters.add(w);
    });

  const initial = await endOffsets();
  const consumer: Consumer = o.kafka.consumer({
    groupId: `scop-${o.name}-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`,
    maxWaitTimeMs: 500,
    sessionTimeoutMs: o.sessionTimeoutMs ?? 10000,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? 1000,
    restartOnFailure: o.restartOnFailure ?? (async () => !stopped),
  });
  // Control records (transaction markers) and compacted gaps move the end offset past the last
  // record, so progress is tracked per batch as well as per record.
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(e.payload.partition, BigInt(e.payload.lastOffset) + 1n));
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message, partition }) => {
      const key = message.key?.toString('utf8') ?? '';
      try {
        await o.onRecord(key, message.value, { partition, offset: message.offset, headers: message.headers });
      } catch (e) {
        o.log.error({ topic: o.topic, key, partition, offset: message.offset, err: (e as Error).message }, 'cannot apply a record of a compacted topic; skipped');
      }
      advance(partition, BigInt(message.offset) + 1n);
    },
  });
  try {
    await waitFor(initial, o.syncTimeoutMs ?? 120000);
  } catch (e) {
    stopped = true;
    await consumer.disconnect().catch(() => {});
    throw e;
  }
  return {
    sync: async (timeoutMs = 30000) => waitFor(await endOffsets(), timeoutMs),
    async stop() {
      stopped = true;
      // A consumer stuck rejoining after a broker restart would hold shutdown for a session timeout.
      await Promise.race([consumer.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
      // The group holds no offsets, so the broker drops it once empty. Deleting it here would need
      // a new admin connection, which keeps retrying in the background when the broker is away.
    },
  };
}
