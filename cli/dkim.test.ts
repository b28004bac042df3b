/**
 * `scop dkim keygen` as an operator runs it: the key lands in the key directory the stage reads,
 * the printed zone line, published on a real DNS server (Knot), verifies what the stage signs
 * (dkimpy and mailauth); bad arguments and an existing key are refused with exit 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KnotServer, KNOTD } from '../infra/dns/knot.ts';
import { loadDkimSignConfig } from '../processors/dkim-sign/config.ts';
import { signMessage } from '../processors/dkim-sign/sign.ts';
import { dkimpyMissing, dkimpyVerify, mailauthVerify } from '../processors/dkim-sign/testing/verifiers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'scop-keygen-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const scop = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DKIM_KEY_DIR: dir } });

test('keygen rsa + ed25519 → the stage dual-signs, the published records verify', { skip: !KNOTD ? 'knotd not installed' : dkimpyMissing(), timeout: 60000 }, async () => {
  const rsa = scop('dkim', 'keygen', '--domain', 'Keys.Example.test', '--selector', 'r2024');
  assert.equal(rsa.status, 0, rsa.stderr);
  const ed = scop('dkim', 'keygen', '--domain', 'keys.example.test', '--selector', 'e2024', '--type', 'ed25519');
  assert.equal(ed.status, 0, ed.stderr);
  assert.equal(statSync(join(dir, 'keys.example.test', 'r2024.pem')).mode & 0o777, 0o600);
  const records = [rsa.stdout, ed.stdout].map((out) => {
    const m = /^(\S+)\. IN TXT \( (.*) \)$/m.exec(out)!;
    return { name: m[1]!, type: 'TXT' as const, value: [...m[2]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('') };
  });
  assert.match(records[0]!.value, /^v=DKIM1; k=rsa; p=MIIBIjAN/);
  assert.match(records[1]!.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);

  const knot = await new KnotServer().start({ test: records });
  try {
    const config = loadDkimSignConfig({ DKIM_KEY_DIR: dir, DKIM_SENDERS: '{"u":["keys.example.test"]}' });
    const m = Buffer.from('From: u@keys.example.test\r\nTo: x@example.net\r\nSubject: keygen\r\n\r\nhi\r\n');
    const { section } = await signMessage(m, { config, authUser: 'u' });
    const signed = Buffer.concat([Buffer.from(section.headers), m]);
    const server = { host: '127.0.0.1', port: knot.port };
    assert.deepEqual((await dkimpyVerify(signed, server)).map((r) => [r.a, r.ok]), [['rsa-sha256', true], ['ed25519-sha256', true]]);
    assert.deepEqual((await mailauthVerify(signed, server)).map((r) => r.result), ['pass', 'pass']);
  } finally {
    await knot.stop();
  }
});

test('keygen refuses an existing key, a bad domain, selector or type (exit 2, one line)', () => {
  scop('dkim', 'keygen', '--domain', 'again.test', '--selector', 's', '--type', 'ed25519');
  for (const args of [
    ['--domain', 'again.test', '--selector', 's', '--type', 'ed25519'],
    ['--domain', 'not a domain', '--selector', 's'],
    ['--domain', 'a.test', '--selector', 'bad_selector!'],
    ['--domain', 'a.test', '--selector', 's', '--type', 'dsa'],
    ['--domain', 'a.test', '--selector', 's', '--bits', '512'],
  ]) {
    const r = scop('dkim', 'keygen', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^config error: --\w+: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.equal(scop('dkim', 'keygen', '--domain', 'again.test', '--selector', 's', '--type', 'ed25519', '--force').status, 0);
});

test('keygen --force replaces a key atomically and always as 0600 (not the replaced file\'s 0644, not in place)', () => {
  assert.equal(scop('dkim', 'keygen', '--domain', 'mode.test', '--selector', 's', '--type', 'ed25519').status, 0);
  const file = join(dir, 'mode.test', 's.pem');
  chmodSync(file, 0o644);
  const before = statSync(file);
  const oldPem = readFileSync(file, 'utf8');
  const r = scop('dkim', 'keygen', '--domain', 'mode.test', '--selector', 's', '--type', 'ed25519', '--force');
  assert.equal(r.status, 0, r.stderr);
  const now = statSync(file);
  assert.equal(now.mode & 0o777, 0o600);
  assert.notEqual(now.ino, before.ino, 'a new file renamed over the old one, not the old one rewritten in place');
  assert.notEqual(readFileSync(file, 'utf8'), oldPem);
  assert.deepEqual(readdirSync(join(dir, 'mode.test')).sort(), ['s.pem', 's.txt'], 'no temporary file left behind');
});
