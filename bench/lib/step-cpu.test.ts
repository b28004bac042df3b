import assert from 'node:assert/strict';
import { it } from 'node:test';
import { StepCpu } from './step-cpu.ts';

/** A clock that advances by the cost the step under way announces. */
function fakeClock() {
  let now = 0;
  return { clock: () => now, spend: (us: number) => { now += us; } };
}

it('sums every counted round and divides once by messages × rounds', async () => {
  const { clock, spend } = fakeClock();
  const s = new StepCpu(clock);
  const messages = 10;
  const rounds = 3;
  for (let round = 0; round <= rounds; round++) {
    if (round === 1) s.restart();
    for (let i = 0; i < messages; i++) {
      // The warm-up round is dearer (JIT), and must not count.
      await s.time('parse', () => spend(round === 0 ? 9000 : 2000));
      await s.time('compare', async () => { spend(500); await Promise.resolve(); });
    }
  }
  const per = s.perMessageMs(messages, rounds);
  assert.deepEqual([...per.keys()], ['parse', 'compare']);
  assert.equal(per.get('parse'), 2);
  assert.equal(per.get('compare'), 0.5);
});

it('the same work per message gives the same figure whatever the number of rounds', async () => {
  const figures: number[] = [];
  for (const rounds of [1, 2, 5]) {
    const { clock, spend } = fakeClock();
    const s = new StepCpu(clock);
    for (let round = 0; round <= rounds; round++) {
      if (round === 1) s.restart();
      for (let i = 0; i < 4; i++) await s.time('step', () => spend(1500));
    }
    figures.push(s.perMessageMs(4, rounds).get('step')!);
  }
  assert.deepEqual(figures, [1.5, 1.5, 1.5]);
});

it('measures real CPU with the default clock', async () => {
  // The default clock is process CPU, which also counts the process's other threads (GC, JIT): a
  // short sleep once measured more than a short spin. So the spin is a fixed amount of this
  // thread's CPU (a floor of what the process used), and the sleep is long enough that background
  // threads stay far below its wall time; a wall clock would fail the second check, a dead one the first.
  const s = new StepCpu();
  const SLEEP_MS = 300;
  // The sleep first: the spin's garbage and compilation would otherwise be collected during it.
  const wall0 = performance.now();
  await s.time('idle', () => new Promise((r) => setTimeout(r, SLEEP_MS)));
  const idleWallMs = performance.now() - wall0;
  const SPIN_MS = 50;
  const spin = () => { const c = process.threadCpuUsage(); for (;;) { const u = process.threadCpuUsage(c); if (u.user + u.system >= SPIN_MS * 1000) break; } };
  await s.time('busy', spin);
  const per = s.perMessageMs(1, 1);
  const busy = per.get('busy')!;
  const idle = per.get('idle')!;
  assert.ok(busy >= 0.9 * SPIN_MS, `busy: ${busy.toFixed(1)} ms measured for ${SPIN_MS} ms of this thread's CPU`);
  assert.ok(idle < 0.5 * idleWallMs, `idle: ${idle.toFixed(1)} ms of CPU measured over a ${idleWallMs.toFixed(0)} ms sleep (a wall clock would say ${idleWallMs.toFixed(0)})`);
});
