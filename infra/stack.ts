/**
 * The local servers scop needs: Kafka and a schema registry. Each is started only when its
 * setting is absent — KAFKA_BROKERS / SCHEMA_REGISTRY_URL point at existing ones instead — and
 * stopped in reverse order.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { envPort, loadEnv } from '../runtime/config.ts';
import { brokerWaitFromEnv, clientKindFromEnv, kafkaSettingsFromEnv, waitForBrokers, type KafkaSettings } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { probeRegistry, registrySettingsFromEnv, type RegistrySettings } from '../runtime/registry.ts';
import { startLocalKafka } from './kafka/broker.ts';
import { startLocalRegistry } from './schema-registry.ts';

const log = loggerFor('stack');

export const stackEnvShape = {
  SCOP_DATA_DIR: z.string().default('.data'),
  SCOP_KAFKA_PORT: envPort().default(9092),
  SCOP_KAFKA_CONTROLLER_PORT: envPort().default(9093),
  // The broker's own metrics (JMX exporter agent) for the Kafka dashboard; "off" starts no agent.
  SCOP_KAFKA_METRICS_PORT: z.union([z.literal('off'), envPort()]).default(9404),
  SCOP_KAFKA_HEAP: z.string().regex(/^\d+[mg]$/, 'must look like 512m or 1g').default('512m'),
  SCOP_REGISTRY_PORT: envPort().default(8081),
  SCOP_LOCAL_REGISTRY: z.enum(['auto', 'apicurio', 'scop']).default('auto'),
};
const stackEnvHelp = {
  SCOP_DATA_DIR: 'a writable folder for local state (Kafka logs, registry, Maildir)',
  SCOP_KAFKA_PORT: 'a free TCP port for the local Kafka broker, e.g. 9092',
  SCOP_KAFKA_CONTROLLER_PORT: 'a free TCP port for the local KRaft controller, e.g. 9093',
  SCOP_KAFKA_HEAP: 'a JVM heap size such as 512m or 1g',
  SCOP_KAFKA_METRICS_PORT: 'a free TCP port for the local broker\'s Prometheus metrics (JMX exporter), e.g. 9404, or off',
  SCOP_REGISTRY_PORT: 'a free TCP port for the local schema registry, e.g. 8081',
  SCOP_LOCAL_REGISTRY: 'use auto (Apicurio when Java 21+ is present, else scop\'s own), apicurio or scop',
};

export interface Stack {
  kafka: KafkaSettings;
  registry: RegistrySettings;
  /** name → host:port, for the `ready` line. */
  endpoints: Record<string, string>;
  /** Which servers this stack started itself (and will stop). */
  started: string[];
  stop(): Promise<void>;
}

export async function startStack(env: NodeJS.ProcessEnv = process.env): Promise<Stack> {
  const cfg = loadEnv(stackEnvShape, stackEnvHelp, env);
  const dataDir = resolve(cfg.SCOP_DATA_DIR);
  const stops: (() => Promise<void>)[] = [];
  const started: string[] = [];
  const endpoints: Record<string, string> = {};
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((e) => log.error({ err: e }, 'stop failed'));
    stops.length = 0;
  };
  try {
    let kafka: KafkaSettings;
    if (env.KAFKA_BROKERS?.trim()) {
      kafka = kafkaSettingsFromEnv(env);
      // A cluster that is (re)starting is waited for, with a log line per attempt, up to SCOP_KAFKA_WAIT_MS.
      await waitForBrokers(kafka, log, brokerWaitFromEnv(env));
    } else {
      const local = await startLocalKafka({
        dataDir: join(dataDir, 'kafka'), port: cfg.SCOP_KAFKA_PORT, controllerPort: cfg.SCOP_KAFKA_CONTROLLER_PORT, heap: cfg.SCOP_KAFKA_HEAP,
        ...(cfg.SCOP_KAFKA_METRICS_PORT === 'off' ? {} : { metricsPort: Number(cfg.SCOP_KAFKA_METRICS_PORT) }),
      });
      if (local.metrics) endpoints['metrics-kafka'] = local.metrics;
      stops.push(local.stop);
      started.push('kafka');
      kafka = { brokers: [local.bootstrap], clientId: env.KAFKA_CLIENT_ID?.trim() || 'scop', client: clientKindFromEnv(env) };
    }
    endpoints.kafka = kafka.brokers.join(',');

    let registry: RegistrySettings;
    if (env.SCHEMA_REGISTRY_URL?.trim()) {
      registry = registrySettingsFromEnv(env);
      await probeRegistry(registry);
    } else {
      const local = await startLocalRegistry({ dataDir: join(dataDir, 'registry'), host: '127.0.0.1', port: cfg.SCOP_REGISTRY_PORT, kafka, kind: cfg.SCOP_LOCAL_REGISTRY });
      stops.push(local.stop);
      started.push(`registry (${local.kind})`);
      registry = { url: local.url };
    }
    endpoints.registry = new URL(registry.url).host;
    return { kafka, registry, endpoints, started, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
