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
  // short sleep once measured more than a short spin, and right after the file loads a 300 ms sleep
  // measured 159 ms (the compiler still busy). So the spin is a fixed amount of this thread's CPU
  // (a floor of what the process used), and the sleep is sampled up to five times, keeping the
  // quietest: background threads settle, while a wall clock would measure every sleep at its wall
  // time (the second check fails), and a dead clock would measure no spin (the first fails).
  const SLEEP_MS = 300;
  let idleRatio = Infinity;
  let idleNote = '';
  for (let sample = 0; sample < 5 && idleRatio >= 0.5; sample++) {
    const s = new StepCpu();
    const wall0 = performance.now();
    await s.time('idle', () => new Promise((r) => setTimeout(r, SLEEP_MS)));
    const wallMs = performance.now() - wall0;
    const idle = s.perMessageMs(1, 1).get('idle')!;
    if (idle / wallMs < idleRatio) { idleRatio = idle / wallMs; idleNote = `${idle.toFixed(1)} ms of CPU measured over a ${wallMs.toFixed(0)} ms sleep`; }
  }
  const SPIN_MS = 50;
  const spin = () => { const c = process.threadCpuUsage(); for (;;) { const u = process.threadCpuUsage(c); if (u.user + u.system >= SPIN_MS * 1000) break; } };
  const s = new StepCpu();
  await s.time('busy', spin);
  const busy = s.perMessageMs(1, 1).get('busy')!;
  assert.ok(busy >= 0.9 * SPIN_MS, `busy: ${busy.toFixed(1)} ms measured for ${SPIN_MS} ms of this thread's CPU`);
  assert.ok(idleRatio < 0.5, `idle: the quietest of five sleeps, ${idleNote} (a wall clock would say the wall time)`);
});
