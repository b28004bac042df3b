/**
 * Prometheus metrics for one process: a registry with Node's default metrics and an HTTP server
 * serving /metrics and /healthz, which every scop process exposes.
 */
import { createServer, type Server } from 'node:http';
import {
  collectDefaultMetrics, Counter, Gauge, Histogram, Registry,
  type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration,
} from 'prom-client';
import { loggerFor } from './log.ts';

/*
 * A metric on a process registry: the one already registered under that name, else a new one.
 * Several stages (and tests) share one registry in a process, so each asks rather than creates.
 */
type On<C> = Omit<C, 'registers'>;
export function counterOn<L extends string = string>(registry: Registry, cfg: On<CounterConfiguration<L>>): Counter<L> {
  return (registry.getSingleMetric(cfg.name) as Counter<L> | undefined) ?? new Counter({ ...cfg, registers: [registry] });
}
export function gaugeOn<L extends string = string>(registry: Registry, cfg: On<GaugeConfiguration<L>>): Gauge<L> {
  return (registry.getSingleMetric(cfg.name) as Gauge<L> | undefined) ?? new Gauge({ ...cfg, registers: [registry] });
}
export function histogramOn<L extends string = string>(registry: Registry, cfg: On<HistogramConfiguration<L>>): Histogram<L> {
  return (registry.getSingleMetric(cfg.name) as Histogram<L> | undefined) ?? new Histogram({ ...cfg, registers: [registry] });
}

export function createMetricsRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'scop_' });
  return registry;
}

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

export interface MetricsServer {
  address: string;
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: {
  registry: Registry;
  host: string;
  port: number;
  health?: () => Health | Promise<Health>;
}): Promise<MetricsServer> {
  const log = loggerFor('metrics');
  const server: Server = createServer(async (req, res) => {
    try {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'Content-Type': opts.registry.contentType });
        res.end(await opts.registry.metrics());
      } else if (req.url === '/healthz') {
        const h = opts.health ? await opts.health() : { ok: true };
        res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(h));
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found: try /metrics or /healthz\n');
      }
    } catch (e) {
      log.error({ err: e }, 'metrics request failed');
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(new Error(`metrics port ${opts.host}:${opts.port}: ${e.code ?? e.message} — choose another port`)));
    server.listen(opts.port, opts.host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    address: `${opts.host}:${port}`,
    port,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
