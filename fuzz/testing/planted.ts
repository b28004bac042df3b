/**
 * Targets with planted defects, for the harness's own test (fuzz/fuzz.test.ts): the fuzzer must
 * find each one from an empty corpus. Not under fuzz/targets/, so `npm run fuzz -- --all` skips
 * them, and not under fuzz/harness/ (never instrumented), so their code gets coverage feedback.
 */
import { invariant, repeat } from '../harness/invariants.ts';
import { defineTarget, type FuzzTargetSpec } from '../harness/target.ts';

const check = (s: string) => invariant(!(s.slice(0, 4) === 'FUZZ' && s.slice(4, 7) === 'BUG'), 'planted bug reached');

export function planted(kind: 'bug' | 'async-bug' | 'quadratic'): FuzzTargetSpec {
  return defineTarget({
    name: `planted-${kind}`,
    about: 'planted defects for the harness test',
    instrument: ['fuzz/testing/'],
    async: kind === 'async-bug',
    maxLen: 64,
    budgetMs: 200,
    growth: { grow: repeat, bytes: 8 * 1024, every: 1 },
    run(data) {
      if (kind === 'quadratic') {
        // Counts pairs of equal bytes: quadratic in the input's length, like a backtracking regex.
        let pairs = 0;
        for (let i = 0; i < data.length; i++) for (let j = i + 1; j < data.length; j++) if (data[i] === data[j]) pairs++;
        return void pairs;
      }
      // An exception behind two string compares (in a Promise for the async kind).
      const s = data.toString('latin1');
      if (kind === 'async-bug') return Promise.resolve().then(() => check(s));
      check(s);
    },
  });
}
