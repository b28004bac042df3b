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
import { handoffKafkaSettings, loadIngressConfig } from './config.ts';
import { Limits } from './limits.ts';
import { LineEndingScanner } from './line-endings.ts';
import { clientPrefix } from './prefix.ts';
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
    assert.equal(c.maxHeaderBytes, 1024 * 1024, 'the header section is bounded at 1 MiB, as Exim');
    assert.equal(c.usersFile, '/tmp/d/ingress/users');
    assert.equal(c.tls, undefined);
    assert.deepEqual(c.limits, { maxSessions: { MX: 400, SUBMISSION: 100 }, maxSessionsPerPrefix: 20, maxMessagesPerPrefixPerMinute: 600, ipv4PrefixLength: 24, ipv6PrefixLength: 64 });
    assert.deepEqual(c.budget, { totalBytes: 256 * 1024 * 1024, perPrefixBytes: 64 * 1024 * 1024, submissionReservedBytes: 64 * 1024 * 1024 });
    assert.equal(c.clock.maxNoProgressCommands, 10);
    assert.equal(c.auth.hashConcurrency, 1);
    assert.deepEqual([c.policy.localDomains, c.policy.demoDomains], [['example.net', 'example.test'], true]);
    assert.deepEqual([c.policy.dnsbl.sites, c.policy.spfReject, c.policy.greylist.enabled, c.policy.recipientsFile], [[], false, false, undefined]);
    assert.deepEqual([c.kafkaProducers, c.kafkaClient], [2, undefined], 'two hand-off producers on the process\'s client library');
  });

  it('INGRESS_KAFKA_CLIENT picks the hand-off\'s client library; anything else names the key', () => {
    assert.equal(loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_KAFKA_CLIENT: 'platformatic' }, '/tmp/d').kafkaClient, 'platformatic');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_KAFKA_CLIENT: 'librdkafka' }).key, 'INGRESS_KAFKA_CLIENT');
    const settings = { brokers: ['127.0.0.1:9092'], clientId: 'scop', client: 'kafkajs' as const };
    assert.deepEqual(handoffKafkaSettings({ kafkaClient: 'platformatic' }, settings), { ...settings, client: 'platformatic' });
    assert.equal(handoffKafkaSettings({ kafkaClient: undefined }, settings), settings, 'unset: the process\'s settings as they are');
  });

  it('policy: local domains, DNSBL sites and the recipients file are checked at start', () => {
    const c = loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_LOCAL_DOMAINS: 'example.org, bücher.example', INGRESS_DNSBL_SITES: 'zen.example*3', INGRESS_DNS_SERVERS: '127.0.0.1:5353' }, '/tmp/d');
    assert.deepEqual([c.policy.localDomains, c.policy.demoDomains, c.policy.dns.servers], [['example.org', 'bücher.example'], false, ['127.0.0.1:5353']]);
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_LOCAL_DOMAINS: 'exa mple.org' }).key, 'INGRESS_LOCAL_DOMAINS');
    const bl = configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_DNSBL_SITES: 'zen.example*lots' });
    assert.equal(bl.key, 'INGRESS_DNSBL_SITES');
    assert.match(bl.message, /zen\.example\*lots/);
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_RECIPIENTS_FILE: '/nonexistent/recipients' }).key, 'INGRESS_RECIPIENTS_FILE');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_DNSBL_ACTION: 'drop' }).key, 'INGRESS_DNSBL_ACTION');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_DNS_SERVERS: 'resolver.local' }).key, 'INGRESS_DNS_SERVERS');
  });

  it('limits: renamed keys map with a warning; impossible combinations name the key', () => {
    const old = loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_CONNECTIONS_PER_IP: '7' }, '/tmp/d');
    assert.equal(old.limits.maxSessionsPerPrefix, 7);
    assert.match(old.warnings[0]!, /INGRESS_MAX_CONNECTIONS_PER_IP is deprecated .* INGRESS_MAX_SESSIONS_PER_PREFIX/);
    assert.deepEqual(old.warnings.length, 1);
    const few = loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_RECIPIENTS: '99' }, '/tmp/d');
    assert.equal(few.maxRecipients, 99, 'allowed, with a warning');
    assert.deepEqual(few.warnings, ["INGRESS_MAX_RECIPIENTS=99 is below RFC 5321's 100 (§4.5.3.1.8: refusing fewer violates it); clients get 452 4.5.3 and must retry the rest: set it to 100 or more"]);
    assert.deepEqual(loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_RECIPIENTS: '100' }, '/tmp/d').warnings, []);
    const split = configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_SESSIONS: '50' });
    assert.equal(split.key, 'INGRESS_MAX_SESSIONS');
    assert.match(split.message, /INGRESS_MAX_SESSIONS_MX and INGRESS_MAX_SESSIONS_SUBMISSION/);
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_INFLIGHT_BYTES: String(2 * 1024 * 1024) }).key, 'INGRESS_MAX_INFLIGHT_BYTES');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_SUBMISSION_RESERVED_BYTES: String(256 * 1024 * 1024) }).key, 'INGRESS_SUBMISSION_RESERVED_BYTES');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_IPV6_PREFIX_LENGTH: '129' }).key, 'INGRESS_IPV6_PREFIX_LENGTH');
    assert.equal(configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_AUTH_LOCKOUT_MAX_MS: '1000' }).key, 'INGRESS_AUTH_LOCKOUT_MAX_MS');
  });

  it('names the key and the fix for each invalid value', () => {
    assert.equal(configError({ INGRESS_MX_PORT: 'abc' }).key, 'INGRESS_MX_PORT');
    assert.equal(configError({ INGRESS_SUBMISSION_PORT: '70000' }).key, 'INGRESS_SUBMISSION_PORT');
    assert.equal(configError({ INGRESS_MAX_MESSAGE_BYTES: '10' }).key, 'INGRESS_MAX_MESSAGE_BYTES');
    for (const bad of ['100', '1MiB', '-1', '2.5']) {
      const e = configError({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_HEADER_BYTES: bad });
      assert.equal(e.key, 'INGRESS_MAX_HEADER_BYTES', bad);
      assert.match(e.message, /at least 1024 \(default 1048576 = 1 MiB/, 'the error says what to set');
    }
    assert.equal(loadIngressConfig({ INGRESS_HOSTNAME: 'mx.example.org', INGRESS_MAX_HEADER_BYTES: '65536' }, '/tmp/d').maxHeaderBytes, 65536);
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
  it('`scop users add` writes an argon2id hash (mode 0600) that verifies; a short password is refused', async () => {
    const file = join(testDataDir('users'), 'users');
    const added = await run(['users', 'add', 'carol@example.com', '--password-stdin', '--file', file], {}, 'a long enough secret\n');
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added carol@example\.com/);
    const hash = readUsers(file).get('carol@example.com')!;
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await verifyPassword('a long enough secret', hash), true);
    assert.equal(await verifyPassword('a long enough secreT', hash), false);
    assert.ok(!readFileSync(file, 'utf8').includes('a long enough secret'));

    const short = await run(['users', 'add', 'dave', '--password-stdin', '--file', file], {}, 'short\n');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8 characters/);

    const store = new UserStore(file);
    assert.deepEqual(await store.verify('carol@example.com', 'a long enough secret'), { ok: true, known: true, outdated: false });
    assert.deepEqual(await store.verify('nobody', 'a long enough secret'), { ok: false, known: false, outdated: false });
    // The ingress picks up changes without a restart.
    writeFileSync(file, '');
    assert.equal((await store.verify('carol@example.com', 'a long enough secret')).ok, false);
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
    for (const bad of ['', 'bad(host)', '-a.example', '[300.1.1.1]', '[2001:db8::1]', 'a..b', 'ex ample.com', 'exämple.com',
      // RFC 5321's IPv6-addr has no zone ID (node's isIPv6 takes one, of any length)
      '[IPv6:fe80::1%eth0]', `[IPv6:fe80::1%${'a'.repeat(16000)}]`]) assert.ok(!isValidHelo(bad), bad.slice(0, 40));
  });

  it('client prefixes: IPv4 /24 and IPv6 /64 by default, IPv4-mapped IPv6 as IPv4, lengths configurable', () => {
    const d = { ipv4PrefixLength: 24, ipv6PrefixLength: 64 };
    assert.equal(clientPrefix('192.0.2.77', d), '192.0.2.0/24');
    assert.equal(clientPrefix('::ffff:192.0.2.77', d), '192.0.2.0/24');
    assert.equal(clientPrefix('2001:db8:1:2:aaaa:bbbb:cccc:dddd', d), '2001:db8:1:2::/64');
    assert.equal(clientPrefix('2001:db8:1:2::1', d), clientPrefix('2001:db8:1:2:ffff:ffff:ffff:ffff', d));
    assert.notEqual(clientPrefix('2001:db8:1:2::1', d), clientPrefix('2001:db8:1:3::1', d));
    assert.equal(clientPrefix('192.0.2.77', { ipv4PrefixLength: 32, ipv6PrefixLength: 48 }), '192.0.2.77/32');
    assert.equal(clientPrefix('2001:db8:1:2::1', { ipv4PrefixLength: 32, ipv6PrefixLength: 48 }), '2001:db8:1::/48');
    assert.equal(clientPrefix('10.1.2.3', { ipv4PrefixLength: 20, ipv6PrefixLength: 64 }), '10.1.0.0/20');
  });

  it('message rate: a token bucket per pool and prefix', () => {
    const l = new Limits({ maxSessions: { MX: 10, SUBMISSION: 10 }, maxSessionsPerPrefix: 10, maxMessagesPerPrefixPerMinute: 60 });
    let now = 0;
    for (let i = 0; i < 60; i++) assert.ok(l.takeMessage('MX', 'p', now));
    assert.equal(l.takeMessage('MX', 'p', now), false);
    assert.ok(l.takeMessage('SUBMISSION', 'p', now), 'pools count separately');
    now += 1000;
    assert.ok(l.takeMessage('MX', 'p', now), 'one message per second refills');
    assert.equal(l.takeMessage('MX', 'p', now), false);
  });

  it('Received header per RFC 5321 4.4', () => {
    const h = receivedHeader({ helo: 'client.example', clientHostname: null, clientIp: '2001:db8::1', byHost: 'mx.example', recordId: 'ID1', tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' }, authenticated: true, smtpUtf8: false, rcptTo: ['a@b.example'], date: new Date(Date.UTC(2025, 10, 27, 3, 4, 5)) });
    assert.equal(h.toString(), 'Received: from client.example (unknown [IPv6:2001:db8::1])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tby mx.example (scop) with ESMTPSA id ID1\r\n\tfor <a@b.example>;\r\n\tThu, 27 Nov 2025 03:04:05 +0000\r\n');
  });
});
