/**
 * A target with planted defects, for the harness's own test (fuzz/fuzz.test.ts): the fuzzer must
 * find each one from an empty corpus. Not under fuzz/targets/, so `npm run fuzz -- --all` skips it,
 * and not under fuzz/harness/ (never instrumented), so its code gets coverage feedback.
 * SCOP_PLANTED picks the defect: "bug" (an exception behind two string compares, sync), "async-bug"
 * (the same in a Promise) or "quadratic" (cost quadratic in the input, for the growth probe).
 */
import { invariant, repeat } from '../harness/invariants.ts';
import { defineTarget } from '../harness/target.ts';

const kind = process.env.SCOP_PLANTED ?? 'bug';

export default defineTarget({
  name: 'planted',
  about: 'planted defects for the harness test',
  instrument: ['fuzz/testing/planted-target.ts'],
  async: kind === 'async-bug',
  maxLen: 64,
  budgetMs: 200,
  growth: { grow: repeat, bytes: 8 * 1024, every: 1 },
  run(data) {
    const s = data.toString('latin1');
    if (kind === 'quadratic') {
      // Counts pairs of equal bytes: quadratic in the input's length, like a backtracking regex.
      let pairs = 0;
      for (let i = 0; i < data.length; i++) for (let j = i + 1; j < data.length; j++) if (data[i] === data[j]) pairs++;
      return void pairs;
    }
    const check = () => invariant(!(s.slice(0, 4) === 'FUZZ' && s.slice(4, 7) === 'BUG'), 'planted bug reached');
    if (kind === 'async-bug') return Promise.resolve().then(check);
    check();
  },
});
