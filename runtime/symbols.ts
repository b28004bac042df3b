/**
 * Symbol names: the names half of the contract between the stages and the decision (symbol.avsc is
 * the shape, and keeps names an open set on the wire). Each stage declares the names it emits, with
 * what each says, in its own folder (`processors/<stage>/symbol-names.ts`) and on its definition
 * (`symbols`); the catalogue is derived from the topology's stage definitions where the process is
 * composed (cli/services.ts) and handed to the decision stage (SymbolsContext.symbols, runtime/service.ts), whose policy
 * may weigh only these names, or a name it declares `custom: true` — so a typo in a weight is refused
 * at start instead of silently weighing nothing. A new check touches its own folder and the policy
 * file only: each stage's symbols.test.ts checks its declarations against what it emits
 * (symbols-testing.ts), cli/symbol-catalog.test.ts only what needs the whole topology.
 */
import type { SymbolStage } from '../schemas/types.ts';

export interface SymbolInfo {
  stage: SymbolStage;
  description: string;
}

/** A stage's declared symbols: name → stage and meaning (names stay literal types). */
export type SymbolDeclarations<N extends string = string> = Readonly<Record<N, SymbolInfo>>;

/** `const spam = symbolOf('spam')`, then `RDNS_NONE: spam('…')`: one line per name. */
export const symbolOf = (stage: SymbolStage) => (description: string): SymbolInfo => ({ stage, description });

/** Symbol names are at most 64 characters (the policy's name rule). */
const MAX_NAME = 64;

/** Edit distance, bounded by MAX_NAME. */
function distance(a: string, b: string): number {
  if (a.length > MAX_NAME || b.length > MAX_NAME) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Every name the stages of a process's topology emit, from their definitions' declarations. */
export class SymbolCatalog {
  readonly #names: ReadonlyMap<string, SymbolInfo>;

  /**
   * From `[stage name, declarations]` of each stage definition. A name declared by two stages, or
   * declared for another stage than the one declaring it, is refused: the catalogue says which stage
   * emits a name, and the decision's explanations and the README rely on it.
   */
  constructor(definitions: Iterable<readonly [owner: string, symbols: SymbolDeclarations | undefined]>) {
    const names = new Map<string, SymbolInfo>();
    const owners = new Map<string, string>();
    for (const [owner, symbols] of definitions) {
      for (const [name, info] of Object.entries(symbols ?? {})) {
        if (info.stage !== owner) throw new Error(`symbol ${name}: declared by the ${owner} stage for the ${info.stage} stage`);
        const other = owners.get(name);
        if (other !== undefined) throw new Error(`symbol ${name}: declared by both the ${other} and the ${owner} stage`);
        owners.set(name, owner);
        names.set(name, info);
      }
    }
    this.#names = names;
  }

  has(name: string): boolean {
    return this.#names.has(name);
  }

  get(name: string): SymbolInfo | undefined {
    return this.#names.get(name);
  }

  /** Every name with its stage and meaning, in declaration order. */
  entries(): [string, SymbolInfo][] {
    return [...this.#names];
  }

  /** The known name nearest a misspelt one (at most 2 edits or a quarter of its length away), for "did you mean". */
  nearest(name: string): string | null {
    let best: string | null = null;
    let bestD = Math.max(2, Math.floor(name.length / 4)) + 1;
    for (const known of this.#names.keys()) {
      const d = distance(name, known);
      if (d < bestD) { best = known; bestD = d; }
    }
    return best;
  }
}
