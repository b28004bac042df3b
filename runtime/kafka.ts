/**
 * The one module every other file uses to talk to Kafka: a narrow interface (producer, group
 * consumer with rebalance hooks, transactional read-process-write, admin) and its two
 * implementations, chosen by KAFKA_CLIENT:
 *
 *   kafkajs       (default) kafka-kafkajs.ts — no KIP-447: one transactional producer per input
 *                 partition fences zombies (partition-producers.ts).
 *   platformatic  kafka-platformatic.ts — @platformatic/kafka: one transactional producer per
 *                 consumer, offsets committed with the group generation and member id (KIP-447).
 *
 * Only those two files import a client library; nothing else may (a test checks). The admin side
 * is served by kafkajs for both: it is not on any hot path (see runtime/README.md).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import kafkajs, { type Admin as KjsAdmin } from 'kafkajs';
import { ConfigError, envBool, envInt, loadEnv } from './config.ts';
import type { Logger } from './log.ts';
import { DEFAULT_SESSION_TIMEOUT_MS } from './kafka-group.ts';
import { createKafkajsClient, kafkajsProbe } from './kafka-kafkajs.ts';
import { createPlatformaticClient } from './kafka-platformatic.ts';
import type { RecordReader } from './kafka-reader.ts';
import { loadClientCertificate } from './tls.ts';

export { OffsetOutOfRange, type RecordReader } from './kafka-reader.ts';

export type ClientKind = 'kafkajs' | 'platformatic';
export const CLIENT_KINDS: readonly ClientKind[] = ['kafkajs', 'platformatic'];
/** ACL enums for infra/kafka/acls.ts (operators' ACLs, the SASL test broker); Node's CJS export detection misses them. */
export const { AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;

/** The partitions a consumer-group member holds, from describeGroups' memberAssignment (the classic consumer protocol both clients speak). */
export function memberPartitions(memberAssignment: Buffer): Record<string, number[]> {
  return kafkajs.AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment ?? {};
}

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

const brokerList = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
  .refine((list) => list.length > 0 && list.every((b) => /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(b)), {
    message: 'must be a comma-separated list of host:port',
  });

const kafkaEnvShape = {
  KAFKA_BROKERS: brokerList,
  KAFKA_CLIENT_ID: z.string().default('scop'),
  KAFKA_CLIENT: z.enum(['kafkajs', 'platformatic']).default('kafkajs'),
  KAFKA_TLS: envBool().default('false'),
  KAFKA_TLS_CA_FILE: z.string().optional(),
  KAFKA_TLS_INSECURE: envBool().default('false'),
  KAFKA_TLS_CERT_FILE: z.string().optional(),
  KAFKA_TLS_KEY_FILE: z.string().optional(),
  KAFKA_TLS_KEY_PASSPHRASE: z.string().optional(),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_SESSION_TIMEOUT_MS: envInt(6000).max(300000).default(DEFAULT_SESSION_TIMEOUT_MS),
  SCOP_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be 1–200 letters, digits, . _ -').optional(),
};

const kafkaEnvHelp = {
  KAFKA_BROKERS: 'set KAFKA_BROKERS=host:port[,host:port…] of a reachable broker, or leave it unset to let scop start a local one',
  KAFKA_CLIENT_ID: 'any short name',
  KAFKA_CLIENT: 'use kafkajs (default) or platformatic',
  KAFKA_TLS: 'use true or false',
  KAFKA_TLS_CA_FILE: 'path to a PEM file with the CA that signed the brokers’ certificates',
  KAFKA_TLS_INSECURE: 'use true only for testing: it skips certificate verification',
  KAFKA_TLS_CERT_FILE: 'path to the PEM client certificate (chain) for brokers that require one (ssl.client.auth=required)',
  KAFKA_TLS_KEY_FILE: 'path to the PEM private key of KAFKA_TLS_CERT_FILE, mode 0600',
  KAFKA_TLS_KEY_PASSPHRASE: 'the passphrase of an encrypted KAFKA_TLS_KEY_FILE',
  KAFKA_SASL_MECHANISM: 'use plain, scram-sha-256 or scram-sha-512',
  KAFKA_SASL_USERNAME: 'the SASL user name',
  KAFKA_SASL_PASSWORD: 'the SASL password',
  KAFKA_SESSION_TIMEOUT_MS: 'milliseconds a crashed consumer keeps its partitions before the group moves on, 6000–300000, e.g. 10000',
  SCOP_INSTANCE_ID: 'a name stable across restarts and unique among the instances of a service (e.g. <host>-<service>), letters, digits, . _ -',
};

/** KAFKA_CLIENT alone (for a local broker whose address scop chose itself). */
export function clientKindFromEnv(env: NodeJS.ProcessEnv = process.env): ClientKind {
  return loadEnv({ KAFKA_CLIENT: kafkaEnvShape.KAFKA_CLIENT }, { KAFKA_CLIENT: kafkaEnvHelp.KAFKA_CLIENT }, env).KAFKA_CLIENT;
}

/** Reads KAFKA_* from the environment. */
export function kafkaSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaSettings {
  const cfg = loadEnv(kafkaEnvShape, kafkaEnvHelp, env);
  let ssl: KafkaSettings['ssl'];
  if (cfg.KAFKA_TLS) {
    let ca: string[] | undefined;
    if (cfg.KAFKA_TLS_CA_FILE) {
      try {
        ca = [readFileSync(cfg.KAFKA_TLS_CA_FILE, 'utf8')];
      } catch (e) {
        throw new ConfigError('KAFKA_TLS_CA_FILE', `cannot read ${cfg.KAFKA_TLS_CA_FILE}: ${(e as Error).message}`, 'point it at a readable PEM file');
      }
    }
    ssl = { ca, rejectUnauthorized: !cfg.KAFKA_TLS_INSECURE, ...clientCertificate(cfg) };
  } else if (cfg.KAFKA_TLS_CERT_FILE || cfg.KAFKA_TLS_KEY_FILE) {
    throw new ConfigError('KAFKA_TLS', 'a client certificate is configured (KAFKA_TLS_CERT_FILE / KAFKA_TLS_KEY_FILE) but TLS is off', 'set KAFKA_TLS=true, or unset the client certificate settings');
  }
  let sasl: KafkaSettings['sasl'];
  if (cfg.KAFKA_SASL_MECHANISM) {
    if (!cfg.KAFKA_SASL_USERNAME || !cfg.KAFKA_SASL_PASSWORD) {
      throw new ConfigError('KAFKA_SASL_USERNAME', 'KAFKA_SASL_MECHANISM is set but the user name or password is missing', 'set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
    }
    sasl = { mechanism: cfg.KAFKA_SASL_MECHANISM, username: cfg.KAFKA_SASL_USERNAME, password: cfg.KAFKA_SASL_PASSWORD };
  }
  // kafkajs 2.2.4 has no group.instance.id (KIP-345): there SCOP_INSTANCE_ID changes nothing.
  const staticMember = cfg.KAFKA_CLIENT === 'platformatic' && cfg.SCOP_INSTANCE_ID;
  const group: GroupDefaults = { sessionTimeoutMs: cfg.KAFKA_SESSION_TIMEOUT_MS, ...(staticMember ? { instanceId: cfg.SCOP_INSTANCE_ID } : {}) };
  return { brokers: cfg.KAFKA_BROKERS, clientId: cfg.KAFKA_CLIENT_ID, ssl, sasl, client: cfg.KAFKA_CLIENT, group };
}

/** KAFKA_TLS_CERT_FILE + KAFKA_TLS_KEY_FILE (+ KAFKA_TLS_KEY_PASSPHRASE): both or neither. */
function clientCertificate(cfg: { KAFKA_TLS_CERT_FILE?: string; KAFKA_TLS_KEY_FILE?: string; KAFKA_TLS_KEY_PASSPHRASE?: string }): { cert?: string; key?: string; passphrase?: string } {
  const { KAFKA_TLS_CERT_FILE: certFile, KAFKA_TLS_KEY_FILE: keyFile, KAFKA_TLS_KEY_PASSPHRASE: passphrase } = cfg;
  if (!certFile && !keyFile) {
    if (passphrase) throw new ConfigError('KAFKA_TLS_KEY_PASSPHRASE', 'is set but there is no KAFKA_TLS_KEY_FILE', 'set KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE, or unset the passphrase');
    return {};
  }
  if (!certFile) throw new ConfigError('KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE is set but the certificate is missing', 'set KAFKA_TLS_CERT_FILE to the PEM client certificate');
  if (!keyFile) throw new ConfigError('KAFKA_TLS_KEY_FILE', 'KAFKA_TLS_CERT_FILE is set but its private key is missing', 'set KAFKA_TLS_KEY_FILE to the PEM private key (mode 0600)');
  const c = loadClientCertificate({ certFile, keyFile, passphrase, settings: { cert: 'KAFKA_TLS_CERT_FILE', key: 'KAFKA_TLS_KEY_FILE', passphrase: 'KAFKA_TLS_KEY_PASSPHRASE' } });
  return { cert: c.cert, key: c.key, ...(c.passphrase !== undefined ? { passphrase: c.passphrase } : {}) };
}

export function createKafkaClient(settings: KafkaSettings, clientOpts: KafkaClientOptions = {}): KafkaClient {
  return (settings.client ?? 'kafkajs') === 'platformatic' ? createPlatformaticClient(settings, clientOpts) : createKafkajsClient(settings, clientOpts);
}

const brokersError = (settings: KafkaSettings, problem: string) => new ConfigError(
  'KAFKA_BROKERS', `no broker at ${settings.brokers.join(',')} ${problem}`,
  'start Kafka there, fix KAFKA_BROKERS (and KAFKA_TLS / KAFKA_SASL_* if the cluster needs them), or unset KAFKA_BROKERS to let scop start a local broker',
);

/**
 * Checks that the brokers answer a metadata request within `timeoutMs`; throws a ConfigError
 * naming KAFKA_BROKERS otherwise (one-shot commands: a wrong address fails in one clear line).
 */
export async function probeBrokers(settings: KafkaSettings, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let reason = '';
  while (Date.now() < deadline) {
    try {
      await kafkajsProbe(settings, Math.min(3000, Math.max(250, deadline - Date.now())));
      return;
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw brokersError(settings, `answered a metadata request within ${timeoutMs} ms (${reason})`);
}

/** How long services wait for the brokers at start-up (SCOP_KAFKA_WAIT_MS). */
export function brokerWaitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return loadEnv(
    { SCOP_KAFKA_WAIT_MS: envInt(0).default(300000) },
    { SCOP_KAFKA_WAIT_MS: 'milliseconds a starting service waits for KAFKA_BROKERS to answer (0: do not wait)' },
    env,
  ).SCOP_KAFKA_WAIT_MS;
}

/**
 * Waits for the brokers to answer, with backoff (0.5 s doubling to 10 s) and one log line per
 * attempt naming KAFKA_BROKERS, for up to `maxWaitMs`; then throws the same ConfigError as
 * probeBrokers. A broker that is restarting, or started after scop, is not an operator error.
 */
export async function waitForBrokers(settings: KafkaSettings, log: Logger, maxWaitMs: number): Promise<void> {
  const t0 = Date.now();
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    let reason: string;
    try {
      await kafkajsProbe(settings, 3000);
      if (attempt > 1) log.info({ brokers: settings.brokers.join(','), waitedMs: Date.now() - t0 }, 'Kafka answers; starting');
      return;
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    const remaining = maxWaitMs - (Date.now() - t0);
    if (remaining <= 0) throw brokersError(settings, `answered a metadata request within ${maxWaitMs} ms of waiting (${reason}; SCOP_KAFKA_WAIT_MS sets how long)`);
    const pause = Math.min(delay, remaining);
    log.warn({ brokers: settings.brokers.join(','), attempt, retryInMs: pause, err: reason }, `waiting for Kafka: no broker at KAFKA_BROKERS=${settings.brokers.join(',')} answers yet; retrying in ${pause} ms`);
    await new Promise((r) => setTimeout(r, pause));
    delay = Math.min(10000, delay * 2);
  }
}
