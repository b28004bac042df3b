/**
 * Cutoffs that mean about the same false-positive rate on mail from elsewhere: chosen on out-of-corpus
 * probabilities (general.ts) with the ham FP rate taken per group — the inner held-out fold (mixed
 * folds: a source with both classes, or a ham source with its spam partner) or the source — each
 * group weighing the same whatever its size, so a cutoff is not set by the largest corpus's ham alone. The median source
 * (default) rather than the mean: with the mean, the one source whose held-out ham the others
 * cannot rank (measured: list ham without list ham in training) pushes both cutoffs to 1 and the
 * model calls nothing spam (README, "What was tried").
 */
import type { Label, Thresholds } from './model.ts';

export type SourceAggregate = 'mean' | 'median';

/** Mean or median over groups (with ham) of the share of their ham scoring at or above `cut`. */
function fpAt(hamBySource: number[][], cut: number, how: SourceAggregate): number {
  const rates: number[] = [];
  for (const ham of hamBySource) {
    // ham sorted ascending: the number at or above cut by binary search.
    let lo = 0;
    let hi = ham.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ham[mid]! >= cut) hi = mid; else lo = mid + 1;
    }
    rates.push((ham.length - lo) / ham.length);
  }
  if (how === 'mean') return rates.reduce((a, b) => a + b, 0) / rates.length;
  rates.sort((a, b) => a - b);
  const mid = rates.length >> 1;
  return rates.length % 2 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
}

/** The lowest cutoff (just above a ham score) whose mean per-source FP rate is at most `rate`. */
function cutoffFor(hamBySource: number[][], allHamDesc: number[], rate: number, how: SourceAggregate): number {
  // Walk down from the top ham score: each step lets one more ham through.
  let cut = (allHamDesc[0] ?? 0) + 1e-9;
  for (const h of allHamDesc) {
    if (fpAt(hamBySource, h, how) > rate) break;
    cut = h;
  }
  return Math.min(1, cut);
}

export function chooseSourceThresholds(probs: readonly number[], labels: readonly Label[], groups: readonly string[], opts: { spamFpRate: number; unsureFpRate: number; minSpamCutoff?: number; aggregate?: SourceAggregate }): Thresholds {
  const how = opts.aggregate ?? 'median';
  const by = new Map<string, number[]>();
  probs.forEach((p, i) => {
    if (labels[i] !== 'ham') return;
    const s = groups[i]!;
    if (!by.has(s)) by.set(s, []);
    by.get(s)!.push(p);
  });
  const hamBySource = [...by.values()].map((a) => a.sort((x, y) => x - y));
  if (hamBySource.length === 0) return { ham: 0.5, spam: 0.9 };
  const allDesc = hamBySource.flat().sort((a, b) => b - a);
  // Candidates are ham scores: the cutoff sits just above the highest ham it must exclude.
  const spamAt = cutoffFor(hamBySource, allDesc, opts.spamFpRate, how);
  const hamAt = cutoffFor(hamBySource, allDesc, opts.unsureFpRate, how);
  const spam = Math.max(opts.minSpamCutoff ?? 0.5, spamAt === 1 ? 1 : nextAbove(allDesc, spamAt));
  const ham = Math.min(spam, nextAbove(allDesc, hamAt));
  return { ham, spam };
}

/** Midway between `at` (a ham score allowed at or above the cutoff) and the next ham score below it, so `at` stays above. */
function nextAbove(desc: number[], at: number): number {
  const below = desc.find((h) => h < at);
  return below === undefined ? at : (at + below) / 2;
}
