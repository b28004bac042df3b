/**
 * `scop run <service>`: one service in this process — context from the environment, a metrics
 * server, graceful stop on SIGTERM/SIGINT. When started by `scop start` (IPC channel present) it
 * reports its endpoints to the parent.
 *
 * Start-up waits for Kafka (backoff, one log line per attempt naming KAFKA_BROKERS, up to
 * SCOP_KAFKA_WAIT_MS); a malformed setting still fails at once with one line and exit 2.
 * /healthz is 200 only while every consumer of the service runs and makes progress
 * (runtime/health.ts, runtime/consumer-supervisor.ts); 503 with the reasons otherwise.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { envPort, loadEnv } from '../runtime/config.ts';
import { HealthRegistry } from '../runtime/health.ts';
import { brokerWaitFromEnv, createKafkaClient, DEFAULT_CLIENT_KIND, kafkaSettingsFromEnv, waitForBrokers } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { createMetricsRegistry, diskMetrics, startMetricsServer } from '../runtime/metrics.ts';
import { probeRegistry, RecordCodec, registrySettingsFromEnv } from '../runtime/registry.ts';
import type { ServiceDefinition, SymbolsContext } from '../runtime/service.ts';
import { SYMBOL_CATALOG } from './services.ts';

// Every service gets the symbol catalogue: the CLI's definitions (cli/services.ts) may need it.
export async function runService(def: ServiceDefinition<SymbolsContext>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = loggerFor(def.name);
  const cfg = loadEnv(
    { [def.metricsPortEnv]: envPort().default(def.defaultMetricsPort), METRICS_HOST: z.string().default('127.0.0.1'), SCOP_DATA_DIR: z.string().default('.data') },
    { [def.metricsPortEnv]: `a free TCP port for ${def.name}'s /metrics and /healthz`, METRICS_HOST: 'the address metrics listen on', SCOP_DATA_DIR: 'a writable folder' },
    env,
  );
  const kafkaSettings = kafkaSettingsFromEnv(env);
  const registry = registrySettingsFromEnv(env);
  await waitForBrokers(kafkaSettings, log, brokerWaitFromEnv(env));
  await probeRegistry(registry);
  const metrics = createMetricsRegistry(def.name);
  diskMetrics(metrics, resolve(String(cfg.SCOP_DATA_DIR)));
  const health = new HealthRegistry();
  const service = await def.start({
    kafka: createKafkaClient({ ...kafkaSettings, clientId: `${kafkaSettings.clientId}-${def.name}` }),
    kafkaSettings,
    registry,
    codec: new RecordCodec(registry),
    log,
    metrics,
    env,
    dataDir: resolve(String(cfg.SCOP_DATA_DIR)),
    health,
    symbols: SYMBOL_CATALOG,
  });
  let stopping = false;
  const metricsServer = await startMetricsServer({
    registry: metrics, host: String(cfg.METRICS_HOST), port: Number(cfg[def.metricsPortEnv]),
    health: () => {
      const h = health.check();
      return { ok: h.ok && !stopping, service: def.name, node: process.version, kafkaClient: kafkaSettings.client ?? DEFAULT_CLIENT_KIND, ...(stopping ? { reason: 'stopping' } : {}), checks: h.checks };
    },
  });
  const endpoints = { ...service.endpoints, [`metrics-${def.name}`]: metricsServer.address };
  log.info({ endpoints }, `${def.name} running`);
  process.send?.({ type: 'ready', service: def.name, endpoints, notes: service.notes });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${def.name} stopping`);
    await service.stop();
    await metricsServer.close();
    log.info(`${def.name} stopped`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('disconnect', () => void stop('parent gone'));
}
