/**
 * Worker-thread entry for the spam stage (runtime/cpu-pool.ts): tokenizing is the one part of scoring
 * whose cost depends on what a sender wrote, so it runs where a time limit can stop it. The model
 * stays on the main thread (scoring a token list is a bounded sum), so workers hold no model copy.
 */
import type { SpamInput } from './input.ts';
import { tokenize, type TokenizerLimits } from './tokenizer.ts';

export interface TokenizeTask {
  input: SpamInput;
  limits: TokenizerLimits;
}

export default function tokenizeTask(task: TokenizeTask): string[] {
  return tokenize(task.input, task.limits);
}
