/**
 * MTA-STS decisions: MX pattern matching (RFC 8461 §4.1), and the policy cache over a real HTTPS
 * fetch (a loopback server with a certificate from a test CA) — fetched once, kept until max_age,
 * refetched when the TXT id changes, kept when the TXT record goes away or the fetch fails, and
 * not used when the certificate is untrusted, the answer is a redirect or not text/plain.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { loggerFor } from '../../runtime/log.ts';
import { MtaStsPolicies, mxMatches } from './mta-sts.ts';
import { createResolver, type Dns } from './mx.ts';
import { PolicyServer, TestCa } from './testing.ts';

const dns = new TestDnsServer();
const server = new PolicyServer();
let ca: TestCa;
let resolver: Dns;
const policy = (mode: string, mx: string[], maxAge = 86400) => `version: STSv1\r\nmode: ${mode}\r\n${mx.map((m) => `mx: ${m}\r\n`).join('')}max_age: ${maxAge}\r\n`;

before(async () => {
  ca = await TestCa.create();
  const names = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => `mta-sts.${x}.sts.test`);
  await server.start(await ca.issue(names));
  await dns.start();
  for (const n of names) dns.add(n, { type: 'A', data: '127.0.0.1' });
  resolver = createResolver({ servers: [dns.address], timeoutMs: 500 });
});
after(async () => {
  await server.stop();
  await dns.stop();
});

const policies = (now: () => number, trust = true) => new MtaStsPolicies({
  dns: resolver, ca: trust ? [ca.cert] : [], timeoutMs: 2000, log: loggerFor('mta-sts-test'), now,
  urlTemplate: `https://mta-sts.{domain}:${server.port}/.well-known/mta-sts.txt`,
});

test('MX patterns: exact names, and *. for exactly one label', () => {
  const p = { mode: 'enforce' as const, mx: ['mail.example.com', '*.mx.example.net'] };
  assert.equal(mxMatches('mail.example.com', p), true);
  assert.equal(mxMatches('MAIL.example.com.'.replace(/\.$/, ''), p), true);
  assert.equal(mxMatches('mx1.mx.example.net', p), true);
  assert.equal(mxMatches('a.b.mx.example.net', p), false, 'the wildcard covers one label only');
  assert.equal(mxMatches('mx.example.net', p), false, 'the wildcard needs a label');
  assert.equal(mxMatches('evilmail.example.com', p), false);
  assert.equal(mxMatches('other.example.org', { mode: 'none', mx: [] }), true);
});

test('policy fetched once and cached until max_age; a new TXT id refetches; a withdrawn TXT keeps the cached one', async () => {
  let now = 1_000_000;
  const p = policies(() => now);
  dns.add('_mta-sts.a.sts.test', { type: 'TXT', data: 'v=STSv1; id=1' });
  server.policies.set('mta-sts.a.sts.test', { body: policy('enforce', ['mx.a.sts.test'], 600) });
  const first = await p.lookup('a.sts.test');
  assert.equal(first.source, 'fetched');
  assert.deepEqual([first.policy?.mode, first.policy?.mx, first.policy?.expiresAt], ['enforce', ['mx.a.sts.test'], now + 600_000]);
  const fetches = () => server.requests.filter((r) => r.startsWith('mta-sts.a.')).length;
  assert.equal(fetches(), 1);
  assert.equal((await p.lookup('a.sts.test')).source, 'cached');
  assert.equal(fetches(), 1, 'no fetch while the id is unchanged and the policy fresh');

  server.policies.set('mta-sts.a.sts.test', { body: policy('testing', ['mx2.a.sts.test'], 600) });
  dns.set('_mta-sts.a.sts.test', [{ type: 'TXT', data: 'v=STSv1; id=2' }]);
  const changed = await p.lookup('a.sts.test');
  assert.deepEqual([changed.source, changed.policy?.mode, changed.policy?.id], ['fetched', 'testing', '2']);

  dns.set('_mta-sts.a.sts.test', [{ type: 'TXT', data: 'unrelated' }]);
  assert.equal((await p.lookup('a.sts.test')).source, 'cached', 'TXT gone: the cached policy applies until max_age');
  now += 601_000;
  assert.deepEqual(await p.lookup('a.sts.test'), { policy: null, source: 'none' }, 'expired and no TXT: no policy');
});

test('fetch failures: cached policy kept; without one, delivery goes on as if there were none', async () => {
  let now = 2_000_000;
  const p = policies(() => now);
  dns.add('_mta-sts.b.sts.test', { type: 'TXT', data: 'v=STSv1; id=1' });
  server.policies.set('mta-sts.b.sts.test', { body: policy('enforce', ['mx.b.sts.test']) });
  assert.equal((await p.lookup('b.sts.test')).source, 'fetched');
  dns.set('_mta-sts.b.sts.test', [{ type: 'TXT', data: 'v=STSv1; id=2' }]);
  server.policies.set('mta-sts.b.sts.test', { body: 'garbage', status: 500 });
  const kept = await p.lookup('b.sts.test');
  assert.deepEqual([kept.source, kept.policy?.mode, kept.policy?.id], ['cached', 'enforce', '1']);
  assert.match(kept.error!, /HTTP 500/);

  dns.add('_mta-sts.c.sts.test', { type: 'TXT', data: 'v=STSv1; id=1' });
  server.policies.set('mta-sts.c.sts.test', { body: policy('enforce', ['mx.c.sts.test']), status: 301 });
  const redirect = await p.lookup('c.sts.test');
  assert.deepEqual([redirect.source, redirect.policy], ['unavailable', null]);
  assert.match(redirect.error!, /HTTP 301 \(redirects are not followed\)/);

  dns.add('_mta-sts.d.sts.test', { type: 'TXT', data: 'v=STSv1; id=1' });
  server.policies.set('mta-sts.d.sts.test', { body: policy('enforce', ['mx.d.sts.test']), type: 'text/html' });
  assert.match((await p.lookup('d.sts.test')).error!, /Content-Type text\/html, not text\/plain/);

  dns.add('_mta-sts.e.sts.test', { type: 'TXT', data: 'v=STSv1; id=1' });
  server.policies.set('mta-sts.e.sts.test', { body: 'version: STSv1\r\nmode: enforce\r\nmax_age: 100\r\n' });
  assert.match((await p.lookup('e.sts.test')).error!, /Missing mx field/, 'an invalid policy is not used');

  dns.set('_mta-sts.f.sts.test', 'servfail');
  const dnsFail = await p.lookup('f.sts.test');
  assert.deepEqual([dnsFail.source, dnsFail.policy], ['unavailable', null]);
  now += 1;
});

test('the policy host\'s certificate must be trusted (here: not, without the test CA)', async () => {
  const p = policies(() => Date.now(), false);
  dns.add('_mta-sts.a.sts.test', { type: 'TXT', data: 'v=STSv1; id=9' });
  const r = await p.lookup('a.sts.test');
  assert.deepEqual([r.source, r.policy], ['unavailable', null]);
  assert.match(r.error!, /self[- ]signed|unable to verify|certificate/i);
});
