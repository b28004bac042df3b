/**
 * `scop run console`: the operators' web console (HTTPS on loopback by default) and what feeds it —
 * the history consumers (console/history.ts) into SQLite or PostgreSQL, the spam model and label
 * followers, the consumer-group lag collector, and the retention sweep.
 */
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { join } from 'node:path';
import type { RunningService, ServiceContext, ServiceDefinition } from '../runtime/service.ts';
import { defaultQuarantineTopics } from '../runtime/operator/quarantine.ts';
import { gaugeOn } from '../runtime/metrics.ts';
import { loadModelKeys } from '../runtime/model-signature.ts';
import { loadTlsMaterial } from '../runtime/tls.ts';
import { TOPICS } from '../runtime/topics.ts';
import { createConsoleApp, type ConsoleTopics } from './app.ts';
import { loadConsoleConfig } from './config.ts';
import { defaultHistoryTopics, startHistory, type HistoryTopics } from './history.ts';
import { registerLagMetrics } from './kafka-lag.ts';
import { SpamLoopView } from './models.ts';
import { PgHistoryStore } from './store-pg.ts';
import { SqliteHistoryStore } from './store-sqlite.ts';
import type { HistoryStore } from './store.ts';
import { Operators } from './users.ts';

export interface ConsoleOptions {
  history?: HistoryTopics;
  topics?: ConsoleTopics;
  groupPrefix?: string;
}

export async function openHistoryStore(cfg: { databaseUrl?: string; sqliteFile: string }): Promise<HistoryStore> {
  return cfg.databaseUrl ? PgHistoryStore.open(cfg.databaseUrl) : new SqliteHistoryStore(cfg.sqliteFile);
}

export interface RunningConsole extends RunningService { url: string; store: HistoryStore }

export async function startConsole(ctx: ServiceContext, o: ConsoleOptions = {}): Promise<RunningConsole> {
  const cfg = loadConsoleConfig(ctx.env, ctx.dataDir);
  const log = ctx.log.child({ component: 'console' });
  const topics = o.topics ?? { quarantine: defaultQuarantineTopics(), blocklist: TOPICS.blocklist.name, deadLetters: TOPICS.deadLetters.name, audit: TOPICS.audit.name, spamModel: TOPICS.spamModel.name, spamModelHistory: TOPICS.spamModelHistory.name };
  const store = await openHistoryStore(cfg);
  const stops: (() => Promise<void>)[] = [() => store.close()];
  const stopAll = async () => { for (const s of stops.reverse()) await s().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'stop step failed')); };
  try {
    const history = await startHistory(ctx, store, { topics: o.history ?? defaultHistoryTopics(), groupPrefix: o.groupPrefix });
    stops.push(() => history.stop());
    const spam = new SpamLoopView({ kafka: ctx.kafka, codec: ctx.codec, log, registry: ctx.metrics, modelTopic: topics.spamModel, historyTopic: topics.spamModelHistory, feedbackTopic: topics.quarantine.feedback });
    await spam.start();
    stops.push(() => spam.stop());
    registerLagMetrics(ctx.metrics, ctx.kafka, log);
    let rows = 0;
    gaugeOn(ctx.metrics, { name: 'scop_history_messages', help: 'Messages in the console\'s history view (after retention).', collect() { this.set(rows); } });
    const sweep = async () => {
      try {
        const pruned = await store.prune(Date.now() - cfg.retentionMs);
        rows = await store.countMessages();
        if (pruned) log.info({ pruned, kept: rows }, 'history retention: old messages removed');
      } catch (e) { log.warn({ err: (e as Error).message }, 'history retention sweep failed'); }
    };
    await sweep();
    const timer = setInterval(() => void sweep(), 60000);
    stops.push(async () => clearInterval(timer));

    const auditProducer = ctx.kafka.producer();
    await auditProducer.connect();
    stops.push(() => auditProducer.disconnect());
    const scheme = cfg.tls === 'off' ? 'http' : 'https';
    const app = createConsoleApp({
      store, kafka: ctx.kafka, auditProducer, codec: ctx.codec, log, operators: new Operators(cfg.usersFile), spam, topics, registry: ctx.metrics,
      // Read at each rollback, so a key rotated on disk is picked up and a bad file fails that action only.
      trustedModelKeys: () => loadModelKeys({ env: ctx.env, dataDir: ctx.dataDir }).trusted,
      scheme, sessionMs: cfg.sessionMs, loginFailuresPerMinute: cfg.loginFailuresPerMinute, pageSize: cfg.pageSize,
    });
    const handler = (req: Parameters<typeof app>[0], res: Parameters<typeof app>[1]) => void app(req, res);
    let server: Server;
    if (scheme === 'https') {
      const tls = await loadTlsMaterial({ tls: cfg.tlsFiles, hostname: cfg.host === '0.0.0.0' || cfg.host === '::' ? 'localhost' : cfg.host, dir: join(cfg.dataDir, 'console', 'tls'), log, settings: { cert: 'CONSOLE_TLS_CERT_FILE', key: 'CONSOLE_TLS_KEY_FILE' } });
      server = createHttps({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, handler);
    } else {
      server = createHttp(handler);
    }
    server.headersTimeout = 20000;
    server.requestTimeout = 60000;
    await new Promise<void>((ok, fail) => {
      server.once('error', (e: NodeJS.ErrnoException) => fail(new Error(`CONSOLE_PORT: ${cfg.host}:${cfg.port} is not available (${e.code ?? e.message}) — choose another port`)));
      server.listen(cfg.port, cfg.host, () => ok());
    });
    stops.push(() => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : cfg.port;
    const url = `${scheme}://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
    log.info({ url, store: store.kind, usersFile: cfg.usersFile, retentionDays: cfg.retentionMs / 86400000 }, 'console listening');
    return { endpoints: { console: `${cfg.host}:${port}` }, url, store, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

export const consoleService: ServiceDefinition = {
  name: 'console',
  description: 'operators\' web console: history search, message pages, quarantine, dead letters, spam model, firewall (every write audited)',
  metricsPortEnv: 'CONSOLE_METRICS_PORT',
  defaultMetricsPort: 9495,
  start: (ctx) => startConsole(ctx),
};
