/**
 * The `_schemas` topic as a replicated log: creates it if missing, consumes it from the beginning
 * for as long as the instance runs (so instances see each other's writes), and appends records,
 * resolving only once this instance's own consumer has applied them.
 */
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { ConsumerSupervisor } from '../../runtime/consumer-supervisor.ts';
import { createKafkaClient, type Admin, type KafkaSettings, type Producer } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import { errors } from './errors.ts';
import { decodeRecord, encodeKey } from './records.ts';
import type { LogAppend, SchemaLogWriter } from './registry-service.ts';
import type { RegistryState } from './state.ts';

export interface SchemaLogOptions {
  kafka: KafkaSettings;
  topic: string;
  replicationFactor: number;
  state: RegistryState;
  logger: Logger;
  /** How long a write (or the start-up catch-up) may wait for the consumer. */
  waitTimeoutMs?: number;
}

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class KafkaSchemaLog implements SchemaLogWriter {
  private producer?: Producer;
  private consumer?: ConsumerSupervisor;
  /** Offset of the last record applied to state; -1 before any. */
  private applied = -1;
  private waiters: Waiter[] = [];
  private closed = false;
  private readonly waitTimeoutMs: number;

  constructor(private readonly opts: SchemaLogOptions) {
    this.waitTimeoutMs = opts.waitTimeoutMs ?? 30_000;
  }

  /** Set while the consumer is not running (it is re-created): state may lag the log. */
  get failure(): string | undefined {
    const h = this.consumer?.health();
    return h?.reason?.startsWith('consumer not running') ? h.reason : undefined;
  }

  get appliedOffset(): number {
    return this.applied;
  }

  /** Creates the topic if needed, starts consuming, and returns once state reflects the whole log. */
  async start(): Promise<void> {
    const client = createKafkaClient(this.opts.kafka);
    const admin = client.admin();
    await admin.connect();
    try {
      await ensureTopic(admin, this.opts.topic, this.opts.replicationFactor, this.opts.logger);
    } finally {
      await admin.disconnect();
    }
    this.producer = client.producer();
    await this.producer.connect();
    // A group of one per instance (each instance must read every record). Offsets are never
    // committed, so every start replays the log from offset 0; a consumer re-created after a
    // crash (a broker restart) resumes after the last record applied.
    this.consumer = new ConsumerSupervisor({
      name: 'registry-schemas', kafka: client, log: this.opts.logger, metrics: new Registry(),
      consumer: { groupId: `scop-registry-${this.opts.topic}-${randomUUID()}` },
      topics: [this.opts.topic], fromBeginning: true,
      startOffsets: () => new Map([[this.opts.topic, new Map([[0, BigInt(this.applied + 1)]])]]),
      eachBatch: async (batch) => {
        for (const m of batch.records) this.applyMessage(Number(m.offset), m.key, m.value);
        this.consumer?.progress(batch, batch.nextOffset);
        this.wake();
      },
    });
    await this.consumer.start();
    // Like Confluent's start-up, write a NOOP and wait to read it back: the end offset alone is not
    // a reliable target because compaction may have removed the records just before it.
    await this.append([{ key: { keytype: 'NOOP' }, value: null }]);
  }

  private applyMessage(offset: number, key: Buffer | null, value: Buffer | null): void {
    // A rebalance may re-deliver records; state must see each offset exactly once.
    if (offset <= this.applied) return;
    this.applied = offset;
    try {
      const rec = decodeRecord(key, value);
      if (!rec) return;
      const outcome = this.opts.state.apply(rec);
      if (outcome === 'ignored') this.opts.logger.debug({ offset, key: key?.toString() }, 'ignored a record that lost a concurrent write');
    } catch (e) {
      this.opts.logger.warn({ offset, key: key?.toString(), err: (e as Error).message }, 'skipping malformed _schemas record');
    }
  }

  private wake(): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.offset <= this.applied) {
        clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  private waitFor(offset: number): Promise<void> {
    if (offset <= this.applied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(errors.timeout(`the _schemas consumer did not reach offset ${offset} within ${this.waitTimeoutMs} ms`));
      }, this.waitTimeoutMs);
      const waiter: Waiter = { offset, resolve, reject, timer };
      this.waiters.push(waiter);
    });
  }

  async append(records: LogAppend[]): Promise<void> {
    if (!this.producer || this.closed) throw errors.store('the registry is not connected to Kafka');
    let last: number;
    try {
      const meta = await this.producer.send({
        topic: this.opts.topic,
        acks: -1,
        messages: records.map((r) => ({ key: encodeKey(r.key), value: r.value })),
      });
      // One partition and one send: the records got consecutive offsets from baseOffset.
      const base = meta[0]?.baseOffset;
      if (base === undefined) throw new Error('the broker returned no offset');
      last = Number(base) + records.length - 1;
    } catch (e) {
      throw errors.store((e as Error).message);
    }
    await this.waitFor(last);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(errors.store('the registry is shutting down'));
    }
    this.waiters = [];
    // Stopping waits for the in-flight fetch, a long poll of up to 5 s on a quiet topic.
    // A NOOP record ends that poll at once; it is a tombstone, so compaction removes it.
    const stopping = this.consumer?.stop();
    await this.producer?.send({ topic: this.opts.topic, acks: -1, messages: [{ key: encodeKey({ keytype: 'NOOP' }), value: null }] }).catch(() => undefined);
    await Promise.allSettled([stopping, this.producer?.disconnect()]);
  }
}

async function ensureTopic(admin: Admin, topic: string, replicationFactor: number, logger: Logger): Promise<void> {
  // Checking first keeps kafkajs from logging TOPIC_ALREADY_EXISTS as an error on every restart.
  if (!(await admin.listTopics()).includes(topic)) {
    try {
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: 1, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
      });
      if (created) logger.info({ replicationFactor }, 'created the schemas topic');
    } catch (e) {
      // Another instance may have created it between our check and our request; that is fine.
      if (!/already exists/i.test(String((e as Error).message)) && (e as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw e;
    }
  }
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitions = meta.topics[0]?.partitions.length ?? 0;
  // Log order is the tie-breaker between instances; that only holds within a single partition.
  if (partitions !== 1) throw new Error(`topic ${topic} has ${partitions} partitions; the schema registry needs exactly 1`);
}
