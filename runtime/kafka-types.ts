/**
 * The Kafka interface every other file programs against: settings, records, producers, group
 * consumers with transactional read-process-write, the admin requests and the reader by position.
 * Types only (and two small pure helpers), so the implementations (kafka-kafkajs.ts,
 * kafka-platformatic.ts, kafka-reader.ts) and the factory (kafka.ts) all depend on it and not on
 * each other. kafka.ts re-exports everything here: callers keep importing from './kafka.ts'.
 */
import type { Admin as KjsAdmin } from 'kafkajs';
import type { Logger } from './log.ts';

/** The Kafka client libraries KAFKA_CLIENT may name; the type follows from this one list. */
export const CLIENT_KINDS = ['kafkajs', 'platformatic'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];
/** The client when KAFKA_CLIENT is unset (runtime/README.md "The measured choice" says why). */
export const DEFAULT_CLIENT_KIND: ClientKind = 'kafkajs';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  /** TLS; cert/key/passphrase: a client certificate for mutual TLS (node:tls options, passed to both clients). */
  ssl?: { ca?: string[]; cert?: string; key?: string; passphrase?: string; rejectUnauthorized: boolean } | boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** Which client library implements the interface (KAFKA_CLIENT; default kafkajs). */
  client?: ClientKind;
  /** Defaults of every group consumer of this client (a consumer's own options win). */
  group?: GroupDefaults;
}

/**
 * How fast a crashed member's partitions move on. A restarted process joins as a new member, and
 * the group waits for the dead one's session to expire before it rebalances: the session timeout
 * is the resume time after a crash. With a static member id (KIP-345, group.instance.id) the
 * restarted process takes its old place at once, without waiting and without a rebalance.
 */
export interface GroupDefaults {
  /** KAFKA_SESSION_TIMEOUT_MS (default 10 s; the broker's group.min.session.timeout.ms is 6 s). */
  sessionTimeoutMs?: number;
  /** SCOP_INSTANCE_ID as group.instance.id: static membership (platformatic only; kafkajs 2.2.4 has no KIP-345). */
  instanceId?: string;
}


/** The admin requests scop makes (topics, offsets, configs, groups); kafkajs' signatures. */
export type Admin = Pick<KjsAdmin,
  | 'connect' | 'disconnect' | 'listTopics' | 'createTopics' | 'deleteTopics' | 'createPartitions'
  | 'fetchTopicMetadata' | 'fetchTopicOffsets' | 'fetchTopicOffsetsByTimestamp' | 'fetchOffsets'
  | 'describeConfigs' | 'alterConfigs' | 'listGroups' | 'describeGroups' | 'deleteGroups' | 'createAcls' | 'describeCluster'>;

/** Headers of a consumed record (values as bytes). */
export type MessageHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** A consumed record. Offsets are decimal strings (Kafka offsets are 64-bit). */
export interface KafkaMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: MessageHeaders;
  timestamp: string;
}

export const CompressionTypes = { None: 'none', GZIP: 'gzip' } as const;
export type Compression = (typeof CompressionTypes)[keyof typeof CompressionTypes];

export interface ProduceMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
  partition?: number;
}

export interface ProduceRequest {
  topic: string;
  messages: ProduceMessage[];
  compression?: Compression;
  /** Always all in-sync replicas (the producers are idempotent); accepted for readability. */
  acks?: -1;
}

/** Where a send landed: the first offset written to each partition. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  baseOffset: string;
}

/** Several topics in one request. `timeout`: how long the broker may wait for the replicas (ms). */
export interface ProduceBatchRequest {
  topicMessages: { topic: string; messages: ProduceMessage[] }[];
  compression?: Compression;
  acks?: -1;
  timeout?: number;
}

/** Idempotent producer, acks=all. */
export interface Producer {
  connect(): Promise<void>;
  send(request: ProduceRequest): Promise<RecordMetadata[]>;
  sendBatch(request: ProduceBatchRequest): Promise<RecordMetadata[]>;
  disconnect(): Promise<void>;
}

/** A record to write inside a read-process-write transaction. */
export interface OutRecord extends ProduceMessage {
  topic: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** The records one fetch returned for one partition, in offset order. */
export interface Batch extends TopicPartition {
  /** May be empty: a fetch of only transaction markers (or records of aborted transactions) still moves the position. */
  records: KafkaMessage[];
  /** The offset after this batch (past trailing markers when the client tells). */
  nextOffset: bigint;
  /** The partition's end (read_committed: last stable offset) as the fetch saw it, when the client tells. */
  highWatermark: bigint | null;
  /** Keep the membership alive during long work; throws when the group is rebalancing (then return). */
  heartbeat(): Promise<void>;
  /** True once this batch's partition may belong to another member (rebalance): stop working on it. */
  isStale(): boolean;
}

export interface RunOptions {
  topics: string[];
  /** Where a partition without a committed offset starts: the beginning (true) or the end. */
  fromBeginning: boolean;
  /** Per topic and partition: start here instead of the committed offset (followers that recover, replays). */
  startOffsets?: Map<string, Map<number, bigint>>;
  /** Partitions processed at once (each still in offset order; default 1). */
  partitionsConcurrently?: number;
  /**
   * One partition's next records. Resolving marks them done for the consumer; throwing makes the
   * consumer re-read that partition from its committed offset (after a rebalance at the latest),
   * or, if it cannot, report a crash.
   */
  eachBatch(batch: Batch): Promise<void>;
  /** After every (re)join: this member's partitions now. */
  onAssigned?(partitions: TopicPartition[]): void;
  /** The consumer stopped by itself (broker away too long, fatal error) and will not consume again. */
  onCrash(error: Error): void;
}

/**
 * Transactional read-process-write for one consumer: the records and the consumed position of a
 * batch's partition are committed atomically, or not at all. Zombies (a member that lost its
 * partitions but still runs) are fenced: their commit fails.
 */
export interface TransactionalWriter {
  commit(batch: Batch, records: OutRecord[], nextOffset: bigint): Promise<void>;
}

/**
 * A producer under a fixed transactional.id whose every send is one transaction. Creating it
 * initialises the id, which fences every earlier holder of it (their next send fails) and settles
 * any transaction they left open: a single-writer guarantee across processes (the spam learner).
 */
export interface TransactionalProducer {
  readonly transactionalId: string;
  /** Writes the records in one transaction: all visible to read_committed readers, or none. */
  send(records: OutRecord[], opts?: { compression?: Compression }): Promise<void>;
  disconnect(): Promise<void>;
}

/** True when a transactional send failed because another holder of the transactional id took over. */
export function isFencedError(e: unknown): boolean {
  // kafkajs: type PRODUCER_FENCED / INVALID_PRODUCER_EPOCH; @platformatic/kafka: nested errors with apiId and producerFenced.
  const err = e as { type?: string; code?: string; apiId?: string; message?: string; producerFenced?: boolean; errors?: unknown[]; cause?: unknown } | undefined;
  if (!err || typeof err !== 'object') return false;
  if (err.producerFenced === true) return true;
  const text = `${err.type ?? ''} ${err.code ?? ''} ${err.apiId ?? ''} ${err.message ?? ''}`;
  if (/PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|producer.{0,40}fence/i.test(text)) return true;
  return (err.errors ?? []).some(isFencedError) || (err.cause !== undefined && isFencedError(err.cause));
}

export interface ConsumerOptions {
  groupId: string;
  readUncommitted?: boolean;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** How long an idle fetch waits on the broker; also bounds how fast stop() returns. */
  maxWaitTimeMs?: number;
  /**
   * The broker answers a fetch once it has this many bytes (or maxWaitTimeMs passed; default 1:
   * at once). Larger values make fewer, fuller fetches and so larger transactions.
   */
  minBytes?: number;
}

export interface TransactionOptions {
  /** How long the broker keeps a transaction of a dead producer open before aborting it (default 60 s kafkajs, 10 s platformatic). */
  transactionTimeoutMs?: number;
  log: Logger;
}

export interface GroupConsumer {
  /** Call before run(): this consumer's batches are then committed through the writer only. */
  transactions(opts: TransactionOptions): TransactionalWriter;
  /** Subscribes and starts consuming; resolves once started (joining may take longer). */
  run(opts: RunOptions): Promise<void>;
  /** At-least-once: commit positions (the offset of the next record to read). */
  commitOffsets(offsets: (TopicPartition & { offset: bigint })[]): Promise<void>;
  /** Leaves the group; waits for the batch in flight. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface KafkaClient {
  readonly settings: KafkaSettings;
  readonly kind: ClientKind;
  admin(): Admin;
  /** Idempotent producer, acks=all. */
  producer(opts?: { retries?: number; initialRetryTimeMs?: number }): Producer;
  consumer(opts: ConsumerOptions): GroupConsumer;
  /** Reads records by position (topic, partition, offset), without a group: fetching a raw message by reference. */
  reader(): RecordReader;
  /** A transactional producer under `transactionalId`, initialised (fencing earlier holders) before it resolves. */
  transactionalProducer(opts: { transactionalId: string; transactionTimeoutMs?: number }): Promise<TransactionalProducer>;
  /**
   * Destroys every socket this client opened and refuses to open new ones, so nothing queued or
   * being retried inside it can reach a broker afterwards (the ingress uses it to make a timed-out
   * send final before it answers 451). The client is unusable after this.
   */
  sever(): void;
}

/** Client-wide timeouts and retries, for callers that must answer within a deadline (the ingress). */
export interface KafkaClientOptions {
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Retries of connection and metadata requests (kafkajs default: 5, starting at 300 ms). */
  retries?: number;
  initialRetryTimeMs?: number;
}

/** Reads records by position. */
export interface RecordReader {
  /**
   * Committed records of `topic`/`partition` from `offset` on, in offset order, about `maxBytes` of
   * them (at least the first record batch, however large). Empty when `offset` is the partition's
   * end. Throws `OffsetOutOfRange` when the offset is below the log start (expired) or past the end.
   */
  read(topic: string, partition: number, offset: bigint, maxBytes: number): Promise<KafkaMessage[]>;
  close(): Promise<void>;
}

/** The offset is not in the log: deleted by retention, or never written. */
export class OffsetOutOfRange extends Error {
  override name = 'OffsetOutOfRange';
}
