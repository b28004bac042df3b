/**
 * Where the external test suites live (`shared/testdata/`: SPF, DKIM/ARC vectors, MIME corpora,
 * smuggling sequences). They are read in place and never copied into the repository, so a checkout
 * without them (a fresh clone anywhere) must still pass: suites that need them skip with a reason.
 *
 * Lookup: SCOP_TESTDATA if set (must exist), else the first `shared/testdata` (with its README.md) in
 * the checkout's parent folders — which also finds it from a git worktree nested under the project.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHECKOUT = dirname(dirname(fileURLToPath(import.meta.url)));

export function findTestdata(root: string = CHECKOUT, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SCOP_TESTDATA) return existsSync(env.SCOP_TESTDATA) ? env.SCOP_TESTDATA : null;
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    const candidate = join(dir, 'shared', 'testdata');
    if (existsSync(join(candidate, 'README.md'))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

/** The suites' folder for this checkout, or null when it is absent. */
export const TESTDATA: string | null = findTestdata();

/**
 * A node:test `skip` option: false when every named suite folder is present, else the reason to
 * print. Use it on the describe/test that reads them and read the files inside its body.
 */
export function skipWithoutTestdata(...suites: string[]): string | false {
  if (!TESTDATA) return 'external test suites absent: put shared/testdata beside the checkout or set SCOP_TESTDATA';
  const missing = suites.filter((s) => !existsSync(join(TESTDATA!, s)));
  return missing.length ? `external test suite(s) ${missing.join(', ')} absent under ${TESTDATA}` : false;
}

/** A path inside the suites; throws when they are absent (call it only under skipWithoutTestdata). */
export function testdataPath(...parts: string[]): string {
  if (!TESTDATA) throw new Error('external test suites absent (SCOP_TESTDATA or ../shared/testdata)');
  return join(TESTDATA, ...parts);
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
