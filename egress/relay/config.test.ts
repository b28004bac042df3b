/** The relay's outbound settings: defaults, and one-line errors naming the key and the fix. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../runtime/config.ts';
import { loadRelayConfig } from './config.ts';

const load = (env: Record<string, string>) => loadRelayConfig(env, '/tmp/scop-data');

test('outbound defaults: system resolver, port 25, MTA-STS on, the RFC 8461 policy URL, DSN on', () => {
  const c = load({}).outbound;
  assert.deepEqual(c, { dnsServers: undefined, dnsTimeoutMs: 5000, mxPort: 25, mtaSts: true, policyUrlTemplate: 'https://mta-sts.{domain}/.well-known/mta-sts.txt', extraCa: [], dsn: true, allowedNetworks: [] });
  const d = load({ EGRESS_DNS_SERVERS: '127.0.0.1:5353, ::1, [::1]:53', EGRESS_MX_PORT: '2525', EGRESS_MTA_STS: 'off', EGRESS_DSN: 'off' }).outbound;
  assert.deepEqual([d.dnsServers, d.mxPort, d.mtaSts, d.dsn], [['127.0.0.1:5353', '[::1]:53', '[::1]:53'], 2525, false, false]);
});

test('invalid values stop the start with the key and the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scop-egress-cfg-'));
  writeFileSync(join(dir, 'empty.pem'), 'no certificate here\n');
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ EGRESS_DNS_SERVERS: 'dns.example:53' }, 'EGRESS_DNS_SERVERS', /ip\[:port\]/],
    [{ EGRESS_DNS_SERVERS: '127.0.0.1:70000' }, 'EGRESS_DNS_SERVERS', /ip\[:port\]/],
    [{ EGRESS_MX_PORT: '0' }, 'EGRESS_MX_PORT', /25 on the Internet/],
    [{ EGRESS_MTA_STS_POLICY_URL_TEMPLATE: 'http://mta-sts.{domain}/x' }, 'EGRESS_MTA_STS_POLICY_URL_TEMPLATE', /https:\/\/ URL containing \{domain\}/],
    [{ EGRESS_MTA_STS_POLICY_URL_TEMPLATE: 'https://policies.example/x' }, 'EGRESS_MTA_STS_POLICY_URL_TEMPLATE', /\{domain\}/],
    [{ EGRESS_TLS_CA_FILE: join(dir, 'missing.pem') }, 'EGRESS_TLS_CA_FILE', /cannot read/],
    [{ EGRESS_TLS_CA_FILE: join(dir, 'empty.pem') }, 'EGRESS_TLS_CA_FILE', /holds no PEM certificate/],
    [{ EGRESS_MTA_STS: 'enforce' }, 'EGRESS_MTA_STS', /on to honour/],
    [{ EGRESS_MX_ALLOWED_NETWORKS: '10.0.0.0/33' }, 'EGRESS_MX_ALLOWED_NETWORKS', /CIDR/],
    [{ EGRESS_MX_ALLOWED_NETWORKS: 'localhost' }, 'EGRESS_MX_ALLOWED_NETWORKS', /CIDR/],
    [{ EGRESS_MAX_IN_DOUBT: '0' }, 'EGRESS_MAX_IN_DOUBT', /1\.\.1000.*at most that many messages twice/],
    [{ EGRESS_MX_MAX_IN_DOUBT: 'many' }, 'EGRESS_MX_MAX_IN_DOUBT', /recipient MX hosts/],
    // A password for the next hop only under required, verified TLS (else the error names the way out).
    [{ EGRESS_SMTP_USER: 'relay', EGRESS_SMTP_PASSWORD: 'pw' }, 'EGRESS_SMTP_PASSWORD', /STARTTLS can be stripped.*EGRESS_STARTTLS=require.*EGRESS_SMTP_ALLOW_INSECURE=true/],
    [{ EGRESS_SMTP_USER: 'relay', EGRESS_SMTP_PASSWORD: 'pw', EGRESS_STARTTLS: 'off' }, 'EGRESS_SMTP_PASSWORD', /EGRESS_STARTTLS=off/],
    [{ EGRESS_SMTP_USER: 'relay', EGRESS_SMTP_PASSWORD: 'pw', EGRESS_STARTTLS: 'require', EGRESS_TLS_INSECURE: 'true' }, 'EGRESS_SMTP_PASSWORD', /EGRESS_TLS_INSECURE=true/],
  ];
  for (const [env, key, text] of cases) {
    assert.throws(() => load(env), (e: Error) => e instanceof ConfigError && e.key === key && text.test(e.message) && !e.message.includes('\n'), `${JSON.stringify(env)} → ${key}`);
  }
});

test('in-doubt bounds: one transaction past its "." to the next hop, 32 to MX hosts, unless set', () => {
  assert.deepEqual(load({}).maxInDoubt, { nextHop: 1, mx: 32 });
  assert.deepEqual(load({ EGRESS_MAX_IN_DOUBT: '4', EGRESS_MX_MAX_IN_DOUBT: '64' }).maxInDoubt, { nextHop: 4, mx: 64 });
});

test('AUTH at the next hop: allowed under required, verified TLS, or with the explicit EGRESS_SMTP_ALLOW_INSECURE', () => {
  assert.deepEqual(load({ EGRESS_SMTP_USER: 'relay', EGRESS_SMTP_PASSWORD: 'pw', EGRESS_STARTTLS: 'require' }).auth, { user: 'relay', pass: 'pw' });
  assert.deepEqual(load({ EGRESS_SMTP_USER: 'relay', EGRESS_SMTP_PASSWORD: 'pw', EGRESS_SMTP_ALLOW_INSECURE: 'true' }).auth, { user: 'relay', pass: 'pw' });
  assert.equal(load({}).auth, undefined);
});

test('EGRESS_MX_ALLOWED_NETWORKS: CIDR blocks and single addresses', () => {
  const nets = load({ EGRESS_MX_ALLOWED_NETWORKS: '127.0.0.0/8, ::1, 10.1.2.0/24' }).outbound.allowedNetworks;
  assert.deepEqual(nets.map(([a, bits]) => `${a.toString()}/${bits}`), ['127.0.0.0/8', '::1/128', '10.1.2.0/24']);
});
