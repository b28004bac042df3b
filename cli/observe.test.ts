/**
 * The observability files: the committed dashboards and rules are what the code generates, the
 * alert rules pass their `promtool test rules` unit tests, the generated scrape config is valid for
 * promtool and names every service `scop start` runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
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
import { createIngressMetrics } from '../ingress/metrics.ts';
import { relayMetrics } from '../egress/relay/relay.ts';

const run = promisify(execFile);
/**
 * Where each metric must have a panel: the dashboard of the service whose folder defines it (so an
 * operator looking at one service sees all of its metrics), or — for what every process runs
 * (runtime/: stage, consumer, CPU pool, disk; cli/: `scop start`'s supervisor), `*` — any one
 * dashboard: the stage metrics are on each stage's dashboard, the rest on the overview's Runtime
 * row. Longest prefix wins (the spam learner is its own service inside processors/spam/).
 */
const METRIC_HOMES: [folder: string, dashboard: string][] = [
  ['ingress/', 'scop-ingress'],
  ['cli/inbound.ts', 'scop-inbound'],
  ['processors/mime/', 'scop-mime'],
  ['processors/auth/', 'scop-auth'],
  ['processors/spam/learner/', 'scop-spam-learner'],
  ['processors/spam/', 'scop-spam'],
  ['processors/firewall/', 'scop-firewall'],
  ['processors/decision/', 'scop-decision'],
  ['processors/dkim-sign/', 'scop-dkim-sign'],
  ['egress/relay/', 'scop-egress'],
  ['egress/matrix/', 'scop-matrix-notifier'],
  ['console/', 'scop-console'],
  ['runtime/', '*'],
  ['cli/', '*'],
];
const ROOT = join(import.meta.dirname, '..');
const METRIC_CALL = /\b(?:counterOn|gaugeOn|histogramOn|summaryOn)(?:<[^>]*>)?\(|\bnew (?:Counter|Gauge|Histogram|Summary)\(/g;
const NAMED_METRIC = /\b(?:(?:counterOn|gaugeOn|histogramOn|summaryOn)(?:<[^>]*>)?\(\s*[\w.]+,\s*|new (?:Counter|Gauge|Histogram|Summary)\(\s*)\{\s*name:\s*'(scop_[a-z0-9_]+)'/g;

/** Every metric the scop code defines (not the tests), with the file that defines it. */
function definedMetrics(): { name: string; file: string }[] {
  const out: { name: string; file: string }[] = [];
  for (const top of ['ingress', 'processors', 'egress', 'console', 'runtime', 'cli']) {
    for (const rel of readdirSync(join(ROOT, top), { recursive: true, encoding: 'utf8' })) {
      if (!rel.endsWith('.ts') || /\.test(-fixture)?\.ts$/.test(rel)) continue;
      const file = `${top}/${rel}`;
      if (file === 'runtime/metrics.ts') continue; // defines the helpers; its disk gauges are read below like any other
      const text = readFileSync(join(ROOT, file), 'utf8');
      const named = [...text.matchAll(NAMED_METRIC)].map((m) => m[1]!);
      const calls = [...text.matchAll(METRIC_CALL)].length;
      // A metric whose name is not a literal at its definition would escape the check: refuse it.
      assert.equal(named.length, calls, `${file}: ${calls} metric definitions, ${named.length} with a literal name (name: 'scop_…') the coverage check can read`);
      for (const name of named) out.push({ name, file });
    }
  }
  const disk = readFileSync(join(ROOT, 'runtime/metrics.ts'), 'utf8');
  for (const m of disk.matchAll(/name: '(scop_disk_[a-z_]+)'/g)) out.push({ name: m[1]!, file: 'runtime/metrics.ts' });
  return out;
}

const homeOf = (file: string) => METRIC_HOMES.filter(([f]) => file.startsWith(f)).sort((a, b) => b[0].length - a[0].length)[0]?.[1];
const references = (uid: string, metric: string): boolean => uid === '*' ? DASHBOARDS.some((d) => references(d.uid, metric)) :
  queriesOf(DASHBOARDS.find((d) => d.uid === uid)!).some((x) => new RegExp(`\\b${metric}(?:_bucket|_sum|_count)?\\b`).test(x.expr));

/** The metrics without a panel where they belong ("metric (file) → dashboard"). */
function uncoveredMetrics(): string[] {
  return definedMetrics().filter((m) => !references(homeOf(m.file)!, m.name)).map((m) => `${m.name} (${m.file}) → ${homeOf(m.file)}`);
}

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

  it('every metric a scop process defines has a panel on its service\'s dashboard (runtime-wide ones on the overview)', () => {
    const defined = definedMetrics();
    for (const m of defined) assert.ok(homeOf(m.file), `${m.file} defines ${m.name}: add its folder to METRIC_HOMES (which dashboard shows it)`);
    for (const [, uid] of METRIC_HOMES) assert.ok(uid === '*' || DASHBOARDS.some((d) => d.uid === uid), `dashboard ${uid}`);
    for (const s of SERVICES) assert.ok(METRIC_HOMES.some(([, uid]) => uid === `scop-${s.name}`), `the ${s.name} service's folder is in METRIC_HOMES`);
    assert.ok(defined.length > 60, `read ${defined.length} metric definitions`);
    const missing = uncoveredMetrics();
    assert.deepEqual(missing, [], `${missing.length} of ${defined.length} metrics have no panel`);
  });

  it('the definitions the coverage check reads are what the services register (spam stage, ingress, egress relay on a fresh registry)', async () => {
    const registry = new Registry();
    spamMetrics(registry);
    createIngressMetrics(registry, { inflightBytes: () => 0, hashQueue: () => 0, greylistEntries: () => 0 });
    relayMetrics(registry);
    const registered = (await registry.getMetricsAsJSON()).map((m) => m.name);
    const read = new Set(definedMetrics().map((m) => m.name));
    assert.ok(registered.includes('scop_spam_evidence_total') && registered.includes('scop_ingress_client_fcrdns_total'));
    for (const n of registered) assert.ok(read.has(n), `${n} is registered but the coverage check does not read it`);
    // The dashboard side: the evidence counter by symbol, as the spam README promises.
    assert.ok(queriesOf(DASHBOARDS.find((d) => d.uid === 'scop-spam')!).some((x) => /sum by \(symbol\) \(rate\(scop_spam_evidence_total\[/.test(x.expr)), 'the evidence rate by symbol');
  });

  it('the coverage check fails for a metric without a panel', () => {
    const dashboards = DASHBOARDS.splice(0, DASHBOARDS.length);
    try {
      DASHBOARDS.push(...dashboards.map((d) => d.uid === 'scop-ingress' ? { ...d, rows: d.rows.filter((r) => r.title !== 'SMTP') } : d));
      const missing = uncoveredMetrics();
      assert.ok(missing.some((m) => m.startsWith('scop_ingress_sessions_total (ingress/metrics.ts) → scop-ingress')), missing.join('\n'));
    } finally {
      DASHBOARDS.splice(0, DASHBOARDS.length, ...dashboards);
    }
  });

  it('scrape targets: one job per service scop start runs, plus the broker; the ready line gives the same', () => {
    const t = scrapeTargets({ INGRESS_METRICS_PORT: '19464' });
    assert.deepEqual(t.map((x) => x.service), [...SERVICES.map((s) => s.name), 'start', 'kafka']);
    assert.equal(t.find((x) => x.service === 'ingress')!.address, '127.0.0.1:19464');
    // scop start's own /metrics (the supervisor's restarts, ScopServiceRestarting).
    assert.equal(scrapeTargets({ START_METRICS_PORT: '19460' }).find((x) => x.service === 'start')!.address, '127.0.0.1:19460');
    // Its metrics' own `service` label (the supervised service) must win over the target label service="start".
    const jobs = (prometheusConfig(t) as { scrape_configs: { job_name: string; honor_labels?: boolean }[] }).scrape_configs;
    assert.equal(jobs.find((j) => j.job_name === 'scop-start')!.honor_labels, true);
    assert.equal(jobs.find((j) => j.job_name === 'scop-ingress')!.honor_labels, undefined);
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
