/**
 * Differential run: the same generated messages read by scop's MIME stage (mailparser with our
 * hunks), postal-mime, Python's `email` (adapters/python_email.py) and Go's standard library
 * (adapters/go, built here into the work folder), each compared with the expected trees.
 * Messages are written as files to the work folder so every implementation reads the same bytes,
 * and the smallest message of each (implementation, class) is kept there as a minimal example.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import cliProgress from 'cli-progress';
import { analyseMime } from '../../processors/mime/parse.ts';
import { compareEntity, type ActualEntity, type Capabilities, type Disagreement } from '../src/compare.ts';
import { expectedTexts, expectedTree } from '../src/expected.ts';
import { compareFlat } from '../src/flat.ts';
import { generateMessage } from '../src/generate.ts';
import type { TreeMessage } from '../src/tree.ts';
import type { Finding } from './check.ts';
import { documented } from './known.ts';
import { MAILPARSER_CAPS, mailparserTree } from './mailparser.ts';
import { postalView, POSTAL_CAPS } from './postal.ts';
import { Tally } from './tally.ts';

const ADAPTERS = resolve(import.meta.dirname, '../adapters');

export const IMPLEMENTATIONS = ['scop', 'postal-mime', 'python', 'go'] as const;
export type Impl = (typeof IMPLEMENTATIONS)[number];

export const LABELS: Record<Impl, string> = {
  scop: 'scop MIME stage (mailparser 3.14.2 + hunks)',
  'postal-mime': 'postal-mime 4.0.0',
  python: 'Python email (policy.default)',
  go: 'Go net/mail + mime/multipart',
};

/** Python decodes every header through its registry and keeps order; Go keeps headers in maps. */
const PYTHON_CAPS: Capabilities = { textFields: 'all', rawValues: false, headerOrder: true, partHeaders: true, transferEncoding: true };
const GO_CAPS: Capabilities = { textFields: 'all', rawValues: false, headerOrder: false, partHeaders: true, transferEncoding: true };

interface Expected {
  index: number;
  tree: TreeMessage;
  texts: Map<string, string>;
  file: string;
}

export interface DiffOptions {
  seed: string;
  count: number;
  from: number;
  impls: Impl[];
  dir: string;
  progress: boolean;
}

export interface DiffResult {
  tallies: Map<Impl, Tally>;
  seconds: Map<Impl, number>;
  python: string;
  go: string;
}

function findings(list: Disagreement[], impl: Impl, exp: TreeMessage): Finding[] {
  return list.map((d) => ({ pass: impl, d, known: impl === 'scop' ? documented('parse', d, exp) : null }));
}

/** Runs an adapter over the message files, comparing each line as it comes. */
async function external(cmd: string, args: string[], expected: Map<string, Expected>, impl: Impl, caps: Capabilities, tally: Tally): Promise<void> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise<void>((ok, fail) => child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${cmd} exited with ${code}`)))).on('error', fail));
  const lines = createInterface({ input: child.stdout });
  const feed = (async () => {
    for (const e of expected.values()) if (!child.stdin.write(e.file + '\n')) await new Promise((r) => child.stdin.once('drain', r));
    child.stdin.end();
  })();
  for await (const line of lines) {
    const r = JSON.parse(line) as { id: string; tree?: ActualEntity; error?: string };
    const e = expected.get(r.id);
    if (!e) throw new Error(`${impl}: unknown message id ${r.id}`);
    const list: Disagreement[] = r.tree ? compareEntity(e.tree.root, r.tree, caps) : [{ class: 'parse.failed', path: '', detail: r.error ?? '', expected: null, actual: null }];
    tally.add({ id: r.id, index: e.index, size: e.tree.size, findings: findings(list, impl, e.tree) });
  }
  await feed;
  await done;
}

export function toolVersion(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0]! : null;
}

export async function runDifferential(o: DiffOptions): Promise<DiffResult> {
  const msgDir = join(o.dir, 'messages');
  rmSync(o.dir, { recursive: true, force: true });
  mkdirSync(msgDir, { recursive: true });
  const expected = new Map<string, Expected>();
  for (let i = o.from; i < o.from + o.count; i++) {
    const g = generateMessage(o.seed, i);
    const tree = expectedTree(g);
    const file = join(msgDir, `${tree.id}.eml`);
    writeFileSync(file, g.encoded.bytes);
    expected.set(tree.id, { index: i, tree, texts: expectedTexts(g.generated.root), file });
  }
  const tallies = new Map<Impl, Tally>();
  const seconds = new Map<Impl, number>();
  const timed = async (impl: Impl, f: (t: Tally) => Promise<void>) => {
    const t = new Tally();
    tallies.set(impl, t);
    const t0 = performance.now();
    await f(t);
    seconds.set(impl, (performance.now() - t0) / 1000);
  };
  const python = toolVersion('python3', ['--version']) ?? '';
  const go = toolVersion('go', ['version']) ?? '';
  const jobs: Promise<void>[] = [];
  // The external adapters run as child processes while this thread works through the JS parsers.
  if (o.impls.includes('python')) {
    if (!python) throw new Error('python3 is not installed (Debian: python3)');
    jobs.push(timed('python', (t) => external('python3', [join(ADAPTERS, 'python_email.py')], expected, 'python', PYTHON_CAPS, t)));
  }
  if (o.impls.includes('go')) {
    if (!go) throw new Error('go is not installed (Debian: golang-go)');
    const bin = join(o.dir, 'go-harness');
    const b = spawnSync('go', ['build', '-o', resolve(bin), '.'], { cwd: join(ADAPTERS, 'go'), encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' } });
    if (b.status !== 0) throw new Error(`go build failed: ${b.stderr}`);
    jobs.push(timed('go', (t) => external(bin, [], expected, 'go', GO_CAPS, t)));
  }
  const bar = o.progress ? new cliProgress.SingleBar({ format: 'differential {bar} {value}/{total} | {impl}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 15000 }, cliProgress.Presets.shades_classic) : null;
  const inProcess: [Impl, (e: Expected, raw: Buffer) => Promise<Disagreement[]>][] = [];
  if (o.impls.includes('scop')) {
    inProcess.push(['scop', async (e, raw) => {
      const a = await analyseMime(raw, { guessLanguage: false });
      return a.parsed ? compareEntity(e.tree.root, mailparserTree(a.parsed), MAILPARSER_CAPS) : [{ class: 'parse.failed', path: '', detail: '', expected: null, actual: null }];
    }]);
  }
  if (o.impls.includes('postal-mime')) inProcess.push(['postal-mime', async (e, raw) => compareFlat(e.tree, await postalView(raw), POSTAL_CAPS, e.texts)]);
  for (const [impl, check] of inProcess) {
    await timed(impl, async (t) => {
      bar?.start(expected.size, 0, { impl });
      let n = 0;
      for (const [id, e] of expected) {
        try {
          const list = await check(e, readFileSync(e.file));
          t.add({ id, index: e.index, size: e.tree.size, findings: findings(list, impl, e.tree) });
        } catch (err) {
          t.error(e.index, err as Error, impl);
        }
        if (++n % 100 === 0) bar?.update(n, { impl });
      }
      bar?.update(n, { impl });
      bar?.stop();
    });
  }
  await Promise.all(jobs);
  // Keep the smallest example of each row next to the messages.
  for (const [impl, t] of tallies) {
    for (const r of t.rows.values()) {
      const ex = r.examples[0];
      const e = ex && expected.get(ex.id);
      if (!e) continue;
      const dir = join(o.dir, 'examples', impl);
      mkdirSync(dir, { recursive: true });
      copyFileSync(e.file, join(dir, `${r.cls}${r.known ? `.${r.known}` : ''}.eml`));
    }
  }
  return { tallies, seconds, python, go };
}

const cell = (v: unknown) => String(JSON.stringify(v) ?? '').replace(/\|/g, '\\|').slice(0, 90);

/** The table for corpus/README.md: implementation × class × messages, with the smallest example. */
export function markdownTable(r: DiffResult, count: number): string {
  const lines = ['| implementation | disagreement class | messages | smallest example |', '|---|---|---:|---|'];
  for (const impl of IMPLEMENTATIONS) {
    const t = r.tallies.get(impl);
    if (!t) continue;
    const rows = [...t.rows.values()].sort((a, b) => b.messages - a.messages);
    const same = t.messages - t.mismatched - t.documentedOnly;
    lines.push(`| **${LABELS[impl]}** | *equivalent to the expected tree* | ${same} of ${count} | |`);
    for (const row of rows) {
      const ex = row.examples[0]!;
      lines.push(`| | \`${row.cls}\`${row.known ? ` (documented: ${row.known})` : ''} | ${row.messages} | \`${ex.id}\` (${ex.size} B) at "${ex.path}" ${cell(ex.detail)}: expected ${cell(ex.expected)}, got ${cell(ex.actual)} |`);
    }
  }
  return lines.join('\n');
}
