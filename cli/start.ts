/**
 * `scop start` (= `npm start`): starts Kafka and the registry unless pointed at existing ones,
 * applies topics, registers schemas, runs every service as its own process, prints one `ready`
 * line with every endpoint, and on Ctrl-C / SIGTERM stops everything it started, in reverse.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startStack, type Stack } from '../infra/stack.ts';
import { createKafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { applyTopics } from '../runtime/topics.ts';
import { runArgument, topologyTopics } from '../runtime/topology.ts';
import { freePort } from '../infra/ports.ts';
import type { ServiceDefinition } from '../runtime/service.ts';
import { startedUnits } from './services.ts';

const log = loggerFor('start');
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export async function registerSchemas(codec: RecordCodec): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const t of topologyTopics()) if (t.valueSchema) ids[t.name] = await codec.register(t);
  return ids;
}

interface RunningChild { name: string; child: ChildProcess; exited: Promise<void> }

function startChild(name: string, env: NodeJS.ProcessEnv): { running: RunningChild; ready: Promise<{ endpoints: Record<string, string>; notes?: Record<string, string> }> } {
  const child = fork(MAIN, ['run', name], { execArgv: ['--import', 'tsx'], env, stdio: 'inherit' });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const ready = new Promise<{ endpoints: Record<string, string>; notes?: Record<string, string> }>((ok, fail) => {
    child.on('message', (m: { type?: string; endpoints?: Record<string, string>; notes?: Record<string, string> }) => { if (m?.type === 'ready') ok({ endpoints: m.endpoints ?? {}, notes: m.notes }); });
    child.once('exit', (code) => fail(new Error(`service ${name} exited during start-up (code ${code}); see its log lines above`)));
  });
  return { running: { name, child, exited }, ready };
}

/**
 * Instance `i` of a unit with several: the second and later take a free metrics port (the
 * configured one is the first's; the ready line lists both: metrics-<name>=a,b), and a set
 * SCOP_INSTANCE_ID becomes `<id>-<i>`, so the instances never share a transactional id.
 */
async function instanceEnv(env: NodeJS.ProcessEnv, def: ServiceDefinition, i: number, of: number): Promise<NodeJS.ProcessEnv> {
  if (of === 1) return env;
  const id = env.SCOP_INSTANCE_ID?.trim();
  return { ...env, ...(id ? { SCOP_INSTANCE_ID: `${id}-${i}` } : {}), ...(i > 1 ? { [def.metricsPortEnv]: String(await freePort()) } : {}) };
}

/** Instances of one unit: their endpoints under one key, comma-separated (metrics-inbound=a,b). */
const joined = (into: Record<string, string>, endpoints: Record<string, string>) => {
  for (const [k, v] of Object.entries(endpoints)) into[k] = into[k] ? `${into[k]},${v}` : v;
};

export async function start(): Promise<void> {
  const t0 = Date.now();
  // The deployment first: a bad SCOP_INBOUND / SCOP_FUSED_INSTANCES fails before anything starts.
  const units = startedUnits(process.env);
  const children: RunningChild[] = [];
  let stack: Stack | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () => (stopping ??= (async () => {
    for (const c of [...children].reverse()) {
      if (c.child.exitCode === null) c.child.kill('SIGTERM');
      const t = setTimeout(() => c.child.kill('SIGKILL'), 20000);
      await c.exited;
      clearTimeout(t);
    }
    await stack?.stop();
  })());
  const onSignal = (sig: string) => {
    log.info({ signal: sig }, 'stopping everything scop started');
    void stopAll().then(() => { log.info('stopped'); process.exit(0); });
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
    // SCOP_INBOUND: the inbound chain fused in one process (default), one process per stage, or groups;
    // SCOP_FUSED_INSTANCES processes of each fused unit (default one per core), sharing its partitions.
    for (const { unit, def } of units) {
      for (let i = 1; i <= unit.instances; i++) {
        const { running, ready } = startChild(runArgument(unit), await instanceEnv(env, def, i, unit.instances));
        children.push(running);
        const r = await ready;
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
