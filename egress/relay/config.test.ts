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
  assert.deepEqual(c, { dnsServers: undefined, dnsTimeoutMs: 5000, mxPort: 25, mtaSts: true, policyUrlTemplate: 'https://mta-sts.{domain}/.well-known/mta-sts.txt', extraCa: [], dsn: true });
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
  ];
  for (const [env, key, text] of cases) {
    assert.throws(() => load(env), (e: Error) => e instanceof ConfigError && e.key === key && text.test(e.message) && !e.message.includes('\n'), `${JSON.stringify(env)} → ${key}`);
  }
});
