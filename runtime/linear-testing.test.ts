import assert from 'node:assert/strict';
import { it } from 'node:test';
import { breaksRule, cpuMs, FLOOR_MS, MAX_RATIO, slowCases, superlinear } from './linear-testing.ts';

/** Burns `ms` of this process's CPU time. */
function burn(ms: number): void {
  const c0 = process.cpuUsage();
  for (;;) {
    const c = process.cpuUsage(c0);
    if ((c.user + c.system) / 1000 >= ms) return;
  }
}

/** A measured input: burns the next of `costs` (the last one again once they run out), counting its runs. */
function input(...costs: number[]) {
  const f = () => { burn(costs[Math.min(f.runs, costs.length - 1)]!); f.runs++; };
  f.runs = 0;
  return f;
}

it('the rule: the larger may cost MAX_RATIO× the smaller (≤ 1 ms counts as 1 ms), or anything up to the floor', () => {
  assert.equal(MAX_RATIO, 8);
  assert.equal(FLOOR_MS, 50);
  assert.equal(breaksRule(10, 80), false);
  assert.equal(breaksRule(10, 81), true);
  assert.equal(breaksRule(0.1, FLOOR_MS), false, 'at the floor the ratio does not matter');
  assert.equal(breaksRule(0.1, FLOOR_MS + 1), true);
  assert.equal(breaksRule(7, 55), false);
});

it('cpuMs is the best of its runs, in CPU milliseconds', async () => {
  const f = input(60, 20, 40);
  const ms = await cpuMs(f, 3);
  assert.equal(f.runs, 3);
  assert.ok(ms >= 20 && ms < 40, `${ms} ms`);
});

it('a cheap larger input passes without measuring the smaller; a linear one passes', async () => {
  const small = input(1);
  assert.equal(await superlinear(small, input(10)), undefined);
  assert.equal(small.runs, 0, 'under the floor the smaller is not run');
  assert.equal(await superlinear(input(20), input(80)), undefined, '4× the cost of 4× the input');
});

it('a superlinear case fails only once confirmed: one slow run of the larger is measured again and passes', async () => {
  const failing = await superlinear(input(2), input(120), { runs: 2, confirmRuns: 2 });
  assert.ok(failing?.confirmed, 'confirmed');
  assert.ok(failing.smallMs >= 2 && failing.smallMs < 16 && failing.largeMs >= 120, JSON.stringify(failing));
  const flaky = input(120, 10);
  assert.equal(await superlinear(input(2), flaky), undefined, 'the second measurement decides');
  assert.equal(flaky.runs, 2, 'the larger measured again only until the rule holds');
  const unconfirmed = input(120);
  assert.equal((await superlinear(input(2), unconfirmed, { confirmRuns: 0 }))?.confirmed, false);
  assert.equal(unconfirmed.runs, 1, 'confirmRuns: 0 measures it once');
});

it('slowCases: names the place and fragment whose cost grows faster than the input, nothing for linear ones', async () => {
  const quadratic = (input: string) => { let n = 0; for (let i = 0; i < input.length; i += 100) for (let j = 0; j < input.length; j++) n += input.charCodeAt(j); return n; };
  const linear = (input: string) => input.split('').length;
  // 8× apart, not 4×: the quadratic then costs ~64× (at 4× its 16× was measured as 9–10× on a busy box, near
  // MAX_RATIO, and the test failed now and then); the linear place stays under FLOOR_MS either way.
  const slow = await slowCases([['linear', linear], ['quadratic', quadratic]], ['ab'], { small: 12_500, large: 100_000 });
  assert.ok(slow.length >= 1 && slow.every((l: string) => l.startsWith('quadratic, ')), slow.join('\n'));
});
