/** `npm run bench -- <name> [args…]`: runs bench/<name>.ts (each prints ratios against a baseline measured in the same run). */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const available = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts')).map((f) => f.slice(0, -3)).sort();
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name) || !existsSync(join(dir, `${name}.ts`))) {
  console.error(`usage: npm run bench -- <name> [args…]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name ? 2 : 0);
}
// --expose-gc: benches that report memory collect first, so the figure is the live size, not GC timing.
const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(dir, `${name}.ts`), ...args], { stdio: 'inherit' });
process.exit(res.status ?? 1);
