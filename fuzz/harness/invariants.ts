/**
 * Checks every target gets beyond "no crash": a wall-time budget per input, and a probe for
 * super-linear cost. A hostile input is rarely slow at the few KiB a fuzzer generates; it is slow
 * once repeated (see repeat()). So one input in `every` (picked by a hash of its bytes, so a finding reproduces
 * from the saved input alone) is also run grown to `bytes` and to 4 × `bytes`: linear code takes
 * about 4 times as long for the larger one, quadratic code 16 times. A ratio above 8 (confirmed by
 * measuring again) or a run over the budget is a finding. When the smaller probe alone takes more
 * than a quarter of the budget, the larger one is not run (it could take minutes): that is a finding
 * by itself, once measured again.
 *
 * Time is the CPU time of this thread (process.threadCpuUsage): on a shared machine wall time
 * mostly measures the neighbours. Garbage collection still makes single runs noisy, so nothing is
 * judged below MIN_JUDGED_MS and a suspicious probe is measured three times (the fastest counts).
 */
import type { FuzzTargetSpec, GrowthProbe } from './target.ts';

/** A property of the code under test does not hold for this input. */
export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
}

/** One input took longer than the target's budget (twice in a row). */
export class SlowInput extends Error {
  override name = 'SlowInput';
}

/** Cost grows faster than the input (measured twice). */
export class SuperLinearCost extends Error {
  override name = 'SuperLinearCost';
}

export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantViolation(typeof message === 'string' ? message : message());
}

/** Rethrows anything that is not one of the error classes the code documents. */
export function onlyTyped(e: unknown, allowed: (abstract new (...args: never[]) => Error)[], where: string): void {
  if (allowed.some((c) => e instanceof c)) return;
  const err = e instanceof Error ? e : new Error(String(e));
  err.message = `${where} threw an undocumented ${err.name}: ${err.message}`;
  throw err;
}

export const DEFAULT_BUDGET_MS = 1000;
const RATIO_LIMIT = 8;
/** Below this the larger probe is too quick to judge a ratio on a loaded machine. */
const MIN_JUDGED_MS = 100;
const CONFIRM_RUNS = 3;

/** Milliseconds of CPU this thread has used. */
function cpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}

export function fnv1a(data: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

/**
 * Grows `data` about `factor` times, in one of two ways picked by its hash (so a finding
 * reproduces): the whole of it repeated, or its first half repeated before the rest — the shape of
 * most hostile inputs (')' × 200,000 then 'a'; many spaces then a word; '<a ' × n then '>').
 */
export function repeat(data: Buffer, factor: number): Buffer {
  if (data.length === 0) return data;
  // Buffer.alloc(n, pattern) repeats the pattern natively: no array of pieces to build and collect.
  if ((fnv1a(data) >>> 8) & 1) {
    const head = data.subarray(0, Math.max(1, data.length >> 1));
    return Buffer.concat([Buffer.alloc(factor * data.length, head), data.subarray(head.length)]);
  }
  return Buffer.alloc(factor * data.length, data);
}

function probeSizes(probe: GrowthProbe, data: Buffer): [number, number] {
  const bytes = probe.bytes ?? 16 * 1024;
  const k = Math.max(1, Math.ceil(bytes / Math.max(1, data.length)));
  return [k, 4 * k];
}

const sampled = (probe: GrowthProbe, data: Buffer) => data.length > 0 && fnv1a(data) % (probe.every ?? 64) === 0;

function tagged<T>(label: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error) e.message = `${label}: ${e.message}`;
    throw e;
  }
}

function timeSync(fn: () => void): number {
  const t = cpuMs();
  fn();
  return cpuMs() - t;
}

async function timeAsync(fn: () => Promise<void>): Promise<number> {
  const t = cpuMs();
  await fn();
  return cpuMs() - t;
}

function fastestSync(runs: number, fn: () => number): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, fn());
  return best;
}

async function fastestAsync(runs: number, fn: () => Promise<number>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, await fn());
  return best;
}

function judge(spec: FuzzTargetSpec, sizes: [number, number], small: number, big: number, confirmed: boolean): 'ok' | 'measure-again' {
  const budget = spec.budgetMs ?? DEFAULT_BUDGET_MS;
  const superLinear = big > MIN_JUDGED_MS && big / Math.max(small, 0.05) > RATIO_LIMIT;
  if (!superLinear && big <= budget) return 'ok';
  if (!confirmed) return 'measure-again';
  if (big > budget) throw new SlowInput(`grown ×${sizes[1]} the input took ${big.toFixed(0)} ms of CPU (budget ${budget} ms; ×${sizes[0]}: ${small.toFixed(1)} ms)`);
  throw new SuperLinearCost(`×${sizes[0]} took ${small.toFixed(1)} ms, ×${sizes[1]} took ${big.toFixed(1)} ms: ${(big / small).toFixed(1)} times for 4 times the input (linear code: about 4)`);
}

/** The smaller probe alone took over a quarter of the budget (twice): the larger one would exceed it. */
function tooSlowForProbe(spec: FuzzTargetSpec, sizes: [number, number], ms: number): void {
  const budget = spec.budgetMs ?? DEFAULT_BUDGET_MS;
  if (ms <= budget / 4) return;
  throw new SlowInput(`grown ×${sizes[0]} the input took ${ms.toFixed(0)} ms, over a quarter of the ${budget} ms budget, so ×${sizes[1]} was not run`);
}

/** run() wrapped with the budget and the growth probe, for Jazzer's sync mode. */
export function checkedSync(spec: FuzzTargetSpec): (data: Buffer) => void {
  // Sync mode never runs the event loop: a Promise's work would pile up, its coverage and errors unseen.
  const run = (data: Buffer): void => {
    if (spec.run(data) instanceof Promise) throw new TypeError(`target ${spec.name} returned a Promise: declare it async: true`);
  };
  const budget = spec.budgetMs ?? DEFAULT_BUDGET_MS;
  return (data: Buffer) => {
    const ms = timeSync(() => run(data));
    if (ms > budget) {
      const again = fastestSync(CONFIRM_RUNS - 1, () => timeSync(() => run(data)));
      if (again > budget) throw new SlowInput(`${Math.min(ms, again).toFixed(0)} ms of CPU for ${data.length} bytes (budget ${budget} ms)`);
    }
    const probe = spec.growth;
    if (!probe || !sampled(probe, data)) return;
    const sizes = probeSizes(probe, data);
    const [a, b] = sizes.map((k) => probe.grow(data, k)) as [Buffer, Buffer];
    const timeA = () => timeSync(() => tagged(`grown ×${sizes[0]}`, () => run(a)));
    const timeB = () => timeSync(() => tagged(`grown ×${sizes[1]}`, () => run(b)));
    let small = timeA();
    if (small > budget / 4) return tooSlowForProbe(spec, sizes, Math.min(small, fastestSync(CONFIRM_RUNS - 1, timeA)));
    let big = timeB();
    if (judge(spec, sizes, small, big, false) === 'ok') return;
    [small, big] = [Math.min(small, fastestSync(CONFIRM_RUNS - 1, timeA)), Math.min(big, fastestSync(CONFIRM_RUNS - 1, timeB))];
    judge(spec, sizes, small, big, true);
  };
}

/** The same for Jazzer's async mode. */
export function checkedAsync(spec: FuzzTargetSpec): (data: Buffer) => Promise<void> {
  const run = spec.run as (data: Buffer) => Promise<void>;
  const budget = spec.budgetMs ?? DEFAULT_BUDGET_MS;
  return async (data: Buffer) => {
    const ms = await timeAsync(() => run(data));
    if (ms > budget) {
      const again = await fastestAsync(CONFIRM_RUNS - 1, () => timeAsync(() => run(data)));
      if (again > budget) throw new SlowInput(`${Math.min(ms, again).toFixed(0)} ms of CPU for ${data.length} bytes (budget ${budget} ms)`);
    }
    const probe = spec.growth;
    if (!probe || !sampled(probe, data)) return;
    const sizes = probeSizes(probe, data);
    const [a, b] = sizes.map((k) => probe.grow(data, k)) as [Buffer, Buffer];
    const label = async (k: number, input: Buffer) => {
      try {
        await run(input);
      } catch (e) {
        if (e instanceof Error) e.message = `grown ×${k}: ${e.message}`;
        throw e;
      }
    };
    const timeA = () => timeAsync(() => label(sizes[0], a));
    const timeB = () => timeAsync(() => label(sizes[1], b));
    let small = await timeA();
    if (small > budget / 4) return tooSlowForProbe(spec, sizes, Math.min(small, await fastestAsync(CONFIRM_RUNS - 1, timeA)));
    let big = await timeB();
    if (judge(spec, sizes, small, big, false) === 'ok') return;
    [small, big] = [Math.min(small, await fastestAsync(CONFIRM_RUNS - 1, timeA)), Math.min(big, await fastestAsync(CONFIRM_RUNS - 1, timeB))];
    judge(spec, sizes, small, big, true);
  };
}
