/**
 * The module Jazzer loads as its fuzz target: imports the target named by the child's
 * configuration, runs its setup, and exports `fuzz` — run() inside the time checks.
 */
import { pathToFileURL } from 'node:url';
import { checkedAsync, checkedSync } from './invariants.ts';
import type { FuzzTargetSpec } from './target.ts';

const targetFile = process.env.SCOP_FUZZ_TARGET_FILE;
if (!targetFile) throw new Error('SCOP_FUZZ_TARGET_FILE is not set: start targets with `npm run fuzz -- <target>`');
const spec = ((await import(pathToFileURL(targetFile).href)) as { default: FuzzTargetSpec }).default;
await spec.setup?.();

export const fuzz: (data: Buffer) => void | Promise<void> = spec.async ? checkedAsync(spec) : checkedSync(spec);
