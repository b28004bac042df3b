/**
 * What every long-running scop process (ingress, each processor, egress, notifier) looks like to
 * the CLI: a name, and a start function that gets the shared context and returns its endpoints
 * and a stop function. `scop run <name>` runs one; `scop start` runs them all as child processes.
 */
import type { Registry } from 'prom-client';
import type { KafkaClient, KafkaSettings } from './kafka.ts';
import type { Logger } from './log.ts';
import type { RecordCodec, RegistrySettings } from './registry.ts';

export interface ServiceContext {
  kafka: KafkaClient;
  kafkaSettings: KafkaSettings;
  registry: RegistrySettings;
  codec: RecordCodec;
  log: Logger;
  /** This process's Prometheus registry; the service's metrics server serves it. */
  metrics: Registry;
  env: NodeJS.ProcessEnv;
  /** Project data folder (SCOP_DATA_DIR), for local state such as generated certificates. */
  dataDir: string;
}

export interface RunningService {
  /** name → host:port, printed in the `ready` line, e.g. { smtp: '127.0.0.1:2525' }. */
  endpoints: Record<string, string>;
  /** Facts worth showing in the `ready` line besides endpoints, e.g. { 'local-domains': 'example.org' }. */
  notes?: Record<string, string>;
  /** Graceful: stop taking work, finish what is in flight, flush, disconnect. */
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  description: string;
  /** Env var holding this service's metrics port, and its default for `npm start`. */
  metricsPortEnv: string;
  defaultMetricsPort: number;
  start(ctx: ServiceContext): Promise<RunningService>;
}
