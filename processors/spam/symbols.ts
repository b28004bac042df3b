/**
 * The spam stage's finding as a symbol (issue 16): BAYES_SPAM, BAYES_UNSURE or BAYES_HAM by the
 * verdict, with the probability as its score (what a policy's min_score reads) and as option. From
 * the section alone: how the stage scores is not changed by it.
 */
import { symbolWord, type StageSymbol } from '../../runtime/stage.ts';
import type { SpamSection } from '../../schemas/types.ts';

export function spamSymbols(s: SpamSection): StageSymbol[] {
  return [{ symbol: `BAYES_${symbolWord(s.verdict)}`, score: s.probability, options: [s.probability.toFixed(3)] }];
}
