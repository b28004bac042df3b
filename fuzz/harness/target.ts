/**
 * What a fuzz target declares. One file per target under fuzz/targets/ exports one of these as
 * its default; the harness (entry.ts) wraps run() with the time checks, the runner (fuzz/run.ts)
 * turns the rest into libFuzzer arguments.
 */
export interface Seed {
  name: string;
  data: Buffer;
}

export interface GrowthProbe {
  /** The input scaled up about `factor` times, keeping its shape (e.g. each field repeated). */
  grow(data: Buffer, factor: number): Buffer;
  /** Size of the smaller probe; the larger one is four times this (default 16 KiB). */
  bytes?: number;
  /** One input in this many is probed, chosen by a hash of its bytes so a finding reproduces (default 64). */
  every?: number;
}

export interface FuzzTargetSpec {
  name: string;
  /** One line: what boundary this target drives. */
  about: string;
  /** Paths from the repository root (folders end in '/') whose code is instrumented for coverage; node_modules/<pkg>/ allowed. */
  instrument: string[];
  /** run() returns a Promise (Jazzer's async mode) or not (sync mode, much faster). */
  async: boolean;
  /** Largest input libFuzzer generates. */
  maxLen: number;
  /** Dictionary file under fuzz/dict/. */
  dict?: string;
  /** Wall time one input may take before it is a finding (super-linear or stuck); default 1000 ms. */
  budgetMs?: number;
  /** Super-linearity probe (see invariants.ts); omit for targets whose cost is bounded by design. */
  growth?: GrowthProbe;
  /**
   * Seeds made at run time: from the external test suites (`testdata`, null when absent; never
   * copied into the repository) or generated. Committed seeds live in fuzz/seeds/<target>/.
   */
  seeds?(testdata: string | null): Iterable<Seed>;
  setup?(): void | Promise<void>;
  run(data: Buffer): void | Promise<void>;
}

export const defineTarget = (spec: FuzzTargetSpec): FuzzTargetSpec => spec;
