/**
 * The rule of the generated hostile-input families (processors/mime/, processors/auth/ and ingress/hostile-family.test.ts, patches/mailauth-libmime.test.ts;
 * each test file names its places and fragments): an input 4× larger may cost at most MAX_RATIO× the CPU of
 * the smaller (quadratic code costs 16×), unless the larger is cheap (≤ FLOOR_MS: timer and GC noise
 * dominate). CPU time, not wall time: on a shared machine wall time includes waiting for a core. A
 * case that breaks the rule is measured again before it counts, so a loaded machine does not decide.
 * Test code only (the name says so: infra/layers.test.ts).
 */

export const MAX_RATIO = 8;
/** Below this the larger input is cheap whatever the ratio. */
export const FLOOR_MS = 50;

/** CPU milliseconds (user + system, this process) of one call of `run`: the best of `runs`. */
export async function cpuMs(run: () => unknown, runs = 1): Promise<number> {
  let best = Infinity;
  for (let k = 0; k < runs; k++) {
    const c0 = process.cpuUsage();
    await run();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  return best;
}

/** Whether `largeMs` (the 4× input) breaks the rule against `smallMs` (≤ 1 ms counts as 1 ms). */
export const breaksRule = (smallMs: number, largeMs: number): boolean => largeMs > FLOOR_MS && largeMs > MAX_RATIO * Math.max(smallMs, 1);

/** A case that broke the rule: its best measurements, and whether they were confirmed by a second measurement. */
export interface Superlinear { smallMs: number; largeMs: number; confirmed: boolean }

/**
 * Measures `large` and `small` (one run of each input) against the rule: undefined when it holds,
 * else the best times. The larger first: under the floor the smaller is not even measured (most
 * cases). Each is the best of `runs`; a case that breaks the rule is confirmed with the smaller's best
 * of `confirmRuns` more and up to `confirmRuns` more runs of the larger (stopping once the rule holds:
 * a quadratic case costs seconds a run). `confirmRuns: 0` reports it unconfirmed (a test that fails
 * anyway need not spend that time on every later case).
 */
export async function superlinear(small: () => unknown, large: () => unknown, opts: { runs?: number; confirmRuns?: number } = {}): Promise<Superlinear | undefined> {
  const { runs = 1, confirmRuns = 4 } = opts;
  let largeMs = await cpuMs(large, runs);
  if (largeMs <= FLOOR_MS) return undefined;
  let smallMs = await cpuMs(small, runs);
  if (!breaksRule(smallMs, largeMs)) return undefined;
  if (confirmRuns === 0) return { smallMs, largeMs, confirmed: false };
  smallMs = Math.min(smallMs, await cpuMs(small, confirmRuns));
  for (let k = 0; k < confirmRuns && breaksRule(smallMs, largeMs); k++) largeMs = Math.min(largeMs, await cpuMs(large));
  return breaksRule(smallMs, largeMs) ? { smallMs, largeMs, confirmed: true } : undefined;
}

/**
 * A family of synchronous places × fragments against the rule: each fragment repeated to `small` and to
 * `large` characters and handed to each place; one line per case that breaks it (confirmed), [] when none.
 */
export async function slowCases(places: readonly (readonly [string, (input: string) => unknown])[], fragments: readonly string[], sizes: { small: number; large: number }): Promise<string[]> {
  const slow: string[] = [];
  for (const [place, build] of places) {
    for (const f of fragments) {
      const run = (n: number) => f.repeat(Math.ceil(n / f.length));
      const [s, l] = [run(sizes.small), run(sizes.large)];
      const found = await superlinear(() => build(s), () => build(l));
      if (found) slow.push(`${place}, ${JSON.stringify(f)}: ${found.smallMs.toFixed(0)} ms at ${sizes.small}, ${found.largeMs.toFixed(0)} ms at ${sizes.large}`);
    }
  }
  return slow;
}
