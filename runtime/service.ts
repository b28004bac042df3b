/**
 * What every long-running scop process (ingress, each processor, egress, notifier) looks like to
 * the CLI: a name, and a start function that gets the shared context and returns its endpoints
 * and a stop function. `scop run <name>` runs one; `scop start` runs them all as child processes.
 */
import type { Registry } from 'prom-client';
import type { HealthRegistry } from './health.ts';
import type { KafkaClient, KafkaSettings } from './kafka.ts';
import type { Logger } from './log.ts';
import type { RecordCodec, RegistrySettings } from './registry.ts';
import type { SymbolCatalog, SymbolDeclarations } from './symbols.ts';

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
  /** Where consumers report their health (/healthz); absent in contexts that serve none. */
  health?: HealthRegistry;
}

/**
 * A context with the symbol catalogue: every symbol name the topology's stages declare
 * (runtime/symbols.ts), derived where the process is composed (cli/services.ts SYMBOL_CATALOG). The
 * decision stage validates its policy against it, so its definition (and a fused chain that holds
 * it, and every service the CLI composes) asks for this type: a context without the catalogue does
 * not compile there. Stages that weigh no symbols take a plain ServiceContext, and their tests
 * need no catalogue.
 */
export interface SymbolsContext extends ServiceContext {
  symbols: SymbolCatalog;
}

export interface RunningService {
  /** name → host:port, printed in the `ready` line, e.g. { smtp: '127.0.0.1:2525' }. */
  endpoints: Record<string, string>;
  /** Facts worth showing in the `ready` line besides endpoints, e.g. { 'local-domains': 'example.org' }. */
  notes?: Record<string, string>;
  /** Graceful: stop taking work, finish what is in flight, flush, disconnect. */
  stop(): Promise<void>;
}

/** The ServiceDefinition fields every stage and sink derives from its name (validated). */
export function serviceIdentity(kind: string, def: { name: string; description: string; defaultMetricsPort: number }): Pick<ServiceDefinition, 'name' | 'description' | 'metricsPortEnv' | 'defaultMetricsPort'> {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`${kind} name "${def.name}" must be lower-case letters, digits and dashes`);
  return { name: def.name, description: def.description, metricsPortEnv: `${def.name.toUpperCase().replace(/-/g, '_')}_METRICS_PORT`, defaultMetricsPort: def.defaultMetricsPort };
}

/**
 * A service, and the context it needs to start (`C`: a plain ServiceContext, or one with more, e.g.
 * SymbolsContext). `start` is a property, not a method, so TypeScript checks its parameter strictly:
 * a definition that needs more than a plain context cannot be passed where one is started with less.
 */
export interface ServiceDefinition<C extends ServiceContext = ServiceContext> {
  name: string;
  description: string;
  /** Env var holding this service's metrics port, and its default for `npm start`. */
  metricsPortEnv: string;
  defaultMetricsPort: number;
  /** The symbol names the service emits, declared in its folder (runtime/symbols.ts); the catalogue is derived from these. */
  symbols?: SymbolDeclarations;
  start: (ctx: C) => Promise<RunningService>;
}
