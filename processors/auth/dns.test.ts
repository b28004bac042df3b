/** The stage's resolver against real DNS over UDP/TCP (in-process authoritative server). */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../runtime/config.ts';
import { loadAuthConfig } from './config.ts';
import { DnsError, DnsResolver, emptyStats, type DnsOptions } from './dns.ts';
import { parseDnsServers as parseServers } from '../../runtime/config.ts';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';

const dns = new TestDnsServer();
before(() => dns.start());
after(() => dns.stop());

const make = (over: Partial<DnsOptions> = {}) => new DnsResolver({ servers: [{ host: '127.0.0.1', port: dns.port }], timeoutMs: 300, retries: 0, cacheSize: 100, maxTtl: 3600, ...over });
const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

describe('answers', () => {
  test('shapes like node:dns resolve(), TXT strings joined per record by the caller', async () => {
    dns.clear();
    dns.add('a.test', { type: 'A', data: '192.0.2.1' }).add('a.test', { type: 'TXT', data: ['v=spf1 ', '-all'] })
      .add('a.test', { type: 'MX', data: { preference: 5, exchange: 'mx.a.test' } }).add('a.test', { type: 'AAAA', data: '2001:db8::1' });
    const r = make();
    assert.deepEqual(await r.resolve('A.Test.', 'A'), ['192.0.2.1']);
    assert.deepEqual(await r.resolve('a.test', 'TXT'), [['v=spf1 ', '-all']]);
    assert.deepEqual(await r.resolve('a.test', 'MX'), [{ exchange: 'mx.a.test', priority: 5 }]);
    assert.deepEqual(await r.resolve('a.test', 'AAAA'), ['2001:db8::1']);
  });
  test('NXDOMAIN → ENOTFOUND, no record of the type → ENODATA, SERVFAIL → ESERVFAIL', async () => {
    dns.clear();
    dns.add('a.test', { type: 'A', data: '192.0.2.1' }).set('broken.test', 'servfail');
    const r = make();
    assert.equal(await codeOf(r.resolve('nope.test', 'A')), 'ENOTFOUND');
    assert.equal(await codeOf(r.resolve('a.test', 'TXT')), 'ENODATA');
    assert.equal(await codeOf(r.resolve('broken.test', 'TXT')), 'ESERVFAIL');
  });
  test('a negative answer is a DnsError with code, name, type and message, built without a stack trace (the setting is restored)', async () => {
    dns.clear();
    const limit = Error.stackTraceLimit;
    const e = await make().resolve('nope.test', 'TXT').then(() => null, (err: unknown) => err);
    assert.ok(e instanceof DnsError && e instanceof Error);
    assert.deepEqual({ name: e.name, code: e.code, hostname: e.hostname, rrtype: e.rrtype, message: e.message }, { name: 'DnsError', code: 'ENOTFOUND', hostname: 'nope.test', rrtype: 'TXT', message: 'TXT nope.test: ENOTFOUND' });
    // No frames: capturing them through the stage's async frames cost ~8 % of the auth stage's CPU.
    assert.doesNotMatch(String(e.stack), /\n\s+at /);
    assert.equal(Error.stackTraceLimit, limit);
    assert.match(String(new Error('other').stack), /\n\s+at /);
  });
  test('a name that cannot exist (64-octet label) is NXDOMAIN without a query', async () => {
    dns.clear();
    const stats = emptyStats();
    assert.equal(await codeOf(make().resolve(`${'a'.repeat(64)}.test`, 'TXT', stats)), 'ENOTFOUND');
    assert.equal(stats.queries, 0);
  });
  test('a truncated UDP answer is asked again over TCP', async () => {
    dns.clear();
    for (let i = 0; i < 20; i++) dns.add('big.test', { type: 'TXT', data: `record ${i} ${'x'.repeat(200)}` });
    const got = await make().resolve('big.test', 'TXT');
    assert.equal(got.length, 20);
  });
});

describe('timeouts and retries', () => {
  test('no answer → ETIMEOUT after timeout × (retries + 1), counted', async () => {
    dns.clear();
    dns.set('slow.test', 'timeout');
    const stats = emptyStats();
    const t0 = Date.now();
    assert.equal(await codeOf(make({ timeoutMs: 100, retries: 2 }).resolve('slow.test', 'TXT', stats)), 'ETIMEOUT');
    assert.ok(Date.now() - t0 >= 290);
    assert.deepEqual([stats.queries, stats.timeouts], [3, 3]);
  });
  test('a retry goes to the next server', async () => {
    dns.clear();
    dns.add('a.test', { type: 'A', data: '192.0.2.1' });
    const hole = createSocket('udp4');
    await new Promise<void>((ok) => hole.bind(0, '127.0.0.1', () => ok()));
    try {
      const r = make({ servers: [{ host: '127.0.0.1', port: hole.address().port }, { host: '127.0.0.1', port: dns.port }], timeoutMs: 100, retries: 1 });
      const stats = emptyStats();
      assert.deepEqual(await r.resolve('a.test', 'A', stats), ['192.0.2.1']);
      assert.deepEqual([stats.queries, stats.timeouts], [2, 1]);
    } finally {
      hole.close();
    }
  });
  test('an aborted signal ends a lookup at once as ETIMEOUT', async () => {
    dns.clear();
    dns.set('slow.test', 'timeout');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    assert.equal(await codeOf(make({ timeoutMs: 5000 }).resolve('slow.test', 'A', emptyStats(), ac.signal)), 'ETIMEOUT');
    assert.ok(Date.now() - t0 < 1000);
  });
});

describe('cache', () => {
  test('honours the record TTL', async () => {
    dns.clear();
    dns.add('ttl.test', { type: 'A', data: '192.0.2.1', ttl: 1 });
    const r = make();
    const s1 = emptyStats();
    await r.resolve('ttl.test', 'A', s1);
    dns.set('ttl.test', [{ type: 'A', data: '192.0.2.2', ttl: 1 }]);
    const s2 = emptyStats();
    assert.deepEqual(await r.resolve('ttl.test', 'A', s2), ['192.0.2.1'], 'cached');
    assert.equal(s2.cacheHits, 1);
    await sleep(1100);
    assert.deepEqual(await r.resolve('ttl.test', 'A'), ['192.0.2.2'], 'expired and asked again');
  });
  test('caches NXDOMAIN / NODATA for the SOA negative TTL, not SERVFAIL or timeouts', async () => {
    dns.clear();
    dns.negativeTtl = 1;
    dns.set('broken.test', 'servfail');
    const r = make();
    const s = emptyStats();
    await codeOf(r.resolve('neg.test', 'TXT', s));
    await codeOf(r.resolve('neg.test', 'TXT', s));
    assert.deepEqual([s.lookups, s.queries], [2, 1], 'negative answer cached');
    dns.add('neg.test', { type: 'TXT', data: 'now here' });
    await sleep(1100);
    assert.deepEqual(await r.resolve('neg.test', 'TXT'), [['now here']], 'negative entry expired');
    const f = emptyStats();
    await codeOf(r.resolve('broken.test', 'TXT', f));
    await codeOf(r.resolve('broken.test', 'TXT', f));
    assert.equal(f.queries, 2, 'SERVFAIL not cached');
    dns.negativeTtl = 300;
  });
  test('bounded: the least recently used entry goes first', async () => {
    dns.clear();
    for (let i = 0; i < 5; i++) dns.add(`h${i}.test`, { type: 'A', data: `192.0.2.${i}` });
    const r = make({ cacheSize: 3 });
    for (let i = 0; i < 5; i++) await r.resolve(`h${i}.test`, 'A');
    assert.equal(r.cacheEntries, 3);
    const s = emptyStats();
    await r.resolve('h4.test', 'A', s);
    await r.resolve('h0.test', 'A', s);
    assert.deepEqual([s.cacheHits, s.queries], [1, 1]);
  });
  test('concurrent identical lookups share one query', async () => {
    dns.clear();
    dns.add('same.test', { type: 'A', data: '192.0.2.1' });
    const s = emptyStats();
    const r = make();
    await Promise.all([r.resolve('same.test', 'A', s), r.resolve('same.test', 'A', s), r.resolve('same.test', 'A', s)]);
    assert.equal(s.queries, 1);
  });
});

describe('config', () => {
  test('parses servers with ports and IPv6', () => {
    assert.deepEqual(parseServers('127.0.0.1:5300, [::1]:53, 10.0.0.1'), [{ host: '127.0.0.1', port: 5300 }, { host: '::1', port: 53 }, { host: '10.0.0.1', port: 53 }]);
  });
  test('a bad DNS_SERVERS names the key and the fix', () => {
    assert.throws(() => loadAuthConfig({ DNS_SERVERS: 'resolver.local' }), (e: unknown) => e instanceof ConfigError && e.key === 'DNS_SERVERS' && /IP\[:port\]/.test(e.message));
    assert.throws(() => loadAuthConfig({ DNS_TIMEOUT_MS: 'soon' }), (e: unknown) => e instanceof ConfigError && e.key === 'DNS_TIMEOUT_MS');
  });
  test('defaults', () => {
    const c = loadAuthConfig({});
    assert.deepEqual([c.dns.timeoutMs, c.dns.retries, c.dns.servers], [2000, 2, [{ host: '127.0.0.1', port: 53 }]]);
  });
});
