#!/usr/bin/env node
/**
 * scop-mail-corpus — generate valid RFC 5322/MIME messages with their expected trees, and compare
 * another implementation's parse with them.
 *
 *   scop-mail-corpus generate --count N [--seed S] [--from K] [--max-depth D] --out PATH [--format dir|mbox|jsonl]
 *   scop-mail-corpus check --expected TREES.jsonl --actual PARSED.jsonl [--caps JSON]
 *   scop-mail-corpus golden --out DIR                (re)write the golden set (golden.mbox.gz, golden.trees.jsonl.gz)
 *   scop-mail-corpus verify-golden                   the shipped golden set is what this generator writes
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import cliProgress from 'cli-progress';
import { compareEntity, FULL, type ActualEntity, type Capabilities, type Disagreement } from './compare.ts';
import { expectedTree } from './expected.ts';
import { FORMATS, openSink, type Format } from './formats.ts';
import { generateMessage, GENERATOR_VERSION } from './generate.ts';
import { GOLDEN, goldenFiles, verifyGolden } from './golden.ts';
import type { TreeMessage } from './tree.ts';

const USAGE = `scop-mail-corpus ${GENERATOR_VERSION}
  generate --count N [--seed S] [--from K] [--max-depth D] --out PATH [--format dir|mbox|jsonl]
  check --expected TREES.jsonl --actual PARSED.jsonl [--caps JSON]
  golden --out DIR
  verify-golden`;

class UsageError extends Error {}

function wholeNumber(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${v}"`);
  return n;
}

function generate(args: string[]): void {
  const { values: o } = parseArgs({ args, options: {
    count: { type: 'string' }, seed: { type: 'string', default: 'scop' }, from: { type: 'string' }, 'max-depth': { type: 'string' },
    out: { type: 'string' }, format: { type: 'string', default: 'dir' }, quiet: { type: 'boolean', default: false },
  } });
  const count = wholeNumber('count', o.count, -1);
  if (count < 0) throw new UsageError('--count is required');
  if (!o.out) throw new UsageError('--out is required (a folder for --format dir, a file otherwise)');
  if (!FORMATS.includes(o.format as Format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${o.format}"`);
  const from = wholeNumber('from', o.from, 0);
  const maxDepth = wholeNumber('max-depth', o['max-depth'], 20);
  const sink = openSink(o.format as Format, o.out);
  const bar = o.quiet ? null : new cliProgress.SingleBar({ format: 'generate {bar} {value}/{total} | {eta_formatted} left', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 10_000 }, cliProgress.Presets.shades_classic);
  bar?.start(count, 0);
  for (let i = from; i < from + count; i++) {
    const g = generateMessage(o.seed!, i, { maxDepth });
    sink.write(g.encoded.bytes, expectedTree(g));
    if ((i - from) % 100 === 99) bar?.update(i - from + 1);
  }
  bar?.update(count);
  bar?.stop();
  sink.close();
  if (!o.quiet) process.stderr.write(`${count} messages (seed "${o.seed}", from ${from}) written to ${o.out} as ${o.format}\n`);
}

function readTrees(file: string): Map<string, TreeMessage> {
  const out = new Map<string, TreeMessage>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as TreeMessage & { tree?: TreeMessage };
    const t = r.root ? r : r.tree!;
    out.set(t.id, t);
  }
  return out;
}

function check(args: string[]): void {
  const { values: o } = parseArgs({ args, options: { expected: { type: 'string' }, actual: { type: 'string' }, caps: { type: 'string' } } });
  if (!o.expected || !o.actual) throw new UsageError('--expected and --actual are required');
  const caps: Capabilities = { ...FULL, ...(o.caps ? (JSON.parse(o.caps) as Partial<Capabilities>) : {}) };
  const trees = readTrees(o.expected);
  const counts = new Map<string, { n: number; example: string }>();
  let messages = 0;
  let differing = 0;
  for (const line of readFileSync(o.actual, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { id: string; tree?: ActualEntity; error?: string };
    const exp = trees.get(r.id);
    if (!exp) throw new UsageError(`${r.id}: no expected tree with that id in ${o.expected}`);
    messages++;
    const found: Disagreement[] = r.tree ? compareEntity(exp.root, r.tree, caps) : [{ class: 'parse.failed', path: '', detail: r.error ?? 'no tree', expected: null, actual: null }];
    if (found.length) differing++;
    for (const cls of new Set(found.map((d) => d.class))) {
      const d = found.find((x) => x.class === cls)!;
      const c = counts.get(cls) ?? { n: 0, example: `${r.id} at "${d.path}" ${d.detail}: expected ${JSON.stringify(d.expected)}, got ${JSON.stringify(d.actual)}` };
      c.n++;
      counts.set(cls, c);
    }
  }
  console.log(`${messages} messages compared, ${differing} differ from the expected tree`);
  for (const [cls, c] of [...counts].sort((a, b) => b[1].n - a[1].n)) console.log(`${String(c.n).padStart(8)}  ${cls.padEnd(28)}  e.g. ${c.example.slice(0, 300)}`);
  process.exitCode = differing ? 1 : 0;
}

function golden(args: string[]): void {
  const { values: o } = parseArgs({ args, options: { out: { type: 'string' } } });
  if (!o.out) throw new UsageError('--out is required (a folder)');
  mkdirSync(o.out, { recursive: true });
  const files = goldenFiles();
  writeFileSync(join(o.out, 'golden.mbox.gz'), gzipSync(files.mbox, { level: 9 }));
  writeFileSync(join(o.out, 'golden.trees.jsonl.gz'), gzipSync(files.trees, { level: 9 }));
  process.stderr.write(`golden set: ${GOLDEN.count} messages of seed "${GOLDEN.seed}" written to ${o.out}\n`);
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'generate': return generate(rest);
      case 'check': return check(rest);
      case 'golden': return golden(rest);
      case 'verify-golden': {
        const r = verifyGolden();
        console.log(`${r.ok ? 'golden set verified' : 'golden set differs from this generator'}: ${r.detail}`);
        process.exitCode = r.ok ? 0 : 1;
        return;
      }
      case undefined:
      case '--help':
      case '-h':
        console.log(USAGE);
        return;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (!(e instanceof UsageError) && !(e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw e;
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  }
}

main(process.argv.slice(2));
