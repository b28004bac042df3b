/**
 * `scop observe`: a Prometheus beside `npm start`, scraping every service `scop start` runs (same
 * environment, same ports) and the broker's JMX exporter, with scop's alert rules; prints how to
 * import the dashboards into a Grafana. `scop observe files` regenerates observability/'s files.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { envPort, loadEnv } from '../runtime/config.ts';
import { startLocalPrometheus } from '../infra/prometheus.ts';
import { rulesFile } from '../observability/alerts.ts';
import { DASHBOARDS } from '../observability/dashboards.ts';
import { OBSERVABILITY_DIR, prometheusConfig, toYaml, writeGeneratedFiles, type ScrapeTarget } from '../observability/prometheus.ts';
import { SERVICES } from './services.ts';

/** Where `scop start` (same environment) serves each service's metrics, and the broker's. */
export function scrapeTargets(env: NodeJS.ProcessEnv = process.env): ScrapeTarget[] {
  const host = env.METRICS_HOST?.trim() || '127.0.0.1';
  const targets = SERVICES.map((s) => ({ service: s.name, address: `${host}:${env[s.metricsPortEnv]?.trim() || s.defaultMetricsPort}` }));
  // scop start's own metrics (restarts of the services it supervises).
  targets.push({ service: 'start', address: `${host}:${env.START_METRICS_PORT?.trim() || '9460'}` });
  // A local broker (no KAFKA_BROKERS) runs the JMX exporter unless SCOP_KAFKA_METRICS_PORT=off.
  const kafkaPort = env.SCOP_KAFKA_METRICS_PORT?.trim() || '9404';
  if (!env.KAFKA_BROKERS?.trim() && kafkaPort !== 'off') targets.push({ service: 'kafka', address: `127.0.0.1:${kafkaPort}` });
  return targets;
}

/** Parses the `ready` line of `scop start` into scrape targets (metrics-<service>=host:port[,host:port…]: one per instance). */
export function targetsFromReadyLine(line: string): ScrapeTarget[] {
  return line.trim().split(/\s+/).flatMap((kv) => {
    const m = /^metrics-([a-z0-9-]+)=(\S+)$/.exec(kv);
    return m ? m[2]!.split(',').map((address) => ({ service: m[1]!, address })) : [];
  });
}

export const grafanaHowTo = (prometheusUrl: string) => [
  'Dashboards (Grafana 10+): in Grafana, Connections → Data sources → Add → Prometheus, URL ' + prometheusUrl + ';',
  `then Dashboards → New → Import → upload each JSON file of ${join(OBSERVABILITY_DIR, 'grafana')}/`,
  `(${DASHBOARDS.map((d) => `${d.uid}.json`).join(', ')}); each dashboard's "Prometheus" variable picks the data source.`,
  'Or provision them: a dashboards provider whose path is that folder (Grafana docs: Provisioning → Dashboards).',
].join('\n');

export function registerObserveCommands(program: Command): void {
  const observe = program.command('observe').description('Prometheus beside `npm start`: scrapes every service and the broker, evaluates scop\'s alert rules; prints how to import the Grafana dashboards')
    .action(async () => {
      const cfg = loadEnv(
        { SCOP_PROMETHEUS_PORT: envPort().default(9090), SCOP_DATA_DIR: z.string().default('.data'), SCOP_PROMETHEUS_SCRAPE_INTERVAL: z.string().regex(/^\d+[smh]$/, 'must look like 15s').default('15s') },
        { SCOP_PROMETHEUS_PORT: 'a free TCP port for Prometheus, e.g. 9090', SCOP_DATA_DIR: 'the data folder `npm start` uses', SCOP_PROMETHEUS_SCRAPE_INTERVAL: 'a Prometheus duration such as 15s' },
      );
      const targets = scrapeTargets();
      const prom = await startLocalPrometheus({
        dir: resolve(cfg.SCOP_DATA_DIR, 'prometheus'), port: cfg.SCOP_PROMETHEUS_PORT,
        config: toYaml(prometheusConfig(targets, { scrapeInterval: cfg.SCOP_PROMETHEUS_SCRAPE_INTERVAL })),
        files: { 'alerts.yml': toYaml(rulesFile()) },
      });
      console.log(`prometheus=${prom.url} targets=${targets.map((t) => `${t.service}@${t.address}`).join(',')}`);
      console.log(`Alerts: ${prom.url}/alerts   Targets: ${prom.url}/targets   Data: ${prom.dir}`);
      console.log(grafanaHowTo(prom.url));
      const stop = () => void prom.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  observe.command('files').description('regenerate observability/grafana/*.json and observability/prometheus/*.yml from observability/*.ts')
    .action(() => {
      for (const f of writeGeneratedFiles(scrapeTargets({}))) console.log(`wrote ${f}`);
    });
}
