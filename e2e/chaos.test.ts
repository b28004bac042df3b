/**
 * The whole-pipeline chaos run (e2e/chaos.ts), CI-sized: a broker of this test's own, ingress → the
 * inbound chain → egress → a sink, every service instance SIGKILLed once at a seeded-random moment and
 * the broker SIGKILLed or SIGTERMed for ~10 s while CHAOS_MESSAGES (300) messages go in. Nothing
 * accepted may be lost, no supervised service may be given up, the inbound side writes each record
 * once, and the same record reaches the next hop at most CHAOS_MAX_SAME_RECORD_PCT (1 %) twice
 * (bench/chaos.ts measures it at 3,000). CHAOS_DEPLOYMENT (default SCOP_E2E_INBOUND, else fused)
 * picks the deployment; CHAOS_KILLS (1) the kills per service; CHAOS_SEED the plan.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { uniqueName } from '../runtime/testing.ts';
import { formatChaos, runChaos, servicesLogTail } from './chaos.ts';

const ROOT = resolve(import.meta.dirname, '..');
const env = process.env;
const deployment = (env.CHAOS_DEPLOYMENT ?? (env.SCOP_E2E_INBOUND === 'separate' ? 'separate' : 'fused')) as 'fused' | 'separate';
const N = Number(env.CHAOS_MESSAGES ?? 300);
const kills = Number(env.CHAOS_KILLS ?? 1);
const seed = Number(env.CHAOS_SEED ?? Date.now() % 100000);

test(`chaos [${deployment}]: ${N} messages, every service SIGKILLed ${kills}×, the broker down ~10 s: nothing accepted is lost`, { timeout: 900_000 }, async () => {
  const dataDir = join(ROOT, '.data', 'e2e', uniqueName('chaos'));
  const r = await runChaos({
    deployment, messages: N, sessions: 6, kills: [kills, kills], brokerKills: 1, brokerDownMs: 10_000, instances: 2, seed, dataDir,
    // The test run's registry (on the test broker): the chaos broker's outage is the pipeline's, not the registry's.
    registryUrl: env.SCHEMA_REGISTRY_URL, sendLimitMs: 300_000, drainMs: 300_000, settleMs: 12_000,
    progress: (l) => console.log(`# ${l}`),
  });
  const lines = formatChaos(r);
  for (const l of lines) console.log(`# ${l}`);
  const why = `\n${lines.join('\n')}\nservices' log:\n${servicesLogTail(r)}`;
  assert.deepEqual(r.gaveUp, [], `the supervisor gave no service up${why}`);
  assert.deepEqual(r.killsNotDone, [], `every planned kill was done${why}`);
  assert.equal(r.tally.accepted, N, `every message accepted in the end (the sender retries 4xx and dropped sessions)${why}`);
  assert.deepEqual(r.tally.lost, [], `nothing accepted is lost${why}`);
  assert.equal(r.decided.error, undefined, `mail.inbound.decided was read back${why}`);
  assert.ok(r.decided.ids >= N, `mail.inbound.decided has every accepted message${why}`);
  assert.equal(r.decided.records, r.decided.ids, `mail.inbound.decided holds each record once (exactly once across kills)${why}`);
  const maxPct = Number(env.CHAOS_MAX_SAME_RECORD_PCT ?? 1);
  assert.ok(r.tally.duplicated.sameRecord.length <= (N * maxPct) / 100, `the same record delivered twice at most ${maxPct} % of the time${why}`);
  rmSync(dataDir, { recursive: true, force: true });
});
