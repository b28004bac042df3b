/**
 * MX selection against a real DNS server (Knot on loopback): preference order, equal preferences
 * shuffled, implicit MX (RFC 5321 §5.1), null MX (RFC 7505), NXDOMAIN, unresolvable MX hosts; and
 * SERVFAIL from the in-process server (Knot cannot be told to fail) → temporary.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KNOTD, KnotServer } from '../../infra/dns/knot.ts';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { addressesOf, createResolver, domainOf, resolveMxRoute, type Dns } from './mx.ts';

const skip = KNOTD ? false : 'needs knotd (apt-get install -y knot)';
const knot = new KnotServer();
const broken = new TestDnsServer();
let dns: Dns;
let brokenDns: Dns;

before(async () => {
  if (skip) return;
  await knot.start({
    'mx.test': [
      { name: 'multi.mx.test', type: 'MX', value: '20 b.mx.test.' },
      { name: 'multi.mx.test', type: 'MX', value: '10 a.mx.test.' },
      { name: 'multi.mx.test', type: 'MX', value: '30 c.mx.test.' },
      { name: 'equal.mx.test', type: 'MX', value: '10 a.mx.test.' },
      { name: 'equal.mx.test', type: 'MX', value: '10 b.mx.test.' },
      { name: 'equal.mx.test', type: 'MX', value: '5 c.mx.test.' },
      { name: 'a.mx.test', type: 'A', value: '127.0.0.2' },
      { name: 'b.mx.test', type: 'A', value: '127.0.0.3' },
      { name: 'b.mx.test', type: 'AAAA', value: '::1' },
      { name: 'c.mx.test', type: 'AAAA', value: '::1' },
      { name: 'implicit.mx.test', type: 'A', value: '127.0.0.4' },
      { name: 'nothing.mx.test', type: 'TXT', value: 'no mail here' },
      { name: 'null.mx.test', type: 'MX', value: '0 .' },
      { name: 'null.mx.test', type: 'A', value: '127.0.0.5' },
      { name: 'dangling.mx.test', type: 'MX', value: '10 gone.mx.test.' },
    ],
  });
  dns = createResolver({ servers: [knot.address], timeoutMs: 1000 });
  await broken.start();
  broken.set('fail.broken.test', 'servfail');
  broken.add('host.broken.test', { type: 'A', data: '127.0.0.9' });
  brokenDns = createResolver({ servers: [broken.address], timeoutMs: 300 });
});
after(async () => {
  if (skip) return;
  await knot.stop();
  await broken.stop();
});

test('MX hosts in preference order; equal preferences shuffled', { skip }, async () => {
  assert.deepEqual(await resolveMxRoute('multi.mx.test', dns), { kind: 'hosts', hosts: [
    { name: 'a.mx.test', preference: 10, implicit: false }, { name: 'b.mx.test', preference: 20, implicit: false }, { name: 'c.mx.test', preference: 30, implicit: false },
  ] });
  // c (5) always first; a and b (both 10) in either order, depending on the random source.
  const names = async (r: number) => {
    const route = await resolveMxRoute('equal.mx.test', dns, () => r);
    assert.equal(route.kind, 'hosts');
    return route.kind === 'hosts' ? route.hosts.map((h) => h.name) : [];
  };
  const seen = new Set([(await names(0)).join(','), (await names(0.99)).join(',')]);
  assert.deepEqual([...seen].sort(), ['c.mx.test,a.mx.test,b.mx.test', 'c.mx.test,b.mx.test,a.mx.test']);
  assert.equal(domainOf('Bob@Multi.MX.test'), 'multi.mx.test');
  assert.deepEqual(await resolveMxRoute('MULTI.mx.test.', dns).then((r) => r.kind), 'hosts', 'case and trailing dot do not matter');
});

test('implicit MX: no MX records but an address → the domain itself (RFC 5321 §5.1)', { skip }, async () => {
  assert.deepEqual(await resolveMxRoute('implicit.mx.test', dns), { kind: 'hosts', hosts: [{ name: 'implicit.mx.test', preference: 0, implicit: true }] });
  const none = await resolveMxRoute('nothing.mx.test', dns);
  assert.equal(none.kind, 'permanent');
  assert.match((none as { reply: string }).reply, /^550 5\.1\.2 .*no MX and no address/);
});

test('null MX (RFC 7505) and a domain that does not exist are permanent failures', { skip }, async () => {
  const nul = await resolveMxRoute('null.mx.test', dns);
  assert.deepEqual(nul, { kind: 'permanent', reason: 'null-mx', reply: '556 5.1.10 domain null.mx.test accepts no mail (null MX, RFC 7505)' }, 'its A record is not used as implicit MX');
  const nx = await resolveMxRoute('nope.mx.test', dns);
  assert.deepEqual(nx, { kind: 'permanent', reason: 'no-such-domain', reply: '550 5.1.2 domain nope.mx.test does not exist (NXDOMAIN)' });
});

test('addresses: A before AAAA; a dangling MX host has none; an IP literal is refused', { skip }, async () => {
  assert.deepEqual(await addressesOf('b.mx.test', dns), { addresses: ['127.0.0.3', '::1'], temporary: false, error: undefined });
  const gone = await addressesOf('gone.mx.test', dns);
  assert.deepEqual([gone.addresses, gone.temporary], [[], false]);
  const ip = await addressesOf('127.0.0.1', dns);
  assert.deepEqual([ip.addresses, ip.temporary], [[], false]);
  assert.match(ip.error!, /IP address/);
});

test('SERVFAIL / timeouts are temporary', { skip }, async () => {
  const r = await resolveMxRoute('fail.broken.test', brokenDns);
  assert.equal(r.kind, 'temporary');
  assert.match((r as { reply: string }).reply, /^451 4\.4\.3 MX lookup for fail\.broken\.test failed \(ESERVFAIL\)/);
  broken.set('slow.broken.test', 'timeout');
  const slow = await resolveMxRoute('slow.broken.test', brokenDns);
  assert.equal(slow.kind, 'temporary');
  assert.match((slow as { reply: string }).reply, /ETIMEOUT/);
  const a = await addressesOf('slow.broken.test', brokenDns);
  assert.equal(a.temporary, true);
});
