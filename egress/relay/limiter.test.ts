import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Limiter } from './limiter.ts';

test('at most max run at once, the waiting start in order, and a failing run frees its slot', async () => {
  const limiter = new Limiter(2);
  let active = 0, peak = 0;
  const started: number[] = [];
  const gates: (() => void)[] = [];
  const runs = [0, 1, 2, 3, 4].map((i) => limiter.run(async () => {
    started.push(i); active++; peak = Math.max(peak, active);
    await new Promise<void>((ok) => gates.push(ok));
    active--;
    if (i === 1) throw new Error('delivery failed');
    return i;
  }));
  const settled = Promise.allSettled(runs); // observed from the start: run 1's rejection is expected
  const tick = () => new Promise((r) => setImmediate(r));
  await tick();
  assert.deepEqual(started, [0, 1]);
  gates.shift()!(); await tick(); await tick(); // run 0 ends: run 2 starts
  gates.shift()!(); await tick(); await tick(); // run 1 throws: run 3 still starts
  assert.deepEqual(started, [0, 1, 2, 3]);
  while (gates.length || started.length < 5) { gates.shift()?.(); await tick(); }
  assert.deepEqual((await settled).map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
});
