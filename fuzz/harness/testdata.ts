/**
 * Finds the external test suites (`shared/testdata/`, beside the checkout): SCOP_TESTDATA, else the
 * first `shared/testdata` in the repository's parent folders. Returns null when there is none; every
 * target must then still run, from its committed seeds.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function findTestdata(root: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SCOP_TESTDATA) return existsSync(env.SCOP_TESTDATA) ? env.SCOP_TESTDATA : null;
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    const candidate = join(dir, 'shared', 'testdata');
    if (existsSync(join(candidate, 'README.md'))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

/** Files under `dir` (recursively) whose name passes `filter`, sorted; [] when the folder is missing. */
export function filesUnder(dir: string, filter: (name: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, filter));
    else if (filter(name)) out.push(p);
  }
  return out;
}
