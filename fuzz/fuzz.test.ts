/**
 * The fuzzing harness itself: the libFuzzer addon builds, a planted defect is found from an empty
 * corpus (in sync and async mode), the saved input reproduces it, a quadratic cost is caught by
 * the growth probe, and a clean run reports executions and coverage. Skips when g++ or
 * libclang-rt-*-dev is missing (`npm run fuzz` then fails with the install command).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildNativeAddon, NativeBuildError, ROOT } from './native/build.ts';
import { parseFinding, parseStats, runTarget } from './run.ts';

let addon: string | undefined;
let skip: string | false = false;
try {
  addon = buildNativeAddon();
} catch (e) {
  if (!(e instanceof NativeBuildError)) throw e;
  skip = e.message;
}

async function plant(kind: string, seconds: number, repro?: string) {
  if (!repro) rmSync(join(ROOT, '.data', 'fuzz', `planted-${kind}`), { recursive: true, force: true });
  const targetFile = join(ROOT, 'fuzz', 'testing', `planted-${kind}.ts`);
  return runTarget(`planted-${kind}`, { seconds, quiet: true, addon: addon!, testdata: null, targetFile, repro });
}

describe('fuzz harness', { skip }, () => {
  it('finds a planted exception behind string compares, and the saved input reproduces it', async () => {
    const r = await plant('bug', 120);
    assert.equal(r.finding?.kind, 'InvariantViolation', JSON.stringify(r.finding));
    assert.match(r.finding!.message, /planted bug reached/);
    assert.ok(r.finding!.artifact, 'the input was saved');
    const again = await plant('bug', 10, r.finding!.artifact!);
    assert.match(again.finding?.message ?? '', /planted bug reached/, 'reproduced from the saved input');
  });

  it('does the same in async mode (Promise-returning targets)', async () => {
    const r = await plant('async-bug', 120);
    assert.match(r.finding?.message ?? '', /planted bug reached/, JSON.stringify(r.finding));
  });

  it('catches a cost quadratic in the input with the growth probe', async () => {
    const r = await plant('quadratic', 120);
    assert.match(r.finding?.kind ?? '', /^(SuperLinearCost|SlowInput)$/, JSON.stringify(r.finding));
  });
});

describe('fuzz runner output parsing', () => {
  it('reads the last status line and the final stats', () => {
    const log = '#2\tINITED cov: 3 ft: 3 corp: 1/1b exec/s: 0 rss: 1Mb\n#900\tDONE   cov: 8 ft: 9 corp: 5/17b lim: 4 exec/s: 450 rss: 2Mb\nstat::number_of_executed_units: 901\nstat::average_exec_per_sec:     430\n';
    assert.deepEqual(parseStats(log), { runs: 901, cov: 8, corpus: 5, execPerSec: 430 });
  });
  it('a clean run is no finding; a libFuzzer summary or an error line is one', () => {
    assert.equal(parseFinding('SCOP-FUZZ {"edges":1,"returnCode":0,"error":null}\n', 0, null), null);
    assert.equal(parseFinding('SUMMARY: libFuzzer: timeout\nTest unit written to ./timeout-1\n', 70, null)?.artifact, './timeout-1');
    assert.equal(parseFinding('x"SCOP-FUZZ {"edges":1,"returnCode":77,"error":"SlowInput: 900 ms"}\n', 77, null)?.kind, 'SlowInput');
    assert.equal(parseFinding('', null, 'SIGKILL')?.kind, 'killed by SIGKILL');
  });
});
