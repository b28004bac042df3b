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
import kafkajs from 'kafkajs';
import { ConfigError, envBool, envInt, loadEnv } from './config.ts';
import type { Logger } from './log.ts';
import { DEFAULT_SESSION_TIMEOUT_MS } from './kafka-group.ts';
import { createKafkajsClient, kafkajsProbe } from './kafka-kafkajs.ts';
import { createPlatformaticClient } from './kafka-platformatic.ts';
import { CLIENT_KINDS, DEFAULT_CLIENT_KIND, type ClientKind, type GroupDefaults, type KafkaClient, type KafkaClientOptions, type KafkaSettings } from './kafka-types.ts';
import { loadClientCertificate } from './tls.ts';

/** The interface itself lives in kafka-types.ts (the implementations import it from there, so nothing imports back up). */
export * from './kafka-types.ts';

/** ACL enums for infra/kafka/acls.ts (operators' ACLs, the SASL test broker); Node's CJS export detection misses them. */
export const { AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;

/** The partitions a consumer-group member holds, from describeGroups' memberAssignment (the classic consumer protocol both clients speak). */
export function memberPartitions(memberAssignment: Buffer): Record<string, number[]> {
  return kafkajs.AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment ?? {};
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
  KAFKA_CLIENT: z.enum(CLIENT_KINDS).default(DEFAULT_CLIENT_KIND),
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
  return (settings.client ?? DEFAULT_CLIENT_KIND) === 'platformatic' ? createPlatformaticClient(settings, clientOpts) : createKafkajsClient(settings, clientOpts);
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
