/**
 * `npm run fuzz -- <target…> | --all [--seconds N] [--jobs J]`: coverage-guided fuzzing of the
 * parsers that take bytes from outside, with Jazzer.js (libFuzzer). One child process per target
 * (fuzz/harness/child.mjs); this process prepares corpora and seeds, runs the children at lower
 * priority, and reports executions/s, coverage and findings. Exit status 1 on any finding.
 *
 *   npm run fuzz -- --list
 *   npm run fuzz -- mime --seconds 120
 *   npm run fuzz -- --all --seconds 10 --jobs 2          (what CI runs)
 *   npm run fuzz -- mime --repro .data/fuzz/mime/findings/crash-…   (one input, once)
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildNativeAddon } from './native/build.ts';
import type { FuzzTargetSpec } from './harness/target.ts';
import { findTestdata } from '../runtime/testdata.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const TARGET_DIR = join(HERE, 'targets');
const DATA = join(ROOT, '.data', 'fuzz');

/** Hard stop for one input (libFuzzer -timeout): a hang, not just slowness (that is the target's budget). */
const HANG_TIMEOUT_MS = 60_000;
const RSS_LIMIT_MB = 3072;

export interface TargetResult {
  target: string;
  seconds: number;
  runs: number;
  execPerSec: number;
  /** Edges libFuzzer saw covered, and edges instrumented in the target's code. */
  coveredEdges: number;
  instrumentedEdges: number;
  corpus: number;
  /** null when clean; otherwise what was found and where the input is. */
  finding: { kind: string; message: string; artifact: string | null } | null;
  log: string;
}

export function targetNames(): string[] {
  return readdirSync(TARGET_DIR).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
}

export async function loadTarget(name: string, file = join(TARGET_DIR, `${name}.ts`)): Promise<FuzzTargetSpec> {
  if (!existsSync(file)) throw new Error(`no fuzz target "${name}"; the targets are: ${targetNames().join(', ')}`);
  return ((await import(pathToFileURL(file).href)) as { default: FuzzTargetSpec }).default;
}

function writeSeeds(spec: FuzzTargetSpec, dir: string, testdata: string | null): number {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (!spec.seeds) return 0;
  let n = 0;
  for (const s of spec.seeds(testdata)) {
    if (s.data.length > spec.maxLen) continue;
    writeFileSync(join(dir, s.name.replace(/[^A-Za-z0-9._-]/g, '_')), s.data);
    n++;
  }
  return n;
}

/** The last libFuzzer status line ("#123 DONE cov: 45 ft: 67 corp: 8/9b … exec/s: 10 …"). */
export function parseStats(log: string): { runs: number; cov: number; corpus: number; execPerSec: number } {
  let runs = 0, cov = 0, corpus = 0, execPerSec = 0;
  for (const m of log.matchAll(/^#(\d+)\s+\w+\s+cov: (\d+) ft: \d+ corp: (\d+)\/\S+.*?exec\/s: (\d+)/gm)) {
    runs = Number(m[1]); cov = Number(m[2]); corpus = Number(m[3]); execPerSec = Number(m[4]);
  }
  const units = /stat::number_of_executed_units: (\d+)/.exec(log);
  if (units) runs = Number(units[1]);
  const avg = /stat::average_exec_per_sec:\s+(\d+)/.exec(log);
  if (avg && Number(avg[1]) > 0) execPerSec = Number(avg[1]);
  return { runs, cov, corpus, execPerSec };
}

export function parseFinding(log: string, exitCode: number | null, signal: string | null): TargetResult['finding'] {
  const scop = [...log.matchAll(/SCOP-FUZZ (\{.*\})\s*$/gm)].at(-1)?.[1];
  const summary = /^SUMMARY: libFuzzer: (.+)$/m.exec(log)?.[1];
  const artifact = [...log.matchAll(/Test unit written to (\S+)/g)].at(-1)?.[1] ?? null;
  const status = scop ? (JSON.parse(scop) as { returnCode: number; error: string | null }) : null;
  if (exitCode === 0 && status?.returnCode === 0 && !summary) return null;
  const kind = status?.error ? status.error.split(':')[0]! : summary ?? (signal ? `killed by ${signal}` : `exit ${exitCode}`);
  const message = status?.error ?? summary ?? (log.trim().split('\n').slice(-5).join(' | ') || 'no output');
  return { kind, message, artifact };
}

interface RunOptions {
  seconds: number;
  /** A target file outside fuzz/targets/ (the harness's own tests). */
  targetFile?: string;
  repro?: string;
  quiet?: boolean;
  addon: string;
  testdata: string | null;
}

export async function runTarget(name: string, o: RunOptions): Promise<TargetResult> {
  const spec = await loadTarget(name, o.targetFile);
  const dir = join(DATA, name);
  const corpus = join(dir, 'corpus');
  const generated = join(dir, 'generated-seeds');
  const findings = join(dir, 'findings');
  for (const d of [corpus, findings]) mkdirSync(d, { recursive: true });
  const committed = join(HERE, 'seeds', name);
  const fuzzerOptions = [
    `-max_len=${spec.maxLen}`,
    `-rss_limit_mb=${RSS_LIMIT_MB}`,
    `-artifact_prefix=${findings}/`,
    '-print_final_stats=1',
    ...(spec.dict ? [`-dict=${join(HERE, 'dict', spec.dict)}`] : []),
  ];
  if (o.repro) {
    fuzzerOptions.push(resolve(o.repro));
  } else {
    writeSeeds(spec, generated, o.testdata);
    fuzzerOptions.push(`-max_total_time=${o.seconds}`, corpus, generated, ...(existsSync(committed) ? [committed] : []));
  }
  const instrument = spec.instrument.map((p) => join(ROOT, p)); // join keeps a trailing '/'
  const config = {
    targetFile: o.targetFile ?? join(TARGET_DIR, `${name}.ts`),
    entry: join(HERE, 'harness', 'entry.ts'),
    addon: o.addon,
    sync: !spec.async,
    includes: instrument,
    // The harness and the targets themselves are not the code under test: no coverage for them.
    excludes: ['.test.ts', join(HERE, 'harness') + '/', join(HERE, 'targets') + '/', join(HERE, 'native') + '/', 'node_modules/@jazzer.js/', 'node_modules/@babel/', 'node_modules/typescript/'],
    fuzzerOptions,
    timeoutMs: HANG_TIMEOUT_MS,
  };
  const logFile = join(dir, o.repro ? 'repro.log' : 'last-run.log');
  // The child writes into the log file itself, not into a pipe: Node makes its stdio pipes
  // non-blocking, and libFuzzer's unbuffered writes to a full pipe are lost (EAGAIN) — exactly
  // when a finding prints the most.
  const fd = openSync(logFile, 'w');
  const started = Date.now();
  const child = spawn(process.execPath, [join(HERE, 'harness', 'child.mjs')], {
    cwd: ROOT,
    env: { ...process.env, SCOP_FUZZ_CHILD: JSON.stringify(config) },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  // Fuzzing is CPU-heavy and the machine is shared: run the child at lower priority (SCOP_FUZZ_NICE=0 to keep it).
  try {
    if (child.pid) setPriority(child.pid, Number(process.env.SCOP_FUZZ_NICE ?? 10));
  } catch {
    // not permitted here: run at normal priority
  }
  let shown = 0;
  const show = () => {
    if (o.quiet) return;
    const text = readFileSync(logFile, 'utf8');
    if (text.length > shown) process.stderr.write(text.slice(shown).replace(/^(?=.)/gm, `[${name}] `));
    shown = text.length;
  };
  const tail = setInterval(show, 1000);
  const [code, signal] = await new Promise<[number | null, string | null]>((ok) => child.on('close', (c, s) => ok([c, s])));
  clearInterval(tail);
  show();
  const log = readFileSync(logFile, 'utf8');
  const stats = parseStats(log);
  const edges = [...log.matchAll(/SCOP-FUZZ (\{.*\})\s*$/gm)].at(-1)?.[1];
  return {
    target: name,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    runs: stats.runs,
    execPerSec: stats.execPerSec,
    coveredEdges: stats.cov,
    instrumentedEdges: edges ? (JSON.parse(edges) as { edges: number }).edges : 0,
    corpus: stats.corpus,
    finding: parseFinding(log, code, signal),
    log: logFile,
  };
}

function table(results: TargetResult[]): string {
  const rows = results.map((r) => [
    r.target,
    String(r.seconds),
    String(r.runs),
    String(r.execPerSec),
    r.instrumentedEdges ? `${r.coveredEdges} / ${r.instrumentedEdges} (${((100 * r.coveredEdges) / r.instrumentedEdges).toFixed(0)} %)` : String(r.coveredEdges),
    String(r.corpus),
    r.finding ? `FINDING ${r.finding.kind}` : 'ok',
  ]);
  const head = ['target', 's', 'runs', 'exec/s', 'edges covered / instrumented', 'corpus', 'result'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      all: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '60' },
      jobs: { type: 'string', default: '1' },
      repro: { type: 'string' },
      list: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  if (values.list) {
    for (const n of targetNames()) console.log(`${n.padEnd(18)} ${(await loadTarget(n)).about}`);
    return 0;
  }
  const names = values.all ? targetNames() : positionals;
  if (names.length === 0) {
    console.error('usage: npm run fuzz -- <target…> | --all [--seconds N] [--jobs J] [--repro FILE] [--quiet] [--json FILE]; --list names the targets');
    return 2;
  }
  for (const n of names) await loadTarget(n); // fail fast on a typo
  const seconds = Number(values.seconds);
  const jobs = Math.max(1, Number(values.jobs));
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds ${values.seconds}: give a positive number`);
  if (values.repro && names.length !== 1) throw new Error('--repro takes exactly one target');
  const addon = buildNativeAddon({ log: (l) => console.error(l) });
  const testdata = findTestdata(ROOT);
  console.error(testdata ? `seeds from ${testdata}` : 'no shared/testdata found (SCOP_TESTDATA): running from the committed seeds only');

  const quiet = values.quiet || names.length > 1;
  const queue = [...names];
  const results: TargetResult[] = [];
  await Promise.all(Array.from({ length: Math.min(jobs, names.length) }, async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      console.error(`fuzzing ${name}${values.repro ? ` (reproducing ${values.repro})` : ` for ${seconds} s`}…`);
      const r = await runTarget(name, { seconds, repro: values.repro, quiet, addon, testdata });
      results.push(r);
      console.error(`${name}: ${r.finding ? `FINDING ${r.finding.kind}: ${r.finding.message}${r.finding.artifact ? ` — input: ${r.finding.artifact}` : ''}` : 'ok'} (${r.runs} runs, ${r.execPerSec} exec/s, cov ${r.coveredEdges}; log ${r.log})`);
    }
  }));
  results.sort((a, b) => a.target.localeCompare(b.target));
  console.log(table(results));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  const found = results.filter((r) => r.finding);
  for (const r of found) {
    console.log(`\n${r.target}: ${r.finding!.message}\n  reproduce: npm run fuzz -- ${r.target} --repro ${r.finding!.artifact ?? '<input>'}`);
  }
  return found.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((code) => process.exit(code), (e: Error) => {
    console.error(`fuzz: ${e.message}`);
    process.exit(2);
  });
}
