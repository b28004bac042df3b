/**
 * `npm run corpus -- <command>`: the corpus tools that use scop's own parser and the other
 * implementations. The corpus package's own CLI (generate, check) is corpus/src/cli.ts.
 *
 *   roundtrip --count N [--seed S] [--from K] [--workers W] [--json FILE]
 *   diff --count N [--seed S] [--impl scop,postal-mime,python,go] [--dir DIR]
 */
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { runPool, defaultWorkers } from './pool.ts';
import { rowsTable, summary } from './report.ts';
import { IMPLEMENTATIONS, LABELS, markdownTable, runDifferential, type Impl } from './differential.ts';

const int = (name: string) => (v: string) => {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
  return n;
};

const program = new Command('corpus').description('scop mail corpus: round trip through the pipeline parser, differential tests');

program.command('roundtrip')
  .description('generate messages, parse them with the MIME stage, compare with the expected trees, re-encode the parse, parse and compare again')
  .option('--count <n>', 'messages', int('--count'), 10_000)
  .option('--from <n>', 'first index', int('--from'), 0)
  .option('--seed <seed>', 'generator seed', 'scop')
  .option('--max-depth <n>', 'deepest nesting generated (the parser limit)', int('--max-depth'), 20)
  .option('--workers <n>', 'worker threads', int('--workers'), defaultWorkers())
  .option('--json <file>', 'write the full tally as JSON')
  .option('--no-progress', 'no progress bar')
  .action(async (o: { count: number; from: number; seed: string; maxDepth: number; workers: number; json?: string; progress: boolean }) => {
    const r = await runPool({
      worker: new URL('./worker.ts', import.meta.url),
      workerData: { seed: o.seed, maxDepth: o.maxDepth },
      count: o.count, from: o.from, workers: o.workers, label: 'roundtrip', progress: o.progress,
    });
    const t = r.tally;
    console.log(`roundtrip seed "${o.seed}" [${o.from}, ${o.from + o.count}) on ${o.workers} worker(s), node ${process.version}`);
    console.log(summary(t));
    const perMessage = (s: number) => ((s / t.messages) * 1000).toFixed(2);
    console.log(`time ${r.seconds.toFixed(1)} s, ${(t.messages / r.seconds).toFixed(0)} messages/s; CPU ${r.cpuSeconds.toFixed(1)} s (${perMessage(r.cpuSeconds)} ms per message; the workers' checking ${perMessage(r.workerCpuSeconds)} ms)`);
    if (t.rows.size) console.log(rowsTable([...t.rows.values()]));
    if (o.json) writeFileSync(o.json, JSON.stringify({ seed: o.seed, from: o.from, count: o.count, seconds: r.seconds, cpuSeconds: r.cpuSeconds, workerCpuSeconds: r.workerCpuSeconds, ...t.toJSON() }, null, 1));
    process.exitCode = t.mismatched > 0 ? 1 : 0;
  });

program.command('diff')
  .description('read the same generated messages with scop, postal-mime, Python email and Go, compare each with the expected trees')
  .option('--count <n>', 'messages', int('--count'), 2_000)
  .option('--from <n>', 'first index', int('--from'), 0)
  .option('--seed <seed>', 'generator seed', 'scop')
  .option('--impl <list>', `implementations, comma-separated (${IMPLEMENTATIONS.join(', ')})`, IMPLEMENTATIONS.join(','))
  .option('--dir <dir>', 'work folder: messages, the Go harness, minimal examples', '.data/corpus-diff')
  .option('--no-progress', 'no progress bar')
  .action(async (o: { count: number; from: number; seed: string; impl: string; dir: string; progress: boolean }) => {
    const impls = o.impl.split(',').map((s) => s.trim()) as Impl[];
    for (const i of impls) if (!IMPLEMENTATIONS.includes(i)) throw new InvalidArgumentError(`--impl: unknown implementation "${i}" (known: ${IMPLEMENTATIONS.join(', ')})`);
    const r = await runDifferential({ seed: o.seed, count: o.count, from: o.from, impls, dir: o.dir, progress: o.progress });
    console.log(`differential: seed "${o.seed}" [${o.from}, ${o.from + o.count}); node ${process.version}; ${r.python}; ${r.go}`);
    for (const [impl, t] of r.tallies) console.log(`  ${LABELS[impl]}: ${summary(t)} (${r.seconds.get(impl)!.toFixed(1)} s)`);
    const table = markdownTable(r, o.count);
    writeFileSync(`${o.dir}/table.md`, table + '\n');
    console.log(table);
    console.log(`minimal examples: ${o.dir}/examples/<implementation>/<class>.eml`);
  });

await program.parseAsync(process.argv);
