/**
 * Prometheus metrics for one process: a registry with Node's default metrics and an HTTP server
 * serving /metrics and /healthz, which every scop process exposes.
 */
import { statfsSync } from 'node:fs';
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

/**
 * Free and total bytes of the filesystem holding `path` (the data directory: Kafka logs, Maildir,
 * history), read at each scrape: what the disk alerts (observability/alerts.ts) watch.
 */
export function diskMetrics(registry: Registry, path: string): void {
  const read = (pick: (s: { bavail: number; blocks: number; bsize: number }) => number) => function (this: Gauge<'path'>) {
    try {
      this.set({ path }, pick(statfsSync(path)));
    } catch { /* path gone: leave the last value */ }
  };
  gaugeOn(registry, { name: 'scop_disk_free_bytes', help: 'Bytes available to unprivileged users on the filesystem of the data directory.', labelNames: ['path'] as const, collect: read((s) => s.bavail * s.bsize) });
  gaugeOn(registry, { name: 'scop_disk_size_bytes', help: 'Size of the filesystem of the data directory.', labelNames: ['path'] as const, collect: read((s) => s.blocks * s.bsize) });
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
