/**
 * The corpus as its own package: `npm pack` builds it (prepack), it installs into an empty folder
 * outside the repository, and its CLI runs there — generating the same messages as the source
 * does here, verifying the golden set it ships, and checking a parser's JSONL.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { expectedTree } from './src/expected.ts';
import { generateMessage } from './src/generate.ts';

const here = import.meta.dirname;
const tmp = mkdtempSync(join(tmpdir(), 'scop-mail-corpus-pack-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('scop-mail-corpus as a package', () => {
  it('packs, installs outside the repository, and its CLI works there', { timeout: 240_000 }, () => {
    execFileSync('npm', ['pack', '--pack-destination', tmp, '--silent'], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'npm pack wrote a tarball');
    const listing = execFileSync('tar', ['tzf', join(tmp, tgz)], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/dist/cli.js', 'package/dist/index.js', 'package/schema/tree.schema.json', 'package/golden/golden.mbox.gz', 'package/adapters/python_email.py', 'package/adapters/go/main.go', 'package/LICENSE', 'package/README.md']) assert.ok(listing.includes(f), f);
    assert.ok(!listing.some((f) => /harness|spam-assassin|\.test\.|src\//.test(f)), 'only the package ships');

    const app = join(tmp, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), '{"name":"app","private":true}\n');
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', join(tmp, tgz)], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] });
    const cli = join(app, 'node_modules', '.bin', 'scop-mail-corpus');
    const run = (...args: string[]) => spawnSync(cli, args, { cwd: app, encoding: 'utf8' });

    const gen = run('generate', '--seed', 'pack', '--count', '40', '--format', 'jsonl', '--out', 'out.jsonl', '--quiet');
    assert.equal(gen.status, 0, gen.stderr);
    const lines = readFileSync(join(app, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; message: string; tree: { root: unknown } });
    assert.equal(lines.length, 40);
    for (const [i, l] of lines.entries()) {
      const g = generateMessage('pack', i);
      assert.equal(l.message, g.encoded.bytes.toString('base64'), `message ${i} as the source generates it`);
      assert.deepEqual(l.tree, JSON.parse(JSON.stringify(expectedTree(g))));
    }

    const verified = run('verify-golden');
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /golden set verified/);

    // check: a reading equal to the trees passes; one wrong subject fails and is named.
    writeFileSync(join(app, 'trees.jsonl'), lines.map((l) => JSON.stringify(l.tree)).join('\n') + '\n');
    const parsed = lines.map((l) => ({ id: l.id, tree: l.tree.root }));
    writeFileSync(join(app, 'same.jsonl'), parsed.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const same = run('check', '--expected', 'trees.jsonl', '--actual', 'same.jsonl');
    assert.equal(same.status, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /40 messages compared, 0 differ/);
    const broken = parsed.map((p, i) => (i === 3 ? { id: p.id, error: 'cannot parse' } : p));
    writeFileSync(join(app, 'broken.jsonl'), broken.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const bad = run('check', '--expected', 'trees.jsonl', '--actual', 'broken.jsonl');
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /1 differ[\s\S]*parse\.failed/);

    const usage = run('generate', '--count', 'many', '--out', 'x');
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--count must be a whole number/);
  });
});
