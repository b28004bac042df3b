/**
 * `npm test`'s counts are exact: with --test-force-exit and several files at once, Node's runner lost
 * the last results of files whose process exited with them still in its stdout pipe (nodejs/node#64833;
 * here 1,660–1,923 of 2,000 tests reported, exit code 0, on three runs of the fixture below without the
 * preload). The runner's arguments preload infra/test-report-flush.mjs into every file's process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PRELOAD = fileURLToPath(new URL('./test-report-flush.mjs', import.meta.url));
const FILES = 40;
const TESTS = 50;

const dir = mkdtempSync(join(tmpdir(), 'scop-report-flush-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Files of quick tests with long names: many result frames per file, written just before the process exits. */
function fixture(): string[] {
  const files: string[] = [];
  for (let f = 0; f < FILES; f++) {
    const file = join(dir, `f${f}.test.mjs`);
    const tests = Array.from({ length: TESTS }, (_, t) => `test(${JSON.stringify(`t${t} ${'x'.repeat(300)}`)}, () => {});`);
    writeFileSync(file, `import { test } from 'node:test';\n${tests.join('\n')}\n`);
    files.push(file);
  }
  return files;
}

/** The tests the runner reports, run the way infra/run-tests.ts runs the suite. */
function reported(files: string[], preload = PRELOAD): number {
  const args = [...(preload ? ['--import', preload] : []), '--test', '--test-force-exit', '--test-concurrency=4', '--test-reporter=spec', ...files];
  // Without NODE_TEST_CONTEXT: inside a test file's process a nested `node --test` would report to us, not print.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const m = /^ℹ tests (\d+)$/m.exec(r.stdout);
  assert.ok(m, 'the runner printed its count');
  return Number(m[1]);
}

describe('npm test reports every test a file ran (nodejs/node#64833)', () => {
  it(`${FILES} files × ${TESTS} tests under --test-force-exit, concurrency 4: every result counted, three runs`, () => {
    const files = fixture();
    for (let run = 0; run < 3; run++) assert.equal(reported(files), FILES * TESTS, `run ${run + 1}`);
  });

  it("the runner's arguments preload the flush into every file's process", () => {
    const src = readFileSync(fileURLToPath(new URL('./run-tests.ts', import.meta.url)), 'utf8');
    assert.match(src, /'--import', 'tsx', '--import', join\(ROOT, 'infra', 'test-report-flush\.mjs'\), '--test'/);
    assert.match(src, /'--test-force-exit'/, 'the flag the preload is for (remove both together)');
  });
});
