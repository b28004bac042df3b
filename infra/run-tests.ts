/**
 * `npm test`: runs every *.test.ts with Node's test runner against a real Kafka and schema
 * registry. KAFKA_BROKERS / SCHEMA_REGISTRY_URL, when set, are used as they are; otherwise the
 * local servers from infra/ are started once for the whole run (on free ports, in .data/test) and
 * stopped afterwards. `npm test -- path/a.test.ts …` runs only the files named. A file with a
 * failing test is run once more alone and, if it passes then, named as FLAKY at the end. A test file
 * whose process runs longer than SCOP_TEST_FILE_TIMEOUT_MS (default 15 minutes) is killed and counts
 * as failing (infra/test-file-watchdog.ts): a file that hangs while loading no longer holds the run.
 * Every test file's process writes its results with a blocking stdout (infra/test-report-flush.mjs):
 * otherwise --test-force-exit could drop a file's last results and the counts were a lower bound.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError } from '../runtime/config.ts';
import { freePort } from './ports.ts';
import { startStack, type Stack } from './stack.ts';
import { watchTestFiles } from './test-file-watchdog.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.git', '.data', '.cache', 'tmp-probe']);

function findTests(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) findTests(join(dir, entry.name), out);
    } else if (entry.name.endsWith('.test.ts')) out.push(relative(ROOT, join(dir, entry.name)));
  }
  return out.sort();
}

const DATA = join(ROOT, '.data');

function readLines(file: string): string[] {
  try { return readFileSync(file, 'utf8').split('\n').filter(Boolean); } catch { return []; }
}

/** SCOP_TEST_FILE_TIMEOUT_MS: how long one test file's process may run (the longest file takes about 2 minutes in CI). */
function fileTimeoutMs(env: NodeJS.ProcessEnv): number {
  const raw = env.SCOP_TEST_FILE_TIMEOUT_MS?.trim();
  if (!raw) return 15 * 60_000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1000) throw new ConfigError('SCOP_TEST_FILE_TIMEOUT_MS', `"${raw}" is not a whole number of milliseconds ≥ 1000`, 'unset it for 15 minutes, or give e.g. 600000');
  return n;
}

/** One `node --test` run over `files`; returns its exit code. */
async function runTests(files: string[], env: NodeJS.ProcessEnv, results: string): Promise<number> {
  mkdirSync(DATA, { recursive: true });
  const fileLimit = fileTimeoutMs(env);
  const runner = spawn(process.execPath, [
    // A blocking stdout in every test file's process: with --test-force-exit a file's last results
    // were lost in the pipe to the runner, and the run said "pass" for fewer tests than ran.
    '--import', 'tsx', '--import', join(ROOT, 'infra', 'test-report-flush.mjs'), '--test',
    `--test-concurrency=${env.SCOP_TEST_CONCURRENCY ?? '2'}`,
    `--test-timeout=${env.SCOP_TEST_TIMEOUT_MS ?? '300000'}`,
    // A file whose tests have all finished exits even if a client library still holds a retry
    // timer (kafkajs keeps reconnecting for a while to a broker a test has stopped). Services
    // do not depend on this: `scop run` exits explicitly after a graceful stop.
    '--test-force-exit',
    // spec on stdout ends with a "failing tests" list, so the tail of a long CI log names what
    // failed; the full TAP stream and the failing files go to .data/ for a closer look.
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${join(DATA, `${results}.tap`)}`,
    `--test-reporter=${join(ROOT, 'infra', 'failed-files-reporter.mjs')}`, `--test-reporter-destination=${join(DATA, `${results}.failed`)}`,
    ...files,
  ], { cwd: ROOT, env, stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => runner.kill(sig);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const stopWatchdog = watchTestFiles(runner.pid!, fileLimit, (k) =>
    console.log(`\n== TIME LIMIT: ${k.file} ran ${Math.round(k.ranMs / 1000)} s (SCOP_TEST_FILE_TIMEOUT_MS=${fileLimit}); killed, it counts as failing`));
  try {
    return await new Promise<number>((ok) => runner.once('exit', (c, s) => ok(c ?? (s ? 1 : 0))));
  } finally {
    stopWatchdog();
    process.off('SIGINT', forward).off('SIGTERM', forward);
  }
}

async function main(): Promise<number> {
  const named = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const files = named.length > 0 ? named : findTests(ROOT);
  if (files.length === 0) {
    console.error('no *.test.ts files found');
    return 1;
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  let stack: Stack | undefined;
  if (!env.KAFKA_BROKERS?.trim() || !env.SCHEMA_REGISTRY_URL?.trim()) {
    const dataDir = join(ROOT, '.data', 'test');
    rmSync(dataDir, { recursive: true, force: true });
    const started = Date.now();
    stack = await startStack({
      ...env,
      SCOP_DATA_DIR: dataDir,
      SCOP_KAFKA_PORT: String(await freePort()),
      SCOP_KAFKA_CONTROLLER_PORT: String(await freePort()),
      SCOP_REGISTRY_PORT: String(await freePort()),
      // A free port, not 9404: a running `scop start` (or a second checkout's tests) may hold that one.
      SCOP_KAFKA_METRICS_PORT: String(await freePort()),
    });
    console.log(`test stack up in ${Date.now() - started} ms: kafka=${stack.endpoints.kafka} registry=${stack.endpoints.registry}`);
    env.KAFKA_BROKERS = stack.kafka.brokers.join(',');
    env.SCHEMA_REGISTRY_URL = stack.registry.url;
  }
  const stopStack = async () => { await stack?.stop(); stack = undefined; };
  try {
    const first = await runTests(files, env, 'test-results');
    if (first === 0) return 0;
    // A file with a failing test runs once more on its own, with nothing beside it. A file that
    // passes then is reported as flaky, by name, at the end of the log — still a defect to fix, but
    // one timing-dependent test on a loaded 2-core CI box does not sink the run; a file that
    // fails twice fails the run.
    const failed = readLines(join(DATA, 'test-results.failed'));
    // No file named: the run itself broke. Many files: a real breakage, not a flake.
    if (failed.length === 0 || failed.length > 3) return first;
    console.log(`\n== ${failed.length} file(s) with a failing test, run again alone: ${failed.join(' ')}`);
    const second = await runTests(failed, { ...env, SCOP_TEST_CONCURRENCY: '1' }, 'test-results.rerun');
    const still = second === 0 ? [] : readLines(join(DATA, 'test-results.rerun.failed'));
    const flaky = failed.filter((f) => !still.includes(f));
    if (flaky.length) console.log(`\nFLAKY (failed, then passed alone): ${flaky.join(' ')}`);
    if (second !== 0) console.log(`\nFAILED twice: ${(still.length ? still : failed).join(' ')}`);
    return second;
  } finally {
    await stopStack();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof ConfigError ? e.message : `test harness failed: ${(e as Error).stack ?? e}`);
    process.exit(2);
  },
);
