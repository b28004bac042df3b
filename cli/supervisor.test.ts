/**
 * The supervisor with real child processes (tiny node scripts that exit, crash or wait): backoff
 * growth and cap, reset after a stable run, giving up after repeated fast crashes, restart after a
 * SIGKILL, and no restart after a stop — neither through stop() nor when the whole process group
 * gets SIGTERM (as with Ctrl-C or systemd stopping `scop start`).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError } from '../runtime/config.ts';
import { loggerFor } from '../runtime/log.ts';
import { eventually } from '../runtime/testing.ts';
import { backoffDelay, restartPolicyFromEnv, Supervised, supervisorMetrics, type GiveUp, type RestartPolicy } from './supervisor.ts';

const log = loggerFor('supervisor-test');
const node = (script: string) => spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const until = (what: string, cond: () => boolean, timeoutMs = 30000) => eventually(() => cond() || undefined, timeoutMs, what);

function harness(policy: RestartPolicy, script: (run: number) => string) {
  const registry = new Registry();
  const metrics = supervisorMetrics(registry);
  const spawnedAt: number[] = [];
  const pids: number[] = [];
  const delays: number[] = [];
  const reasons: string[] = [];
  const gaveUp: GiveUp[] = [];
  let run = 0;
  const sup = new Supervised({
    name: 'toy', policy, log, metrics, random: () => 1,
    spawn: (): ChildProcess => { const c = node(script(++run)); spawnedAt.push(Date.now()); pids.push(c.pid!); return c; },
    onRestart: (e) => { delays.push(e.delayMs); reasons.push(e.signal ?? `exit-${e.code}`); },
    onGiveUp: (g) => gaveUp.push(g),
  });
  const counter = async (name: string, labels: Record<string, string>) =>
    (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))).map((l) => Number(l.split(' ').pop())).reduce((a, b) => a + b, 0);
  return { sup, spawnedAt, pids, delays, reasons, gaveUp, counter };
}

const fast = { initialDelayMs: 100, maxDelayMs: 400, stableAfterMs: 60000, maxFastCrashes: 100, windowMs: 60000 };

describe('supervisor', () => {
  it('backoff doubles from the initial delay to the cap, with jitter in the upper half', () => {
    assert.deepEqual([0, 1, 2, 3, 10].map((a) => backoffDelay(fast, a, () => 1)), [100, 200, 400, 400, 400]);
    assert.deepEqual([0, 1, 2, 3].map((a) => backoffDelay(fast, a, () => 0)), [50, 100, 200, 200]);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(fast, 2)));
    assert.ok(spread.size > 10 && [...spread].every((d) => d >= 200 && d <= 400), 'jitter spreads restarts within [nominal/2, nominal]');
  });

  it('restarts a crashing child with growing delays up to the cap, counted by exit code', { timeout: 60000 }, async () => {
    const h = harness(fast, () => 'process.exit(3)');
    h.sup.start();
    h.sup.supervise();
    await until('5 runs', () => h.spawnedAt.length >= 5);
    await h.sup.stop();
    assert.deepEqual(h.delays.slice(0, 4), [100, 200, 400, 400]);
    for (let i = 1; i < 5; i++) assert.ok(h.spawnedAt[i]! - h.spawnedAt[i - 1]! >= h.delays[i - 1]!, `run ${i + 1} waited its delay`);
    assert.equal(new Set(h.pids).size, h.pids.length, 'each run is a new process');
    assert.ok(await h.counter('scop_supervisor_restarts_total', { service: 'toy', reason: 'exit-3' }) >= 4);
  });

  it('a stable run resets the backoff', { timeout: 60000 }, async () => {
    // Runs 1–3 crash at once (delays 100, 200, 400); run 4 lives past stableAfterMs, then crashes: back to 100.
    const h = harness({ ...fast, maxDelayMs: 800, stableAfterMs: 700 }, (run) => (run === 4 ? 'setTimeout(() => process.exit(5), 1200)' : 'process.exit(4)'));
    h.sup.start();
    h.sup.supervise();
    await until('5 runs', () => h.spawnedAt.length >= 5);
    await h.sup.stop();
    assert.deepEqual(h.delays.slice(0, 4), [100, 200, 400, 100]);
    assert.equal(h.reasons[3], 'exit-5');
  });

  it('gives up after maxFastCrashes fast crashes within the window, and restarts nothing after', { timeout: 60000 }, async () => {
    const h = harness({ ...fast, maxFastCrashes: 3 }, () => 'process.exit(7)');
    h.sup.start();
    h.sup.supervise();
    await until('give-up', () => h.gaveUp.length > 0);
    await sleep(1000);
    assert.equal(h.spawnedAt.length, 3, 'two restarts, then no more');
    assert.equal(h.gaveUp.length, 1);
    assert.deepEqual({ ...h.gaveUp[0], ranMs: 0 }, { service: 'toy', code: 7, signal: null, ranMs: 0, fastCrashes: 3, windowMs: 60000 });
    assert.equal(h.sup.state, 'gave-up');
    assert.equal(await h.counter('scop_supervisor_gave_up_total', { service: 'toy' }), 1);
    assert.equal(await h.counter('scop_supervisor_restarts_total', { service: 'toy' }), 2);
  });

  it('fast crashes older than the window are forgotten', { timeout: 60000 }, async () => {
    // 3 allowed within 300 ms, but each restart waits ≥ 200 ms (cap 400): the window never holds 3.
    const h = harness({ ...fast, initialDelayMs: 200, maxDelayMs: 400, maxFastCrashes: 3, windowMs: 300 }, () => 'process.exit(1)');
    h.sup.start();
    h.sup.supervise();
    await until('6 runs', () => h.spawnedAt.length >= 6);
    await h.sup.stop();
    assert.equal(h.gaveUp.length, 0);
  });

  it('a child killed by SIGKILL comes back; stop() ends it for good', { timeout: 60000 }, async () => {
    const h = harness(fast, () => 'setInterval(() => {}, 1000)');
    h.sup.start();
    h.sup.supervise();
    await until('first run', () => h.pids.length === 1);
    process.kill(h.pids[0]!, 'SIGKILL');
    await until('restart', () => h.pids.length === 2);
    assert.deepEqual(h.reasons, ['SIGKILL']);
    assert.equal(await h.counter('scop_supervisor_restarts_total', { service: 'toy', reason: 'SIGKILL' }), 1);
    await until('running', () => h.sup.state === 'running');
    await h.sup.stop();
    await sleep(500);
    assert.equal(h.pids.length, 2, 'no restart after stop()');
    assert.equal(h.sup.state, 'stopped');
    assert.throws(() => process.kill(h.pids[1]!, 0), /ESRCH/, 'the child is gone');
  });

  it('SIGTERM to the whole process group stops everything without a restart', { timeout: 60000 }, async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'supervisor.test-fixture.ts')], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    const events: { event: string; pid?: number }[] = [];
    let buf = '';
    p.stdout.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (line.startsWith('{"event"')) events.push(JSON.parse(line));
      }
    });
    const exited = new Promise<number | null>((ok) => p.on('exit', (c) => ok(c)));
    await until('fixture up', () => events.filter((e) => e.event === 'spawn').length === 2 && events.some((e) => e.event === 'up'));
    process.kill(-p.pid!, 'SIGTERM');
    assert.equal(await exited, 0);
    assert.deepEqual(events.map((e) => e.event).filter((e) => e !== 'spawn' && e !== 'up'), ['stopped'], 'no restart, no give-up');
    for (const e of events.filter((x) => x.event === 'spawn')) assert.throws(() => process.kill(e.pid!, 0), /ESRCH/);
  });

  it('configuration: defaults, and errors that name the key and the fix', () => {
    assert.deepEqual(restartPolicyFromEnv({}), { initialDelayMs: 1000, maxDelayMs: 60000, stableAfterMs: 60000, maxFastCrashes: 5, windowMs: 600000 });
    assert.throws(() => restartPolicyFromEnv({ SCOP_RESTART_MAX_FAST_CRASHES: '0' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_RESTART_MAX_FAST_CRASHES' && /1–1000/.test(e.message));
    assert.throws(() => restartPolicyFromEnv({ SCOP_RESTART_INITIAL_MS: 'soon' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_RESTART_INITIAL_MS');
    assert.throws(() => restartPolicyFromEnv({ SCOP_RESTART_INITIAL_MS: '5000', SCOP_RESTART_MAX_MS: '1000' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_RESTART_MAX_MS' && /raise SCOP_RESTART_MAX_MS/.test(e.message));
  });
});
