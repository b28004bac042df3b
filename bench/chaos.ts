/**
 * `npm run bench -- chaos [N=3000] [kills=2-4] [sessions=10]`: the whole-pipeline chaos run
 * (e2e/chaos.ts) — a broker of its own, ingress → inbound chain → egress → a sink SMTP server, every
 * service SIGKILLed `kills` times (a number or a range, seeded per service) and the broker SIGKILLed or
 * SIGTERMed for ~10 s, N messages over `sessions` SMTP sessions; prints accepted, delivered, lost and
 * duplicated per deployment.
 *
 * Environment: CHAOS_DEPLOYMENT=fused|separate|both (default both), CHAOS_RUNS (runs per deployment,
 * default 1), CHAOS_SEED (first seed; run k uses seed+k), CHAOS_BROKER_KILLS (default 1),
 * CHAOS_BROKER_DOWN_MS (10000), CHAOS_INSTANCES (fused instances, default 2), CHAOS_DRAIN_MS (600000),
 * SCHEMA_REGISTRY_URL (else a registry is started on the chaos broker, SCOP_LOCAL_REGISTRY=scop|apicurio|auto,
 * default scop). Exit code 1 when a run lost a message. Bounded: each run gives up after its drain time.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalRegistryKind } from '../infra/schema-registry.ts';
import { formatChaos, runChaos, servicesLogTail, type ChaosResult } from '../e2e/chaos.ts';

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.argv[2] ?? 3000);
const killsArg = process.argv[3] ?? '2-4';
const SESSIONS = Number(process.argv[4] ?? 10);
const range = /^(\d+)(?:-(\d+))?$/.exec(killsArg);
if (!range || !Number.isInteger(N) || N < 1 || !Number.isInteger(SESSIONS) || SESSIONS < 1) {
  console.error('usage: npm run bench -- chaos [messages=3000] [kills per service, e.g. 3 or 2-4] [sessions=10]');
  process.exit(2);
}
const kills: [number, number] = [Number(range[1]), Number(range[2] ?? range[1])];
const env = process.env;
const which = env.CHAOS_DEPLOYMENT ?? 'both';
const deployments = (which === 'both' ? ['fused', 'separate'] : [which]) as ('fused' | 'separate')[];
const runs = Number(env.CHAOS_RUNS ?? 1);
const seed0 = Number(env.CHAOS_SEED ?? Date.now() % 100000);

const results: ChaosResult[] = [];
for (let k = 0; k < runs; k++) {
  for (const deployment of deployments) {
    const dataDir = join(ROOT, '.data', 'bench-chaos', `${deployment}-${seed0 + k}`);
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    const r = await runChaos({
      deployment, messages: N, sessions: SESSIONS, kills, seed: seed0 + k, dataDir,
      brokerKills: Number(env.CHAOS_BROKER_KILLS ?? 1), brokerDownMs: Number(env.CHAOS_BROKER_DOWN_MS ?? 10000),
      instances: Number(env.CHAOS_INSTANCES ?? 2), registryUrl: env.SCHEMA_REGISTRY_URL || undefined,
      registryKind: (env.SCOP_LOCAL_REGISTRY as LocalRegistryKind | undefined) ?? 'scop',
      sendLimitMs: Number(env.CHAOS_DRAIN_MS ?? 600000), drainMs: Number(env.CHAOS_DRAIN_MS ?? 600000), settleMs: 15000,
      progress: (l) => console.error(l),
    });
    results.push(r);
    for (const l of formatChaos(r)) console.log(l);
    if (r.tally.lost.length > 0 || r.gaveUp.length > 0) console.log(`  services' log tail:\n${servicesLogTail(r)}`);
  }
}
if (results.length > 1) {
  console.log('summary (lost / duplicated messages of accepted, per run):');
  for (const r of results) {
    const dup = r.tally.duplicated.sameRecord.length + r.tally.duplicated.resent.length;
    console.log(`  ${r.deployment} seed ${r.seed}: ${r.tally.accepted} accepted, lost ${r.tally.lost.length}, duplicated ${dup} (${((100 * dup) / Math.max(1, r.tally.accepted)).toFixed(2)} %: ${r.tally.duplicated.sameRecord.length} same record, ${r.tally.duplicated.resent.length} resent by the sender)`);
  }
}
process.exit(results.some((r) => r.tally.lost.length > 0) ? 1 : 0);
