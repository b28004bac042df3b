/**
 * runtime/kafka.ts's interface on @platformatic/kafka (KAFKA_CLIENT=platformatic). Only this file
 * imports that library.
 *
 * Consuming: the library delivers a stream of records; this adapter groups them per partition into
 * batches and runs at most `partitionsConcurrently` partitions at once, each in offset order. A
 * stream is tied to one group generation: after every rebalance (and after a batch failed) a new
 * stream replaces it, which starts from the committed offsets, so a partition's records reach the
 * engine contiguously from its committed position — the old stream's leftovers are dropped.
 *
 * Transactions (KIP-447): one transactional producer per consumer; the consumed offsets are
 * committed inside the transaction with the group generation and member id of the fetch (the
 * broker refuses them from a member that lost the partition: zombies are fenced by generation).
 * Commits of several partitions that are ready at the same time share one transaction.
 */
import { randomUUID } from 'node:crypto';
import {
  Consumer as PConsumer, Producer as PProducer, FetchIsolationLevels, compatibilityPartitioner,
  type Message as PMessage, type MessagesStream, type MessageConsumerMetadata, type Base,
} from '@platformatic/kafka';
import type {
  Batch, ConsumerOptions, GroupConsumer, KafkaClient, KafkaClientOptions, KafkaMessage, KafkaSettings, OutRecord,
  Producer, ProduceBatchRequest, ProduceMessage, ProduceRequest, RecordMetadata, RunOptions, TopicPartition, TransactionalWriter, TransactionOptions, TransactionalProducer,
} from './kafka-types.ts';
import { createKafkajsClient } from './kafka-kafkajs.ts';
import { heartbeatIntervalFor, sessionTimeoutOf } from './kafka-group.ts';
import { platformaticBaseOptions as baseOptions, createRecordReader } from './kafka-reader.ts';
import { loggerFor, type Logger } from './log.ts';

const log = loggerFor('kafka');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClient = Base<any, any>;
type BufConsumer = PConsumer<Buffer, Buffer, Buffer, Buffer>;
type BufProducer = PProducer<Buffer, Buffer, Buffer, Buffer>;

const buf = (v: Buffer | string | null | undefined): Buffer | undefined => (v === null || v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v));

/** Keys go to the same partition as with kafkajs and the Java client (murmur2, positive); keyless ones round-robin. */
function partitioner() {
  let next = 0;
  return (m: unknown, key: Buffer | undefined) => (Buffer.isBuffer(key) ? compatibilityPartitioner(m as never, key) : next++ & 0x7fffffff);
}

function toProduce(topic: string, m: ProduceMessage) {
  // Header keys go out as given: bytes, not strings (the library does not convert them).
  const headers = new Map<Buffer, Buffer>();
  for (const [k, v] of Object.entries(m.headers ?? {})) headers.set(Buffer.from(k), buf(v)!);
  return { topic, key: buf(m.key), value: buf(m.value), headers, ...(m.partition !== undefined ? { partition: m.partition } : {}) };
}

function toMessage(m: PMessage): KafkaMessage {
  const headers: Record<string, Buffer> = {};
  for (const [k, v] of m.headerEntries) headers[k.toString()] = v;
  return { offset: m.offset.toString(), key: m.key ?? null, value: m.value ?? null, headers, timestamp: m.timestamp.toString() };
}

/** Clients this KafkaClient created, so sever() can close them all. */
class Tracker {
  private readonly open = new Set<AnyClient>();
  severed = false;
  add<T extends AnyClient>(c: T): T {
    if (this.severed) throw new Error('kafka client severed');
    this.open.add(c);
    return c;
  }
  forget(c: AnyClient): void {
    this.open.delete(c);
  }
  /** Closes gracefully (pending requests finish), or by force if that fails. */
  async close(c: AnyClient | undefined): Promise<void> {
    if (!c) return;
    this.forget(c);
    const close = c.close.bind(c) as (force?: boolean) => Promise<void>;
    await close().catch(() => close(true).catch(() => {}));
  }
  sever(): void {
    this.severed = true;
    for (const c of this.open) void (c.close as (force: boolean) => Promise<void>)(true).catch(() => {});
    this.open.clear();
  }
}

class PlatformaticProducer implements Producer {
  private p: BufProducer | undefined;
  constructor(private readonly make: () => BufProducer, private readonly tracker: Tracker) {}

  private get producer(): BufProducer {
    this.p ??= this.tracker.add(this.make());
    return this.p;
  }

  async connect(): Promise<void> {
    await this.producer.metadata({ topics: [] });
  }

  send(req: ProduceRequest): Promise<RecordMetadata[]> {
    return this.sendBatch({ topicMessages: [{ topic: req.topic, messages: req.messages }], compression: req.compression });
  }

  async sendBatch(req: ProduceBatchRequest): Promise<RecordMetadata[]> {
    const res = await this.producer.send({
      messages: req.topicMessages.flatMap((t) => t.messages.map((m) => toProduce(t.topic, m))),
      ...(req.compression === 'gzip' ? { compression: 'gzip' as const } : {}),
    });
    return (res.offsets ?? []).map((o) => ({ topic: o.topic, partition: o.partition, baseOffset: o.offset.toString() }));
  }

  async disconnect(): Promise<void> {
    const p = this.p;
    this.p = undefined;
    await this.tracker.close(p);
  }
}

interface Fence { meta: MessageConsumerMetadata; epoch: number }

interface Queue { tp: TopicPartition; messages: PMessage[]; busy: boolean; delivered: bigint }

/** Records waiting in the adapter before the stream is paused. */
const MAX_QUEUED = 4096;

class PlatformaticGroupConsumer implements GroupConsumer {
  private readonly consumer: BufConsumer;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private runOpts: RunOptions | undefined;
  private readonly queues = new Map<string, Queue>();
  private queued = 0;
  private working = 0;
  private epoch = 0;
  private generation = -1;
  private stopped = false;
  private crashed = false;
  private restarting: Promise<void> | undefined;
  private readonly fences = new WeakMap<Batch, Fence>();
  private writer: PlatformaticWriter | undefined;
  private idle: (() => void)[] = [];
  private pumpScheduled = false;
  /** Batches that failed in a row (backoff before reading again). */
  private failures = 0;

  constructor(private readonly settings: KafkaSettings, private readonly clientOpts: KafkaClientOptions, private readonly opts: ConsumerOptions, private readonly tracker: Tracker) {
    const sessionTimeout = sessionTimeoutOf(opts, settings);
    // Static membership (KIP-345): a restarted process takes its old place without waiting for the session to expire.
    const groupInstanceId = settings.group?.instanceId;
    this.consumer = tracker.add(new PConsumer<Buffer, Buffer, Buffer, Buffer>({
      ...baseOptions(settings, clientOpts),
      groupId: opts.groupId,
      ...(groupInstanceId ? { groupInstanceId } : {}),
      sessionTimeout,
      rebalanceTimeout: Math.max(sessionTimeout, 60000),
      heartbeatInterval: opts.heartbeatIntervalMs ?? heartbeatIntervalFor(sessionTimeout),
      maxWaitTime: opts.maxWaitTimeMs ?? 1000,
      minBytes: opts.minBytes ?? 1,
      isolationLevel: opts.readUncommitted ? FetchIsolationLevels.READ_UNCOMMITTED : FetchIsolationLevels.READ_COMMITTED,
      autocommit: false,
    } as unknown as ConstructorParameters<typeof PConsumer<Buffer, Buffer, Buffer, Buffer>>[0]));
  }

  transactions(opts: TransactionOptions): TransactionalWriter {
    this.writer ??= new PlatformaticWriter(this.settings, this.clientOpts, this.opts.groupId, this.consumer, opts, this.tracker, (b) => this.fences.get(b));
    return this.writer;
  }

  private crash(e: unknown): void {
    if (this.stopped || this.crashed) return;
    this.crashed = true;
    this.runOpts?.onCrash(e instanceof Error ? e : new Error(String(e)));
  }

  async run(o: RunOptions): Promise<void> {
    this.runOpts = o;
    const c = this.consumer;
    c.on('error', (e: Error) => this.crash(e));
    c.on('consumer:group:join', (p) => {
      const assigned = (p.assignments ?? []).flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })));
      o.onAssigned?.(assigned);
      const gen = p.generationId ?? -1;
      // A new generation: the stream in use was fetched for the old one; start a new one from the committed offsets.
      if (this.stream && gen !== this.generation) void this.restart('rebalance');
      this.generation = gen;
    });
    await this.openStream(this.newEpoch(), o.startOffsets);
  }

  /** Drops what the current stream fetched but the engine has not taken yet: it would not be contiguous with the next stream. */
  private newEpoch(): number {
    const epoch = ++this.epoch;
    for (const q of this.queues.values()) { this.queued -= q.messages.length; q.messages = []; q.delivered = -1n; }
    return epoch;
  }

  private async openStream(epoch: number, startOffsets?: RunOptions['startOffsets']): Promise<void> {
    const o = this.runOpts!;
    const offsets = startOffsets ? [...startOffsets].flatMap(([topic, ps]) => [...ps].map(([partition, offset]) => ({ topic, partition, offset }))) : undefined;
    const stream = await this.consumer.consume({
      topics: o.topics,
      mode: offsets?.length ? 'manual' : 'committed',
      fallbackMode: o.fromBeginning ? 'earliest' : 'latest',
      autocommit: false,
      ...(offsets?.length ? { offsets } : {}),
    });
    if (this.generation < 0) this.generation = this.consumer.generationId;
    const old = this.stream;
    this.stream = stream;
    stream.on('data', (m: PMessage) => this.onData(m, epoch));
    stream.on('fetch', () => this.onFetch(stream, epoch));
    stream.on('error', (e: Error) => { if (this.stream === stream) this.crash(e); });
    if (old) await old.close().catch(() => {});
  }

  private restart(why: string): Promise<void> {
    // Synchronously: nothing the old stream delivers from now on is used.
    const epoch = this.newEpoch();
    const run = async () => {
      log.debug({ groupId: this.opts.groupId, why }, 'consuming again from the committed offsets');
      try {
        await this.openStream(epoch);
      } catch (e) {
        this.crash(e);
      }
    };
    this.restarting = (this.restarting ?? Promise.resolve()).then(run);
    return this.restarting;
  }

  private queue(topic: string, partition: number): Queue {
    const key = `${topic}:${partition}`;
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = { tp: { topic, partition }, messages: [], busy: false, delivered: -1n }));
    return q;
  }

  private onData(m: PMessage, epoch: number): void {
    if (epoch !== this.epoch || this.stopped) return;
    const q = this.queue(m.topic, m.partition);
    q.messages.push(m);
    if (++this.queued >= MAX_QUEUED && !this.stream?.isPaused()) this.stream?.pause();
    // After the current fetch's records are all queued, so they make one batch.
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => { this.pumpScheduled = false; this.pump(); });
    }
  }

  /** A fetch that moved past transaction markers or aborted records delivers nothing: report the new position of idle partitions. */
  private onFetch(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, epoch: number): void {
    if (epoch !== this.epoch || this.stopped) return;
    for (const [key, at] of stream.offsetsToFetch) {
      const q = this.queues.get(key) ?? (() => { const i = key.lastIndexOf(':'); return this.queue(key.slice(0, i), Number(key.slice(i + 1))); })();
      if (q.busy || q.messages.length > 0 || at <= q.delivered) continue;
      q.delivered = at;
      void this.runOpts!.eachBatch(this.batch(q, [], at, epoch)).catch(() => {});
    }
  }

  private batch(q: Queue, messages: PMessage[], nextOffset: bigint, epoch: number): Batch {
    const b: Batch = {
      ...q.tp, records: messages.map(toMessage), nextOffset, highWatermark: null,
      heartbeat: async () => {}, isStale: () => this.stopped || epoch !== this.epoch || this.crashed,
    };
    const last = messages[messages.length - 1];
    if (last) this.fences.set(b, { meta: last.metadata.consumer as MessageConsumerMetadata, epoch });
    return b;
  }

  private pump(): void {
    const limit = this.runOpts?.partitionsConcurrently ?? 1;
    for (const q of this.queues.values()) {
      if (this.working >= limit || this.stopped) break;
      if (q.busy || q.messages.length === 0) continue;
      void this.work(q);
    }
  }

  private async work(q: Queue): Promise<void> {
    q.busy = true;
    this.working++;
    const epoch = this.epoch;
    try {
      while (q.messages.length > 0 && epoch === this.epoch && !this.stopped) {
        const messages = q.messages.splice(0, 1000);
        this.queued -= messages.length;
        if (this.queued < MAX_QUEUED / 2 && this.stream?.isPaused()) this.stream.resume();
        const next = messages[messages.length - 1]!.offset + 1n;
        try {
          await this.runOpts!.eachBatch(this.batch(q, messages, next, epoch));
          q.delivered = next;
          this.failures = 0;
        } catch (e) {
          if (this.stopped) break;
          log.debug({ groupId: this.opts.groupId, ...q.tp, err: (e as Error).message }, 'batch failed');
          // Re-read every partition from its committed offset (a failed transaction leaves no other
          // safe position), after a pause that grows while failures repeat (a coordinator loading).
          if (epoch === this.epoch) {
            const pause = Math.min(5000, 100 * 2 ** this.failures++);
            await new Promise((r) => setTimeout(r, pause));
            if (epoch === this.epoch && !this.stopped) await this.restart('batch failed');
          }
          break;
        }
      }
    } finally {
      q.busy = false;
      this.working--;
      if (this.working === 0) for (const w of this.idle.splice(0)) w();
      this.pump();
    }
  }

  async commitOffsets(offsets: (TopicPartition & { offset: bigint })[]): Promise<void> {
    await this.consumer.commit({ offsets: offsets.map((o) => ({ ...o, leaderEpoch: -1 })) });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.working > 0) await Promise.race([new Promise<void>((ok) => this.idle.push(ok)), new Promise((r) => setTimeout(r, 15000).unref())]);
    await this.stream?.close().catch(() => {});
    await this.writer?.close();
    await this.tracker.close(this.consumer);
  }
}

interface PendingCommit { batch: Batch; fence: Fence; records: OutRecord[]; nextOffset: bigint; done(e?: unknown): void }

/**
 * One transactional producer for the consumer (KIP-447). Its transactional.id is
 * `<group>-<SCOP_INSTANCE_ID>` when that is set (stable across restarts: a restarted instance
 * aborts its predecessor's open transaction at once), else random per consumer (then a crashed
 * instance's open transaction is aborted by the broker after the transaction timeout).
 */
class PlatformaticWriter implements TransactionalWriter {
  private producer: BufProducer | undefined;
  private readonly pending: PendingCommit[] = [];
  private running = false;
  private readonly transactionalId: string;
  private readonly log: Logger;

  constructor(
    private readonly settings: KafkaSettings, private readonly clientOpts: KafkaClientOptions, private readonly groupId: string,
    private readonly consumer: BufConsumer, private readonly opts: TransactionOptions, private readonly tracker: Tracker,
    private readonly fenceOf: (b: Batch) => Fence | undefined,
  ) {
    this.transactionalId = `${groupId}-${process.env.SCOP_INSTANCE_ID?.trim() || randomUUID()}`;
    this.log = opts.log;
  }

  private get p(): BufProducer {
    this.producer ??= this.tracker.add(new PProducer<Buffer, Buffer, Buffer, Buffer>({
      ...baseOptions(this.settings, this.clientOpts, `${this.settings.clientId}-txn`),
      idempotent: true,
      transactionalId: this.transactionalId,
      // InitProducerId as a new producer (-1/-1): the library's default (0/0) makes the broker fence
      // every later producer with the same transactional id (a restart, our own re-creation).
      producerId: -1n,
      producerEpoch: -1,
      // The transaction timeout (and produce timeout): how long a dead holder's transaction blocks read_committed readers.
      timeout: this.opts.transactionTimeoutMs ?? 10000,
      retries: 10,
      retryDelay: 25,
      partitioner: partitioner(),
    } as unknown as ConstructorParameters<typeof PProducer<Buffer, Buffer, Buffer, Buffer>>[0]));
    return this.producer;
  }

  commit(batch: Batch, records: OutRecord[], nextOffset: bigint): Promise<void> {
    const fence = this.fenceOf(batch);
    if (!fence) return Promise.reject(new Error('transactional commit of a batch without records'));
    return new Promise((ok, fail) => {
      this.pending.push({ batch, fence, records, nextOffset, done: (e) => (e ? fail(e) : ok()) });
      void this.drain();
    });
  }

  /** Runs one transaction at a time; commits that arrive meanwhile share the next one. */
  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0);
        const live = group.filter((g) => !g.batch.isStale());
        for (const g of group) if (g.batch.isStale()) g.done(new Error('stale batch: its partition was re-read'));
        if (live.length === 0) continue;
        try {
          await this.transaction(live);
          for (const g of live) g.done();
        } catch (e) {
          for (const g of live) g.done(e);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async transaction(group: PendingCommit[]): Promise<void> {
    let tx: Awaited<ReturnType<BufProducer['beginTransaction']>> | undefined;
    try {
      tx = await this.p.beginTransaction();
      const records = group.flatMap((g) => g.records);
      if (records.length > 0) await tx.send({ messages: records.map((r) => toProduce(r.topic, r)) });
      await tx.addConsumer(this.consumer);
      // One TxnOffsetCommit per partition, carrying the generation and member id of its fetch.
      for (const g of group) {
        await tx.addOffset({ topic: g.batch.topic, partition: g.batch.partition, offset: g.nextOffset - 1n, metadata: { consumer: g.fence.meta } } as unknown as PMessage);
      }
      await tx.commit();
    } catch (e) {
      const open = tx;
      if (open) await open.abort().catch(() => open.cancel().catch(() => {}));
      // Fenced, in an unknown state, or not initialised (a coordinator still loading leaves the
      // library's half-begun transaction behind): a new producer re-initialises (and fences older
      // epochs of this id).
      const p = this.producer;
      this.producer = undefined;
      if (p) { this.tracker.forget(p); void p.close(true).catch(() => {}); }
      this.log.debug({ transactionalId: this.transactionalId, err: (e as Error).message }, 'transaction failed');
      throw e;
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await this.tracker.close(p);
  }
}

/** runtime/kafka.ts's TransactionalProducer on the library's transactional producer; a failure aborts the transaction and the next send re-initialises. */
async function platformaticTransactionalProducer(settings: KafkaSettings, clientOpts: KafkaClientOptions, tracker: Tracker, transactionalId: string, transactionTimeoutMs: number): Promise<TransactionalProducer> {
  let producer: BufProducer | undefined;
  const make = () => (producer ??= tracker.add(new PProducer<Buffer, Buffer, Buffer, Buffer>({
    ...baseOptions(settings, clientOpts, `${settings.clientId}-txn`),
    idempotent: true,
    transactionalId,
    // InitProducerId as a new producer (-1/-1): see PlatformaticWriter.
    producerId: -1n,
    producerEpoch: -1,
    timeout: transactionTimeoutMs,
    retries: 10,
    retryDelay: 25,
    partitioner: partitioner(),
  } as unknown as ConstructorParameters<typeof PProducer<Buffer, Buffer, Buffer, Buffer>>[0])));
  const drop = () => {
    const p = producer;
    producer = undefined;
    if (p) { tracker.forget(p); void p.close(true).catch(() => {}); }
  };
  // Beginning a transaction sends InitProducerId: earlier holders are fenced now, not at the first send.
  try {
    const tx = await make().beginTransaction();
    await tx.cancel().catch(() => {});
  } catch (e) {
    drop();
    throw e;
  }
  return {
    transactionalId,
    async send(records, opts = {}) {
      let tx: Awaited<ReturnType<BufProducer['beginTransaction']>> | undefined;
      try {
        tx = await make().beginTransaction();
        await tx.send({ messages: records.map((r) => toProduce(r.topic, r)), ...(opts.compression === 'gzip' ? { compression: 'gzip' as const } : {}) });
        await tx.commit();
      } catch (e) {
        const open = tx;
        if (open) await open.abort().catch(() => open.cancel().catch(() => {}));
        drop();
        throw e;
      }
    },
    async disconnect() {
      const p = producer;
      producer = undefined;
      await tracker.close(p);
    },
  };
}

export function createPlatformaticClient(settings: KafkaSettings, clientOpts: KafkaClientOptions = {}): KafkaClient {
  const tracker = new Tracker();
  // Admin requests are not on any hot path; kafkajs serves them for both clients.
  const admin = createKafkajsClient(settings, clientOpts);
  return {
    settings,
    kind: 'platformatic',
    admin: () => admin.admin(),
    producer: (opts = {}) => new PlatformaticProducer(() => new PProducer<Buffer, Buffer, Buffer, Buffer>({
      ...baseOptions(settings, { ...clientOpts, retries: opts.retries ?? 10, initialRetryTimeMs: opts.initialRetryTimeMs ?? 25 }),
      idempotent: true,
      partitioner: partitioner(),
    } as unknown as ConstructorParameters<typeof PProducer<Buffer, Buffer, Buffer, Buffer>>[0]), tracker),
    consumer: (opts) => new PlatformaticGroupConsumer(settings, clientOpts, opts, tracker),
    reader: () => createRecordReader(settings, clientOpts),
    transactionalProducer: (opts) => platformaticTransactionalProducer(settings, clientOpts, tracker, opts.transactionalId, opts.transactionTimeoutMs ?? 10000),
    sever: () => { tracker.sever(); admin.sever(); },
  };
}
