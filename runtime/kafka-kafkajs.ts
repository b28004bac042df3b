/**
 * runtime/kafka.ts's interface on kafkajs 2.2.4 (with patches/kafkajs+2.2.4.patch). Only this file
 * and partition-producers.ts import kafkajs; everything else goes through kafka.ts.
 *
 * kafkajs has no KIP-447, so transactional read-process-write uses one producer per input
 * partition (partition-producers.ts), and the records of a batch below that producer's
 * committed offset are skipped before the engine sees them.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  Kafka, logLevel, CompressionTypes as KjsCompression,
  type Admin as KjsAdmin, type Consumer as KjsConsumer, type Producer as KjsProducer,
  type SASLOptions, type LogEntry, type ISocketFactory, type KafkaMessage as KjsMessage,
} from 'kafkajs';
import { heartbeatIntervalFor, sessionTimeoutOf } from './kafka-group.ts';
import type {
  Admin, Batch, GroupConsumer, KafkaClient, KafkaClientOptions, KafkaMessage, KafkaSettings, OutRecord, Producer,
  ProduceRequest, RecordMetadata, RunOptions, TransactionalWriter, TransactionOptions, ConsumerOptions, TransactionalProducer,
} from './kafka-types.ts';
import { loggerFor } from './log.ts';
import { createRecordReader } from './kafka-reader.ts';
import { PartitionProducers, type PartitionProducer } from './partition-producers.ts';

const kafkajsLog = loggerFor('kafka');
const levelName: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// kafkajs logs retriable protocol errors (coordinator loading, rebalancing, concurrent
// transactions) at ERROR although it retries them; they are debug noise for an operator.
const RETRIABLE_NOISE = /coordinator is loading|coordinator is not available|group is rebalancing|concurrent operation on the same transaction|not the correct coordinator|leadership election/i;

function logCreator() {
  return ({ level, log }: LogEntry) => {
    const { message, ...rest } = log;
    let name = levelName[level] ?? 'info';
    const text = `${String(message)} ${String((rest as { error?: unknown }).error ?? '')}`;
    if (name === 'error' && RETRIABLE_NOISE.test(text)) name = 'debug';
    // The engine handles crashes (re-creates the consumer); kafkajs' own "Crash"/"Restarting" lines would be duplicates.
    if (/switched default partitioner|Limiting retries for the idempotent producer|^Crash: |Restarting the consumer/.test(String(message))) return;
    kafkajsLog[name]({ ...rest, ns: log.namespace }, String(message));
  };
}

/** kafkajs' own socket factory plus a switch that closes every socket and refuses new ones. */
function severableSocketFactory(): { factory: ISocketFactory; sever(): void } {
  const open = new Set<net.Socket>();
  let severed = false;
  const factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    if (severed) {
      const dead = new net.Socket();
      process.nextTick(() => dead.destroy(new Error('kafka client severed')));
      return dead;
    }
    const socket = ssl
      ? tls.connect(Object.assign({ host, port }, !net.isIP(host) ? { servername: host } : {}, ssl), onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60000);
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    return socket;
  };
  return {
    factory,
    sever() {
      severed = true;
      for (const s of open) s.destroy();
      open.clear();
    },
  };
}

/** Retries a metadata call that kafkajs failed because a topic was unknown at that moment. */
async function retryUnknownTopic<T>(what: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await what();
    } catch (e) {
      if ((e as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 200 * i));
    }
  }
}

/**
 * Two kafkajs admin weaknesses, fixed here once for every caller:
 * - A metadata request fails whole when any topic in it is being deleted at that moment (another
 *   client cleaning up), although asking again works: listTopics / fetchTopicMetadata retry.
 * - createTopics({ waitForLeaders }) retries only LEADER_NOT_AVAILABLE, but a KRaft broker whose
 *   metadata cache lags the controller (a busy machine) answers UNKNOWN_TOPIC_OR_PARTITION for a
 *   topic it has just created: create without waiting, then wait here, treating both as "not yet".
 */
export function withReliableMetadata(admin: KjsAdmin): Admin {
  const create = admin.createTopics.bind(admin);
  const list = admin.listTopics.bind(admin);
  const fetchMeta = admin.fetchTopicMetadata.bind(admin);
  admin.listTopics = () => retryUnknownTopic(list);
  admin.fetchTopicMetadata = (opts) => retryUnknownTopic(() => fetchMeta(opts));
  admin.createTopics = async (opts) => {
    const created = await create({ ...opts, waitForLeaders: false });
    if (opts.waitForLeaders === false) return created;
    const topics = opts.topics.map((t) => t.topic);
    const deadline = Date.now() + (opts.timeout ?? 30000);
    for (;;) {
      try {
        const meta = await fetchMeta({ topics });
        if (meta.topics.length === topics.length && meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return created;
      } catch (e) {
        const type = (e as { type?: string }).type;
        if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw e;
      }
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leader ${opts.timeout ?? 30000} ms after creation`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return admin;
}

function kafkaFor(settings: KafkaSettings, clientOpts: KafkaClientOptions, socketFactory?: ISocketFactory): Kafka {
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    sasl: settings.sasl as SASLOptions | undefined,
    connectionTimeout: clientOpts.connectionTimeoutMs ?? 3000,
    requestTimeout: clientOpts.requestTimeoutMs ?? 30000,
    ...(clientOpts.retries !== undefined || clientOpts.initialRetryTimeMs !== undefined
      ? { retry: { retries: clientOpts.retries ?? 5, initialRetryTime: clientOpts.initialRetryTimeMs ?? 300 } }
      : {}),
    ...(socketFactory ? { socketFactory } : {}),
    logLevel: logLevel.WARN,
    logCreator,
  });
}

/** One metadata request, no retries: used by probeBrokers / waitForBrokers. */
export async function kafkajsProbe(settings: KafkaSettings, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: `${settings.clientId}-probe`, brokers: settings.brokers, ssl: settings.ssl, sasl: settings.sasl as SASLOptions | undefined,
    connectionTimeout: timeoutMs, requestTimeout: timeoutMs, logLevel: logLevel.NOTHING, retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [] });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** kafkajs messages → the interface's records. */
const toMessage = (m: KjsMessage): KafkaMessage => ({ offset: m.offset, key: m.key ?? null, value: m.value ?? null, headers: m.headers ?? {}, timestamp: m.timestamp });

/** No produce request carries more than this many bytes of values, so none exceeds the broker's limits. */
const MAX_SEND_BYTES = 16 * 1024 * 1024;

export type ProduceCall = { topic: string; messages: OutRecord[] }[];

/**
 * The records of a transaction as few produce calls as possible: every topic in one call (kafkajs
 * sends one Produce and one AddPartitionsToTxn per call and broker, where a call per topic cost one
 * of each per topic), each topic's records in their order, a new call only past MAX_SEND_BYTES (a
 * larger record goes alone).
 */
export function produceCalls(records: OutRecord[]): ProduceCall[] {
  const calls: ProduceCall[] = [];
  let call: ProduceCall = [];
  let byTopic = new Map<string, OutRecord[]>();
  let bytes = 0;
  for (const r of records) {
    const size = r.value?.length ?? 0;
    if (call.length > 0 && bytes + size > MAX_SEND_BYTES) {
      calls.push(call);
      call = [];
      byTopic = new Map();
      bytes = 0;
    }
    let messages = byTopic.get(r.topic);
    if (!messages) {
      byTopic.set(r.topic, (messages = []));
      call.push({ topic: r.topic, messages });
    }
    messages.push(r);
    bytes += size;
  }
  if (call.length > 0) calls.push(call);
  return calls;
}

const kjsMessages = (messages: ProduceRequest['messages']) => messages.map((m) => ({ key: m.key ?? null, value: m.value, headers: m.headers, partition: m.partition }));

function wrapProducer(p: KjsProducer): Producer {
  return {
    connect: () => p.connect(),
    disconnect: () => p.disconnect(),
    async send(req): Promise<RecordMetadata[]> {
      const res = await p.send({
        topic: req.topic, acks: -1, messages: kjsMessages(req.messages),
        compression: req.compression === 'gzip' ? KjsCompression.GZIP : KjsCompression.None,
      });
      return res.map((r) => ({ topic: r.topicName, partition: r.partition, baseOffset: r.baseOffset ?? '-1' }));
    },
    async sendBatch(req): Promise<RecordMetadata[]> {
      const res = await p.sendBatch({
        acks: -1, ...(req.timeout !== undefined ? { timeout: req.timeout } : {}),
        compression: req.compression === 'gzip' ? KjsCompression.GZIP : KjsCompression.None,
        topicMessages: req.topicMessages.map((t) => ({ topic: t.topic, messages: kjsMessages(t.messages) })),
      });
      return res.map((r) => ({ topic: r.topicName, partition: r.partition, baseOffset: r.baseOffset ?? '-1' }));
    },
  };
}

class KafkajsGroupConsumer implements GroupConsumer {
  private readonly consumer: KjsConsumer;
  private producers: PartitionProducers | undefined;
  private admin: Admin | undefined;
  private readonly inUse = new Set<string>();
  private stopped = false;

  constructor(private readonly kafka: Kafka, private readonly opts: ConsumerOptions, private readonly client: KafkaClient) {
    const sessionTimeout = sessionTimeoutOf(opts, client.settings);
    this.consumer = kafka.consumer({
      groupId: opts.groupId,
      readUncommitted: opts.readUncommitted ?? false,
      sessionTimeout,
      heartbeatInterval: opts.heartbeatIntervalMs ?? heartbeatIntervalFor(sessionTimeout),
      // An idle fetch returns after this long; disconnect waits for it, so it bounds shutdown time.
      maxWaitTimeInMs: opts.maxWaitTimeMs ?? 1000,
      minBytes: opts.minBytes ?? 1,
      allowAutoTopicCreation: false,
      // Every crash goes to the owner (runtime/consumer-supervisor.ts), which re-creates the consumer
      // with backoff: one recovery path whatever the error, instead of kafkajs restarting after
      // some errors and silently giving up after others.
      retry: { restartOnFailure: async () => false },
    });
  }

  transactions(opts: TransactionOptions): TransactionalWriter {
    this.admin ??= this.client.admin();
    this.producers ??= new PartitionProducers(this.kafka, this.admin, this.opts.groupId, opts.log, opts.transactionTimeoutMs ?? 60000);
    const producers = this.producers;
    return {
      async commit(batch, records, nextOffset) {
        const tp: PartitionProducer = await producers.get(batch.topic, batch.partition);
        const txn = await tp.producer.transaction();
        try {
          for (const call of produceCalls(records)) await txn.sendBatch({ acks: -1, topicMessages: call.map((t) => ({ topic: t.topic, messages: kjsMessages(t.messages) })) });
          await txn.sendOffsets({ consumerGroupId: producers.groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: nextOffset.toString() }] }] });
          await txn.commit();
        } catch (e) {
          await txn.abort().catch(() => {});
          await producers.drop(batch.topic, batch.partition);
          throw e;
        }
        tp.nextOffset = nextOffset;
      },
    };
  }

  async run(o: RunOptions): Promise<void> {
    const c = this.consumer;
    c.on(c.events.GROUP_JOIN, (e) => {
      const assigned = Object.entries(e.payload.memberAssignment).flatMap(([topic, ps]) => (ps as number[]).map((partition) => ({ topic, partition })));
      // After a rebalance any partition may have been processed elsewhere in between: producers
      // not in use re-initialise (fencing, re-reading the committed offset) on next use.
      if (this.producers) void this.producers.dropAll(this.inUse);
      o.onAssigned?.(assigned);
    });
    c.on(c.events.CRASH, (e) => {
      if (!e.payload.restart && !this.stopped) o.onCrash(e.payload.error);
    });
    // Batches of only transaction markers or aborted records never reach eachBatch; they still move the position.
    c.on(c.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.batchSize > 0 || this.stopped) return;
      const p = e.payload;
      void o.eachBatch({
        topic: p.topic, partition: p.partition, records: [], nextOffset: BigInt(p.lastOffset) + 1n, highWatermark: BigInt(p.highWatermark),
        heartbeat: async () => {}, isStale: () => false,
      }).catch(() => {});
    });
    await c.connect();
    for (const topic of o.topics) await c.subscribe({ topic, fromBeginning: o.fromBeginning });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.partitionsConcurrently ?? 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        const key = `${topic}:${partition}`;
        this.inUse.add(key);
        try {
          let records = batch.messages.map(toMessage);
          if (this.producers) {
            // Initialising p's producer fences any other holder; records below its committed offset are done.
            const tp = await this.producers.get(topic, partition);
            const before = records.length;
            records = records.filter((m) => BigInt(m.offset) >= tp.nextOffset);
            if (records.length < before) kafkajsLog.info({ topic, partition, skipped: before - records.length, nextOffset: String(tp.nextOffset) }, 'skipping records already committed by an earlier producer');
          }
          const b: Batch = {
            topic, partition, records, nextOffset: BigInt(batch.lastOffset()) + 1n, highWatermark: BigInt(batch.highWatermark),
            heartbeat, isStale: () => this.stopped || !isRunning() || isStale(),
          };
          await o.eachBatch(b);
          if (!b.isStale()) resolveOffset(batch.lastOffset());
        } finally {
          this.inUse.delete(key);
        }
      },
    });
    try {
      for (const [topic, parts] of o.startOffsets ?? []) for (const [partition, offset] of parts) c.seek({ topic, partition, offset: offset.toString() });
    } catch (e) {
      // The consumer crashed while starting (onCrash was called): nothing to seek.
      if (!/not initialized/.test((e as Error).message)) throw e;
    }
  }

  async commitOffsets(offsets: { topic: string; partition: number; offset: bigint }[]): Promise<void> {
    await this.consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() })));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // disconnect() waits for the batch in flight; a consumer stuck rejoining after a broker
    // restart would hold it for a session timeout, so it is bounded.
    await Promise.race([this.consumer.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 15000).unref())]);
    await this.producers?.dropAll();
    await this.admin?.disconnect().catch(() => {});
  }
}

/** runtime/kafka.ts's TransactionalProducer: one kafkajs transactional producer; any failure aborts the transaction. */
async function kafkajsTransactionalProducer(kafka: Kafka, transactionalId: string, transactionTimeoutMs: number): Promise<TransactionalProducer> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId, transactionTimeout: transactionTimeoutMs, retry: { initialRetryTime: 25, retries: 10 } });
  await producer.connect();
  try {
    // kafkajs sends InitProducerId on the first transaction(): this fences earlier holders and settles their open transaction.
    await (await producer.transaction()).abort();
  } catch (e) {
    await producer.disconnect().catch(() => {});
    throw e;
  }
  return {
    transactionalId,
    async send(records, opts = {}) {
      const txn = await producer.transaction();
      try {
        for (const call of produceCalls(records)) {
          await txn.sendBatch({
            acks: -1, compression: opts.compression === 'gzip' ? KjsCompression.GZIP : KjsCompression.None,
            topicMessages: call.map((t) => ({ topic: t.topic, messages: kjsMessages(t.messages) })),
          });
        }
        await txn.commit();
      } catch (e) {
        await txn.abort().catch(() => {});
        throw e;
      }
    },
    disconnect: () => producer.disconnect(),
  };
}

export function createKafkajsClient(settings: KafkaSettings, clientOpts: KafkaClientOptions = {}): KafkaClient {
  const sockets = severableSocketFactory();
  const kafka = kafkaFor(settings, clientOpts, sockets.factory);
  const client: KafkaClient = {
    settings,
    kind: 'kafkajs',
    sever: () => sockets.sever(),
    admin: () => withReliableMetadata(kafka.admin()),
    producer: (opts = {}) => wrapProducer(kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Bounded retries (kafkajs warns about that for idempotent producers): a send fails after
      // roughly 10 s instead of hanging forever, so callers can answer (451, dead letter) in time.
      retry: { initialRetryTime: opts.initialRetryTimeMs ?? 25, retries: opts.retries ?? 10 },
    })),
    consumer: (opts) => new KafkajsGroupConsumer(kafka, opts, client),
    // kafkajs cannot read by position without joining a group: @platformatic/kafka's Fetch serves it (kafka-reader.ts).
    reader: () => createRecordReader(settings, clientOpts),
    transactionalProducer: (opts) => kafkajsTransactionalProducer(kafka, opts.transactionalId, opts.transactionTimeoutMs ?? 60000),
  };
  return client;
}
