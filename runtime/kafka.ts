/**
 * The one module that talks to the Kafka client library. Everything else imports the types and
 * factories from here, so swapping kafkajs for @confluentinc/kafka-javascript (which offers a
 * KafkaJS-compatible API) touches this file only.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import {
  Kafka,
  logLevel,
  CompressionTypes,
  type Admin as KjsAdmin,
  type Consumer as KjsConsumer,
  type Producer as KjsProducer,
  type Transaction as KjsTransaction,
  type EachBatchPayload as KjsEachBatchPayload,
  type KafkaMessage as KjsKafkaMessage,
  type IHeaders,
  type SASLOptions,
  type LogEntry,
  type ISocketFactory,
} from 'kafkajs';
import kafkajs from 'kafkajs';
import { z } from 'zod';
import { ConfigError, envBool, loadEnv } from './config.ts';
import { loggerFor } from './log.ts';

export type Admin = KjsAdmin;
export type Consumer = KjsConsumer;
export type Producer = KjsProducer;
export type Transaction = KjsTransaction;
export type EachBatchPayload = KjsEachBatchPayload;
export type KafkaMessage = KjsKafkaMessage;
export type MessageHeaders = IHeaders;
export { CompressionTypes };
/** ACL enums for infra/kafka/acls.ts (operators' ACLs, the SASL test broker); Node's CJS export detection misses them. */
export const { AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl?: { ca?: string[]; rejectUnauthorized: boolean } | boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
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
  KAFKA_TLS: envBool().default('false'),
  KAFKA_TLS_CA_FILE: z.string().optional(),
  KAFKA_TLS_INSECURE: envBool().default('false'),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
};

const kafkaEnvHelp = {
  KAFKA_BROKERS: 'set KAFKA_BROKERS=host:port[,host:port…] of a reachable broker, or leave it unset to let scop start a local one',
  KAFKA_CLIENT_ID: 'any short name',
  KAFKA_TLS: 'use true or false',
  KAFKA_TLS_CA_FILE: 'path to a PEM file with the CA that signed the brokers’ certificates',
  KAFKA_TLS_INSECURE: 'use true only for testing: it skips certificate verification',
  KAFKA_SASL_MECHANISM: 'use plain, scram-sha-256 or scram-sha-512',
  KAFKA_SASL_USERNAME: 'the SASL user name',
  KAFKA_SASL_PASSWORD: 'the SASL password',
};

/** Reads KAFKA_* from the environment; `brokers` overrides KAFKA_BROKERS (used for the local broker). */
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
    ssl = { ca, rejectUnauthorized: !cfg.KAFKA_TLS_INSECURE };
  }
  let sasl: KafkaSettings['sasl'];
  if (cfg.KAFKA_SASL_MECHANISM) {
    if (!cfg.KAFKA_SASL_USERNAME || !cfg.KAFKA_SASL_PASSWORD) {
      throw new ConfigError('KAFKA_SASL_USERNAME', 'KAFKA_SASL_MECHANISM is set but the user name or password is missing', 'set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
    }
    sasl = { mechanism: cfg.KAFKA_SASL_MECHANISM, username: cfg.KAFKA_SASL_USERNAME, password: cfg.KAFKA_SASL_PASSWORD };
  }
  return { brokers: cfg.KAFKA_BROKERS, clientId: cfg.KAFKA_CLIENT_ID, ssl, sasl };
}

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
    if (/switched default partitioner|Limiting retries for the idempotent producer/.test(String(message))) return;
    kafkajsLog[name]({ ...rest, ns: log.namespace }, String(message));
  };
}

export interface KafkaClient {
  readonly settings: KafkaSettings;
  admin(): Admin;
  /** Idempotent producer with acks=-1 semantics; with `transactionalId` it can run transactions. */
  producer(opts?: { transactionalId?: string; transactionTimeoutMs?: number; retries?: number; initialRetryTimeMs?: number }): Producer;
  consumer(opts: {
    groupId: string; readUncommitted?: boolean; sessionTimeoutMs?: number; heartbeatIntervalMs?: number; maxWaitTimeMs?: number;
    /** Asked after a crash with a retriable error whether to restart (kafkajs default: always); return false once stopping. */
    restartOnFailure?: (e: Error) => Promise<boolean>;
  }): Consumer;
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

export function createKafkaClient(settings: KafkaSettings, clientOpts: KafkaClientOptions = {}): KafkaClient {
  const sockets = severableSocketFactory();
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    sasl: settings.sasl as SASLOptions | undefined,
    connectionTimeout: clientOpts.connectionTimeoutMs ?? 3000,
    requestTimeout: clientOpts.requestTimeoutMs ?? 30000,
    ...(clientOpts.retries !== undefined || clientOpts.initialRetryTimeMs !== undefined
      ? { retry: { retries: clientOpts.retries ?? 5, initialRetryTime: clientOpts.initialRetryTimeMs ?? 300 } }
      : {}),
    socketFactory: sockets.factory,
    logLevel: logLevel.WARN,
    logCreator,
  });
  return {
    settings,
    sever: () => sockets.sever(),
    admin: () => withReliableMetadata(kafka.admin()),
    producer: (opts = {}) =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        transactionalId: opts.transactionalId,
        // How long the broker keeps a transaction open before aborting it itself (kafkajs default 60 s).
        transactionTimeout: opts.transactionTimeoutMs,
        // A short first back-off: after a commit, the next transaction is often refused with
        // CONCURRENT_TRANSACTIONS for a few ms while markers are written; kafkajs' 300 ms default
        // would add that to every transaction.
        // Bounded retries (kafkajs warns about that for idempotent producers): a send fails after
        // roughly 10 s instead of hanging forever, so callers can answer (451, dead letter) in time.
        retry: { initialRetryTime: opts.initialRetryTimeMs ?? 25, retries: opts.retries ?? 10 },
      }),
    consumer: (opts) =>
      kafka.consumer({
        groupId: opts.groupId,
        readUncommitted: opts.readUncommitted ?? false,
        sessionTimeout: opts.sessionTimeoutMs ?? 30000,
        heartbeatInterval: opts.heartbeatIntervalMs ?? 3000,
        // An idle fetch returns after this long; disconnect waits for it, so it bounds shutdown time.
        maxWaitTimeInMs: opts.maxWaitTimeMs ?? 1000,
        allowAutoTopicCreation: false,
        ...(opts.restartOnFailure ? { retry: { restartOnFailure: opts.restartOnFailure } } : {}),
      }),
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
function withReliableMetadata(admin: Admin): Admin {
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

/**
 * Checks that the brokers answer a metadata request within `timeoutMs`; throws a ConfigError
 * naming KAFKA_BROKERS otherwise (used at start-up so a wrong address fails in one clear line).
 */
export async function probeBrokers(settings: KafkaSettings, timeoutMs = 10000): Promise<void> {
  const kafka = new Kafka({
    clientId: `${settings.clientId}-probe`,
    brokers: settings.brokers,
    ssl: settings.ssl,
    sasl: settings.sasl as SASLOptions | undefined,
    connectionTimeout: Math.min(3000, timeoutMs),
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [] });
      await admin.disconnect();
      return;
    } catch (e) {
      lastError = e;
      await admin.disconnect().catch(() => {});
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new ConfigError(
    'KAFKA_BROKERS',
    `no broker at ${settings.brokers.join(',')} answered a metadata request within ${timeoutMs} ms (${reason})`,
    'start Kafka there, fix KAFKA_BROKERS (and KAFKA_TLS / KAFKA_SASL_* if the cluster needs them), or unset KAFKA_BROKERS to let scop start a local broker',
  );
}
