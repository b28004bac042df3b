/**
 * Configuration errors (one line naming the key, exit 2), the users file and `scop users add`,
 * the smuggling line-ending scanner and the Received header.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../runtime/config.ts';
import { loadIngressConfig } from './config.ts';
import { LineEndingScanner } from './line-endings.ts';
import { receivedHeader } from './received.ts';
import { isValidHelo } from './syntax.ts';
import { ROOT, testDataDir } from './testkit.ts';
import { readUsers, UserStore, verifyPassword } from './users.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadIngressConfig(env, '/tmp/scop-ingress-config-test');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('no ConfigError');
}

function run(args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdin.end(input ?? '');
    child.once('close', (code) => ok({ code, stdout, stderr }));
  });
}

describe('ingress configuration', () => {
  it('has the documented defaults', () => {
    const c = loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org' }, '/tmp/d');
    assert.deepEqual(c.mx, { host: '127.0.0.1', port: 2525 });
    assert.deepEqual(c.submission, { host: '127.0.0.1', port: 2587 });
    assert.equal(c.submissions, undefined, 'implicit TLS is off by default');
    assert.equal(c.maxMessageBytes, 25 * 1024 * 1024);
    assert.equal(c.usersFile, '/tmp/d/ingress/users');
    assert.equal(c.tls, undefined);
  });

  it('names the key and the fix for each invalid value', () => {
    assert.equal(configError({ INGRESS_MX_PORT: 'abc' }).key, 'INGRESS_MX_PORT');
    assert.equal(configError({ INGRESS_SUBMISSION_PORT: '70000' }).key, 'INGRESS_SUBMISSION_PORT');
    assert.equal(configError({ INGRESS_MAX_MESSAGE_BYTES: '10' }).key, 'INGRESS_MAX_MESSAGE_BYTES');
    assert.equal(configError({ INGRESS_REVERSE_DNS: 'maybe' }).key, 'INGRESS_REVERSE_DNS');
    assert.equal(configError({ INGRESS_HOSTNAME: 'bad host!' }).key, 'INGRESS_HOSTNAME');
    const same = configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_SUBMISSION_PORT: '2525' });
    assert.equal(same.key, 'INGRESS_SUBMISSION_PORT');
    assert.match(same.message, /also used by INGRESS_MX_PORT/);
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_TLS_CERT_FILE: '/etc/hostname' }).key, 'INGRESS_TLS_KEY_FILE');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_TLS_CERT_FILE: '/nope.crt', INGRESS_TLS_KEY_FILE: '/nope.key' }).key, 'INGRESS_TLS_CERT_FILE');
  });

  it('`scop run ingress` with a bad value exits 2 with one line', async () => {
    const r = await run(['run', 'ingress'], { INGRESS_MX_PORT: 'twenty-five', INGRESS_METRICS_PORT: '1' });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^config error: INGRESS_MX_PORT: .*twenty-five.* — a TCP port/);
  });
});

describe('submission users', () => {
  it('`scop users add` writes a scrypt hash (mode 0600) that verifies; a short password is refused', async () => {
    const file = join(testDataDir('users'), 'users');
    const added = await run(['users', 'add', 'carol@example.com', '--password-stdin', '--file', file], {}, 'a long enough secret\n');
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added carol@example\.com/);
    const hash = readUsers(file).get('carol@example.com')!;
    assert.match(hash, /^\$scrypt\$ln=15,r=8,p=1\$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await verifyPassword('a long enough secret', hash), true);
    assert.equal(await verifyPassword('a long enough secreT', hash), false);
    assert.ok(!readFileSync(file, 'utf8').includes('a long enough secret'));

    const short = await run(['users', 'add', 'dave', '--password-stdin', '--file', file], {}, 'short\n');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8 characters/);

    const store = new UserStore(file);
    assert.equal(await store.verify('carol@example.com', 'a long enough secret'), true);
    assert.equal(await store.verify('nobody', 'a long enough secret'), false);
    // The ingress picks up changes without a restart.
    writeFileSync(file, '');
    assert.equal(await store.verify('carol@example.com', 'a long enough secret'), false);
  });
});

describe('building blocks', () => {
  it('the line-ending scanner finds bare CR, bare LF and NUL across chunk boundaries', () => {
    const scan = (...chunks: string[]) => {
      const s = new LineEndingScanner();
      for (const c of chunks) s.push(Buffer.from(c, 'latin1'));
      return s.finish();
    };
    assert.equal(scan('a\r\nb\r\n'), undefined);
    assert.equal(scan('a\r', '\nb\r\n'), undefined);
    assert.equal(scan('a\r', 'b\r\n'), 'bare-cr');
    assert.equal(scan('a\r'), 'bare-cr');
    assert.equal(scan('a\n'), 'bare-lf');
    assert.equal(scan('a\r\n', '\nb'), 'bare-lf');
    assert.equal(scan('a\r\n\r\n'), undefined);
    assert.equal(scan('a\x00\r\n'), 'nul');
  });

  it('HELO syntax: domains and address literals', () => {
    for (const ok of ['mail.example.com', 'localhost', 'host_1.example', '[192.0.2.1]', '[IPv6:2001:db8::1]', 'example.com.']) assert.ok(isValidHelo(ok), ok);
    for (const bad of ['', 'bad(host)', '-a.example', '[300.1.1.1]', '[2001:db8::1]', 'a..b', 'ex ample.com', 'exämple.com']) assert.ok(!isValidHelo(bad), bad);
  });

  it('Received header per RFC 5321 4.4', () => {
    const h = receivedHeader({ helo: 'client.example', clientHostname: null, clientIp: '2001:db8::1', byHost: 'mx.example', recordId: 'ID1', tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' }, authenticated: true, smtpUtf8: false, rcptTo: ['a@b.example'], date: new Date(Date.UTC(2025, 10, 27, 3, 4, 5)) });
    assert.equal(h.toString(), 'Received: from client.example (unknown [IPv6:2001:db8::1])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tby mx.example (scop) with ESMTPSA id ID1\r\n\tfor <a@b.example>;\r\n\tThu, 27 Nov 2025 03:04:05 +0000\r\n');
  });
});
