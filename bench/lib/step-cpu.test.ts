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
  const s = new StepCpu();
  // Busy until the process has used 20 ms of CPU (wall time would say nothing on a loaded box).
  const spin = () => { const c = process.cpuUsage(); while (process.cpuUsage(c).user < 20_000); };
  await s.time('busy', spin);
  await s.time('idle', () => new Promise((r) => setTimeout(r, 50)));
  const per = s.perMessageMs(1, 1);
  assert.ok(per.get('busy')! >= 20, `busy: ${per.get('busy')} ms`);
  assert.ok(per.get('idle')! < per.get('busy')!, `idle ${per.get('idle')} ms < busy ${per.get('busy')} ms`);
});
