/**
 * Outbound MX targets are filtered: a domain whose MX (or implicit MX) resolves to loopback,
 * private, link-local, CGNAT, unique-local, documentation or NAT64/6to4 addresses does not make
 * the egress connect there — a user allowed to send mail cannot reach our own services through
 * DNS. Such addresses are skipped; when nothing else is left the recipients get a permanent
 * 550 5.4.4 (DSN with the reason). EGRESS_MX_ALLOWED_NETWORKS lets named blocks through (the
 * loopback tests use it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { loggerFor } from '../../runtime/log.ts';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import type { MtaStsPolicies } from './mta-sts.ts';
import { parseNetworks, refusedAddress, type Dns } from './mx.ts';
import { OutboundRouter, outboundMetrics } from './outbound.ts';
import type { SmtpResult, SmtpTarget } from './transport.ts';

describe('refusedAddress', () => {
  test('only global unicast passes; IPv4-mapped IPv6 is judged as IPv4', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '224.0.0.1', '192.0.2.1',
      '::1', '::', 'fe80::1', 'fc00::1', 'fd12::1', 'ff02::1', '2001:db8::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '2002:a00:1::1']) {
      assert.ok(refusedAddress(ip, []), `${ip} must be refused`);
    }
    for (const ip of ['8.8.8.8', '203.0.114.1', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(refusedAddress(ip, []), null, ip);
  });
  test('EGRESS_MX_ALLOWED_NETWORKS lets named blocks through, and only those', () => {
    const allowed = parseNetworks('127.0.0.0/8, fd00::/8');
    assert.equal(refusedAddress('127.0.0.3', allowed), null);
    assert.equal(refusedAddress('::ffff:127.0.0.3', allowed), null);
    assert.equal(refusedAddress('fd12::1', allowed), null);
    assert.equal(refusedAddress('10.0.0.1', allowed), 'private');
    assert.equal(refusedAddress('::1', allowed), 'loopback');
  });
});

/** A DNS with fixed answers (NODATA otherwise), and a transport that records whom it was asked to connect to. */
function router(zone: { mx?: Record<string, string[]>; a?: Record<string, string[]>; aaaa?: Record<string, string[]> }, allowed = '') {
  const nodata = () => Object.assign(new Error('no data'), { code: 'ENODATA' });
  const dns: Dns = {
    resolveMx: async (n) => { if (!zone.mx?.[n]) throw nodata(); return zone.mx[n]!.map((exchange, i) => ({ exchange, priority: 10 * (i + 1) })); },
    resolve4: async (n) => { if (!zone.a?.[n]) throw nodata(); return zone.a[n]!; },
    resolve6: async (n) => { if (!zone.aaaa?.[n]) throw nodata(); return zone.aaaa[n]!; },
    resolveTxt: async () => { throw nodata(); },
  };
  const connected: string[] = [];
  const send = async (t: SmtpTarget, env: { recipients: string[] }): Promise<SmtpResult> => {
    connected.push(t.host);
    return { outcomes: env.recipients.map((recipient) => ({ recipient, kind: 'delivered' as const, reply: '250 ok' })), tls: false, connected: true };
  };
  const r = new OutboundRouter({
    cfg: { hostname: 'egress.test', timeoutMs: 1000, dnsServers: undefined, dnsTimeoutMs: 1000, mxPort: 25, mtaSts: false, policyUrlTemplate: '', extraCa: [], dsn: true, allowedNetworks: parseNetworks(allowed) },
    dns, sts: {} as MtaStsPolicies, metrics: outboundMetrics(new Registry()), random: () => 0, send,
  });
  return { r, connected };
}

const record: MailRecord = {
  ...testMailRecord('From: a@out.test\r\nTo: b@victim.test\r\n\r\nhi\r\n', { listener: 'SUBMISSION', mailFrom: 'a@out.test', rcptTo: ['b@victim.test'] }),
  dkimSign: { stageVersion: '1', signedAt: 0, headers: 'DKIM-Signature: v=1; b=x\r\n', fromDomain: 'out.test', authUser: 'a', signatures: [] },
};
const log = loggerFor('test').child({ level: 'silent' });

describe('MX routing never connects to a refused address', () => {
  test('an MX pointing at loopback and private addresses: nothing connected, permanent 550 5.4.4 with the reason', async () => {
    const { r, connected } = router({ mx: { 'victim.test': ['mx1.victim.test', 'mx2.victim.test'] }, a: { 'mx1.victim.test': ['127.0.0.1'], 'mx2.victim.test': ['10.0.0.5', '169.254.169.254'] }, aaaa: { 'mx1.victim.test': ['::1'] } });
    const [o] = await r.deliverDomain(record, 'victim.test', ['b@victim.test'], log);
    assert.deepEqual(connected, []);
    assert.equal(o!.kind, 'permanent');
    assert.match(o!.reply, /^550 5\.4\.4 .*mx1\.victim\.test\[127\.0\.0\.1\] \(loopback\).*mx2\.victim\.test\[10\.0\.0\.5\] \(private\)/);
  });
  test('implicit MX (no MX records) to a private address is refused the same way', async () => {
    const { r, connected } = router({ a: { 'victim.test': ['192.168.1.10'] } });
    const [o] = await r.deliverDomain(record, 'victim.test', ['b@victim.test'], log);
    assert.deepEqual([connected, o!.kind], [[], 'permanent']);
  });
  test('refused addresses are skipped, a public one is used', async () => {
    const { r, connected } = router({ mx: { 'victim.test': ['mx1.victim.test', 'mx2.victim.test'] }, a: { 'mx1.victim.test': ['127.0.0.1'], 'mx2.victim.test': ['203.0.114.25'] } });
    const [o] = await r.deliverDomain(record, 'victim.test', ['b@victim.test'], log);
    assert.deepEqual([connected, o!.kind], [['203.0.114.25'], 'delivered']);
  });
  test('with EGRESS_MX_ALLOWED_NETWORKS=127.0.0.0/8 loopback is used (as the tests do), private still is not', async () => {
    const { r, connected } = router({ mx: { 'victim.test': ['mx1.victim.test'] }, a: { 'mx1.victim.test': ['10.0.0.5', '127.0.0.2'] } }, '127.0.0.0/8');
    const [o] = await r.deliverDomain(record, 'victim.test', ['b@victim.test'], log);
    assert.deepEqual([connected, o!.kind], [['127.0.0.2'], 'delivered']);
  });
});
