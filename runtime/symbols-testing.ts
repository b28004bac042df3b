/**
 * What each stage's symbols test (processors/<stage>/symbols.test.ts) checks against its own
 * declarations (symbol-names.ts): every name the stage emits for its test inputs is declared, and
 * every declared name is emitted by at least one of them. So a new check is proven to fire, and
 * declared, by a test in its own folder: nothing outside that folder (but the policy file) changes.
 */
import { AssertionError } from 'node:assert';
import type { SymbolDeclarations } from './symbols.ts';

/** Throws (an AssertionError naming the names) unless `emitted` and the declared names are the same set. */
export function assertEveryDeclaredSymbolFires(declared: SymbolDeclarations, emitted: Iterable<string>): void {
  const names = Object.keys(declared);
  const stages = [...new Set(Object.values(declared).map((i) => i.stage))];
  const seen = new Set(emitted);
  const undeclared = [...seen].filter((n) => !Object.hasOwn(declared, n));
  const silent = names.filter((n) => !seen.has(n));
  const problems = [
    ...(undeclared.length ? [`emitted but not declared in symbol-names.ts: ${undeclared.join(', ')}`] : []),
    ...(silent.length ? [`declared but emitted by none of the test inputs (add an input that fires it, or drop the name): ${silent.join(', ')}`] : []),
  ];
  if (problems.length) throw new AssertionError({ message: `${stages.join('/') || 'stage'} symbols: ${problems.join('; ')}` });
}
