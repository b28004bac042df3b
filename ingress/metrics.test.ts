/**
 * The ingress's counters over closed sets of labels start at zero: the dashboard's panels and the
 * alerts see each series before its first event (observability/README.md), and a renamed label
 * value shows as a missing series at once.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Registry } from 'prom-client';
import { createIngressMetrics } from './metrics.ts';

it('AUTH results, DNS lookup results, unrecorded refusals and reverse-DNS results exist at zero before any event', async () => {
  const registry = new Registry();
  createIngressMetrics(registry, { inflightBytes: () => 7, hashQueue: () => 0, greylistEntries: () => 0 });
  const series = async (name: string) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    assert.ok(m, name);
    return Object.fromEntries(m.values.map((v) => [Object.values(v.labels).join(','), v.value]));
  };
  assert.deepEqual(await series('scop_ingress_auth_total'), { ok: 0, failed: 0, locked: 0, busy: 0 });
  assert.deepEqual(await series('scop_ingress_dns_queries_total'), { hit: 0, miss: 0, error: 0 });
  assert.deepEqual(await series('scop_ingress_policy_refusals_unrecorded_total'), { 'rate-limit': 0, kafka: 0, encode: 0 });
  assert.deepEqual(await series('scop_ingress_client_fcrdns_total'), { confirmed: 0, not_confirmed: 0, temperror: 0 });
  assert.deepEqual(await series('scop_ingress_inflight_bytes'), { '': 7 }, 'gauges read at scrape time');
});
