/**
 * `scop start` (= `npm start`): starts Kafka and the registry unless pointed at existing ones,
 * applies topics, registers schemas, runs every service as its own process, prints one `ready`
 * line with every endpoint, and on Ctrl-C / SIGTERM stops everything it started, in reverse.
 * Once up, it restarts a service that dies (cli/supervisor.ts) and serves its own /metrics and
 * /healthz on START_METRICS_PORT; after repeated fast crashes of one service it gives up: an
 * error log line, a critical alert on ops.alerts, everything stopped, exit code 3 (so the process
 * manager above it, e.g. systemd, sees the failure).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { startStack, type Stack } from '../infra/stack.ts';
import { newAlert, publishAlert } from '../runtime/alerts.ts';
import { envPort, loadEnv } from '../runtime/config.ts';
import { clientKindFromEnv, createKafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { createMetricsRegistry, startMetricsServer, type MetricsServer } from '../runtime/metrics.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { applyTopics } from '../runtime/topics.ts';
import { runArgument, topologyTopics } from '../runtime/topology.ts';
import { freePort } from '../infra/ports.ts';
import type { ServiceDefinition } from '../runtime/service.ts';
import { startedUnits } from './services.ts';
import { restartPolicyFromEnv, Supervised, supervisorMetrics, type GiveUp } from './supervisor.ts';

const log = loggerFor('start');
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export async function registerSchemas(codec: RecordCodec): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const t of topologyTopics()) if (t.valueSchema) ids[t.name] = await codec.register(t);
  return ids;
}

type Ready = { endpoints: Record<string, string>; notes?: Record<string, string> };

/** The `ready` message a service sends once it serves (cli/run-service.ts). */
function readyOf(child: ChildProcess, name: string): Promise<Ready> {
  return new Promise<Ready>((ok, fail) => {
    child.on('message', (m: { type?: string; endpoints?: Record<string, string>; notes?: Record<string, string> }) => { if (m?.type === 'ready') ok({ endpoints: m.endpoints ?? {}, notes: m.notes }); });
    child.once('exit', (code) => fail(new Error(`service ${name} exited during start-up (code ${code}); see its log lines above`)));
  });
}

/** Exit code of `scop start` when it gave up restarting a service (2 is a config error). */
export const GAVE_UP_EXIT_CODE = 3;

/**
 * The environment of instance `i` (named `name`: `inbound-2`, or the unit's name when it runs once)
 * of a unit: the second and later take a free metrics port (the configured one is the first's; the
 * ready line lists both: metrics-<name>=a,b), and its one instance identity (instanceIdentity).
 */
export async function instanceEnv(env: NodeJS.ProcessEnv, def: Pick<ServiceDefinition, 'metricsPortEnv'>, name: string, i: number): Promise<NodeJS.ProcessEnv> {
  return { ...env, ...instanceIdentity(env, name), ...(i > 1 ? { [def.metricsPortEnv]: String(await freePort()) } : {}) };
}

/** Instances of one unit: their endpoints under one key, comma-separated (metrics-inbound=a,b). */
const joined = (into: Record<string, string>, endpoints: Record<string, string>) => {
  for (const [k, v] of Object.entries(endpoints)) into[k] = into[k] ? `${into[k]},${v}` : v;
};

export async function start(): Promise<void> {
  const t0 = Date.now();
  // The deployment first: a bad SCOP_INBOUND / SCOP_FUSED_INSTANCES fails before anything starts.
  const units = startedUnits(process.env);
  const cfg = loadEnv(
    { START_METRICS_PORT: envPort().default(9460), METRICS_HOST: z.string().default('127.0.0.1') },
    { START_METRICS_PORT: "a free TCP port for scop start's own /metrics and /healthz (restarts of the services)", METRICS_HOST: 'the address metrics listen on' },
  );
  const policy = restartPolicyFromEnv();
  const registry = createMetricsRegistry('start');
  const metrics = supervisorMetrics(registry);
  const children: Supervised[] = [];
  let stack: Stack | undefined;
  let metricsServer: MetricsServer | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () => (stopping ??= (async () => {
    for (const c of [...children].reverse()) await c.stop();
    await metricsServer?.close();
    await stack?.stop();
  })());
  const onSignal = (sig: string) => {
    log.info({ signal: sig }, 'stopping everything scop started');
    void stopAll().then(() => { log.info('stopped'); process.exit(0); });
  };
  const onGiveUp = (g: GiveUp) => {
    if (stopping) return;
    void (async () => {
      // Best effort: the alert goes out while Kafka still runs; a broker that is the problem must not hold up the exit.
      await Promise.race([alertGiveUp(stack, g), new Promise((r) => setTimeout(r, 10000))])
        .catch((e: unknown) => log.error({ err: e }, 'could not publish the give-up alert to ops.alerts'));
      await stopAll();
      log.error({ service: g.service, exitCode: GAVE_UP_EXIT_CODE }, `stopped everything: ${g.service} keeps crashing`);
      process.exit(GAVE_UP_EXIT_CODE);
    })();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    stack = await startStack();
    const admin = createKafkaClient(stack.kafka).admin();
    await admin.connect();
    const applied = await applyTopics(admin, topologyTopics());
    await admin.disconnect();
    log.info(applied, 'topics applied');
    if (applied.durability.warning) log.warn({ durability: applied.durability }, applied.durability.warning);
    const ids = await registerSchemas(new RecordCodec(stack.registry));
    log.info({ ids }, 'schemas registered');

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_BROKERS: stack.kafka.brokers.join(','),
      SCHEMA_REGISTRY_URL: stack.registry.url,
    };
    const endpoints: Record<string, string> = { ...stack.endpoints };
    // replication=<copies>/<in sync>: a cluster too small for 3/2 says so in the ready line.
    const { replicationFactor: rf, minInsyncReplicas: isr, warning } = applied.durability;
    const notes: Record<string, string> = { replication: `${rf}/${isr}${warning ? '(warning:too-few-brokers)' : ''}` };
    metricsServer = await startMetricsServer({
      registry, host: cfg.METRICS_HOST, port: cfg.START_METRICS_PORT,
      health: () => ({ ok: !children.some((c) => c.hasGivenUp), services: Object.fromEntries(children.map((c) => [c.name, c.state])) }),
    });
    endpoints['metrics-start'] = metricsServer.address;
    // SCOP_INBOUND: the inbound chain fused in one process (default), one process per stage, or groups;
    // SCOP_FUSED_INSTANCES processes of each fused unit (default one per core), sharing its partitions.
    for (const { unit, def } of units) {
      for (let i = 1; i <= unit.instances; i++) {
        const name = unit.instances > 1 ? `${unit.name}-${i}` : unit.name;
        const childEnv = await instanceEnv(env, def, name, i);
        const sup = new Supervised({
          name, policy, log, metrics, onGiveUp,
          spawn: () => fork(MAIN, ['run', runArgument(unit)], { execArgv: ['--import', 'tsx'], env: childEnv, stdio: 'inherit' }),
          // A restarted service says when it serves again.
          onSpawn: (child, run) => { if (run > 1) readyOf(child, name).then(() => log.info({ service: name, run }, `${name} restarted and ready`), () => {}); },
        });
        children.push(sup);
        const r = await readyOf(sup.start(), name);
        sup.supervise();
        joined(endpoints, r.endpoints);
        Object.assign(notes, r.notes);
      }
    }
    for (const { unit } of units) if (unit.instances > 1) notes[`instances-${unit.name}`] = String(unit.instances);
    // node= first: which runtime every service runs on (they are forked from this process's binary);
    // the services' notes (e.g. local-domains=) after the endpoints.
    const line = [`node=${process.version}`, ...Object.entries({ ...endpoints, ...notes }).map(([k, v]) => `${k}=${v}`)].join(' ');
    // The one line people and scripts look for.
    process.stdout.write(`ready ${line}\n`);
    process.stdout.write(`SCHEMA_REGISTRY_URL=${stack.registry.url} KAFKA_BROKERS=${stack.kafka.brokers.join(',')}\n`);
    log.info({ ms: Date.now() - t0 }, 'scop is up; Ctrl-C stops everything');
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * With KAFKA_CLIENT=platformatic, or when the operator set SCOP_INSTANCE_ID, each service instance
 * gets SCOP_INSTANCE_ID `<host or the operator's id>-<name>` (`scop-1-inbound-2`): unique among
 * the instances, stable across restarts, so a restarted service takes its old place in its groups
 * at once (static membership) instead of waiting for its dead session to expire, and aborts its
 * predecessor's open transaction at once (runtime/README.md). kafkajs does not use it.
 */
export function instanceIdentity(env: NodeJS.ProcessEnv, name: string): NodeJS.ProcessEnv {
  const operatorId = env.SCOP_INSTANCE_ID?.trim();
  if (clientKindFromEnv(env) !== 'platformatic' && !operatorId) return {};
  return { SCOP_INSTANCE_ID: `${operatorId || hostname()}-${name}` };
}

async function alertGiveUp(stack: Stack | undefined, g: GiveUp): Promise<void> {
  if (!stack) return;
  const producer = createKafkaClient(stack.kafka, { retries: 2 }).producer();
  await producer.connect();
  try {
    await publishAlert(producer, new RecordCodec(stack.registry), newAlert({
      kind: 'service-crash-loop', severity: 'critical', source: 'start', subject: g.service,
      summary: `${g.service} crashed ${g.fastCrashes} times within ${Math.round(g.windowMs / 1000)} s; scop start gave up and stopped everything`,
      details: { service: g.service, exit: g.signal ?? String(g.code), ranMs: String(g.ranMs) },
    }));
  } finally {
    await producer.disconnect();
  }
}
