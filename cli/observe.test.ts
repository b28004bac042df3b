/**
 * The observability files: the committed dashboards and rules are what the code generates, the
 * alert rules pass their `promtool test rules` unit tests, the generated scrape config is valid for
 * promtool and names every service `scop start` runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { PROMTOOL_BIN } from '../infra/prometheus.ts';
import { DASHBOARDS } from '../observability/dashboards.ts';
import { queriesOf, toGrafana } from '../observability/panels.ts';
import { generatedFiles, OBSERVABILITY_DIR, prometheusConfig, toYaml } from '../observability/prometheus.ts';
import { rulesFile } from '../observability/alerts.ts';
import { scrapeTargets, targetsFromReadyLine } from './observe.ts';
import { SERVICES } from './services.ts';
import { Registry } from 'prom-client';
import { spamMetrics } from '../processors/spam/service.ts';
import { existsSync } from 'node:fs';

const run = promisify(execFile);
const noPromtool = existsSync(PROMTOOL_BIN) ? false : 'needs promtool (Debian package prometheus, infra/debian-packages.txt)';

describe('observability files', () => {
  it('the committed dashboards, rules, rule tests and example config are what observability/*.ts generates', () => {
    for (const [rel, text] of generatedFiles(scrapeTargets({}))) {
      assert.equal(readFileSync(join(OBSERVABILITY_DIR, rel), 'utf8'), text, `${rel} is stale: run npm run scop -- observe files`);
    }
  });

  it('dashboards: unique uids and panel ids, every panel has queries, every query names a scop, kafka or jvm metric', () => {
    const uids = new Set<string>();
    for (const d of DASHBOARDS) {
      assert.ok(!uids.has(d.uid), `duplicate uid ${d.uid}`);
      uids.add(d.uid);
      const json = toGrafana(d) as { panels?: { id?: number; type?: string; targets?: unknown[] }[] };
      const ids = (json.panels ?? []).map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${d.uid}: panel ids are unique`);
      for (const p of json.panels ?? []) if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${d.uid}: a panel without query`);
      for (const x of queriesOf(d)) assert.match(x.expr, /\b(scop_|kafka_|jvm_|process_|up\b)/, x.where);
    }
    assert.ok(uids.has('scop-overview') && uids.has('scop-kafka'));
    for (const s of SERVICES) assert.ok(uids.has(`scop-${s.name}`), `a dashboard for the ${s.name} service`);
  });

  it("every metric the spam stage registers is on the spam dashboard (scop_spam_evidence_total by symbol among them); the ingress's client reverse-DNS counter is on the ingress dashboard", async () => {
    const onDashboard = (uid: string, metric: string) => queriesOf(DASHBOARDS.find((d) => d.uid === uid)!).some((x) => new RegExp(`\\b${metric}(?:_bucket|_sum|_count)?\\b`).test(x.expr));
    const registry = new Registry();
    spamMetrics(registry);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    assert.ok(names.includes('scop_spam_evidence_total'));
    for (const n of names) assert.ok(onDashboard('scop-spam', n), `${n} has no panel on the spam dashboard`);
    assert.ok(queriesOf(DASHBOARDS.find((d) => d.uid === 'scop-spam')!).some((x) => /sum by \(symbol\) \(rate\(scop_spam_evidence_total\[/.test(x.expr)), 'the evidence rate by symbol');
    assert.ok(onDashboard('scop-ingress', 'scop_ingress_client_fcrdns_total'));
  });

  it('scrape targets: one job per service scop start runs, plus the broker; the ready line gives the same', () => {
    const t = scrapeTargets({ INGRESS_METRICS_PORT: '19464' });
    assert.deepEqual(t.map((x) => x.service), [...SERVICES.map((s) => s.name), 'start', 'kafka']);
    assert.equal(t.find((x) => x.service === 'ingress')!.address, '127.0.0.1:19464');
    // scop start's own /metrics (the supervisor's restarts, ScopServiceRestarting).
    assert.equal(scrapeTargets({ START_METRICS_PORT: '19460' }).find((x) => x.service === 'start')!.address, '127.0.0.1:19460');
    assert.equal(scrapeTargets({ KAFKA_BROKERS: 'k:9092' }).some((x) => x.service === 'kafka'), false, 'no JMX agent on a remote cluster');
    assert.equal(scrapeTargets({ SCOP_KAFKA_METRICS_PORT: 'off' }).some((x) => x.service === 'kafka'), false);
    assert.deepEqual(targetsFromReadyLine('ready node=v24 kafka=127.0.0.1:9092 metrics-kafka=127.0.0.1:9404 smtp-mx=127.0.0.1:2525 metrics-mime=127.0.0.1:9471'),
      [{ service: 'kafka', address: '127.0.0.1:9404' }, { service: 'mime', address: '127.0.0.1:9471' }]);
    // Several instances of a fused unit (SCOP_FUSED_INSTANCES): one target each, one service.
    assert.deepEqual(targetsFromReadyLine('ready metrics-inbound=127.0.0.1:9477,127.0.0.1:40001'),
      [{ service: 'inbound', address: '127.0.0.1:9477' }, { service: 'inbound', address: '127.0.0.1:40001' }]);
  });

  it('promtool: the generated config and rules are valid, and the rule unit tests pass', { skip: noPromtool }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scop-prom-'));
    try {
      writeFileSync(join(dir, 'alerts.yml'), toYaml(rulesFile()));
      writeFileSync(join(dir, 'prometheus.yml'), toYaml(prometheusConfig(scrapeTargets({}))));
      await run(PROMTOOL_BIN, ['check', 'config', join(dir, 'prometheus.yml')]);
      const tests = await run(PROMTOOL_BIN, ['test', 'rules', join(OBSERVABILITY_DIR, 'prometheus', 'alerts.test.yml')]);
      assert.match(tests.stdout + tests.stderr, /SUCCESS/);
      // Every rule has at least one case that fires it.
      const cases = parse(readFileSync(join(OBSERVABILITY_DIR, 'prometheus', 'alerts.test.yml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
      const fired = new Set(cases.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
      for (const r of rulesFile().groups[0]!.rules) assert.ok(fired.has(r.alert), `a promtool case fires ${r.alert}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promtool: a broken expectation fails (the unit tests can fail)', { skip: noPromtool }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scop-prom-'));
    try {
      writeFileSync(join(dir, 'alerts.yml'), toYaml(rulesFile()));
      const broken = readFileSync(join(OBSERVABILITY_DIR, 'prometheus', 'alerts.test.yml'), 'utf8').replace('scop-mime on 127.0.0.1:9471 is down', 'nothing is down');
      writeFileSync(join(dir, 'alerts.test.yml'), broken);
      await assert.rejects(run(PROMTOOL_BIN, ['test', 'rules', join(dir, 'alerts.test.yml')]), /FAILED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
