/**
 * The topology (runtime/topology.ts) against the code it describes: each stage's definition reads
 * and writes the topics its node names, `scop run` knows every service, and a fused group of
 * consecutive inbound members runs under its own name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../runtime/config.ts';
import type { StageService } from '../runtime/stage.ts';
import { TOPICS } from '../runtime/topics.ts';
import { node, TOPOLOGY } from '../runtime/topology.ts';
import { defaultRelayTopics } from '../egress/relay/service.ts';
import { firewallStages } from '../processors/firewall/service.ts';
import { loadFirewallConfig } from '../processors/firewall/config.ts';
import type { ReputationTable } from '../processors/firewall/table.ts';
import { SERVICES, serviceNamed, startedUnits } from './services.ts';

const name = (k: keyof typeof TOPICS) => TOPICS[k].name;

describe('services and the topology', () => {
  it('`scop run` knows the topology\'s services, in start order, and the fused chain (as before the topology)', () => {
    assert.deepEqual(SERVICES.map((s) => s.name), ['ingress', 'inbound', 'mime', 'auth', 'spam', 'firewall', 'decision', 'spam-learner', 'egress', 'dkim-sign', 'matrix-notifier', 'console']);
    for (const n of TOPOLOGY.services) assert.equal(serviceNamed(n.name).name, n.name);
  });

  it('every stage\'s definition reads its node\'s input and writes its output and side outputs, nothing else', () => {
    // The firewall's screen stage needs a table only once it processes records.
    const firewall = firewallStages(undefined as unknown as ReputationTable, loadFirewallConfig({})).screen;
    const stages = [...SERVICES.filter((s): s is StageService => 'stage' in s).map((s) => s.stage), firewall.stage];
    assert.deepEqual(stages.map((s) => s.name).sort(), ['auth', 'decision', 'dkim-sign', 'firewall', 'mime', 'spam']);
    for (const s of stages) {
      const n = node(s.name);
      assert.equal(s.input.name, name(n.input!), `${s.name} input`);
      assert.equal(s.output.name, name(n.output!), `${s.name} output`);
      for (const side of Object.values(s.sideOutputs ?? {})) assert.ok(n.writes.some((k) => name(k) === side.name), `${s.name} writes its side output ${side.name}: the topology must say so`);
    }
  });

  it('the egress reads and writes the topics its node names', () => {
    const t = defaultRelayTopics();
    const egress = node('egress');
    for (const topic of [t.decided, t.requests, ...t.retries, t.log, t.outbound!]) assert.ok(egress.reads.some((k) => name(k) === topic), `egress reads ${topic}`);
    for (const topic of [t.requests, ...t.retries, t.dead, t.log, t.alerts]) assert.ok(egress.writes.some((k) => name(k) === topic), `egress writes ${topic}`);
  });

  it('runs a fused group of consecutive inbound members under its own name; refuses others', () => {
    const d = serviceNamed('mime+auth');
    assert.equal(d.name, 'mime-auth');
    assert.equal(d.metricsPortEnv, 'MIME_AUTH_METRICS_PORT');
    assert.match(d.description, /mime → auth \(mail\.inbound\.raw → mail\.inbound\.authenticated\)/);
    assert.equal(serviceNamed('inbound').defaultMetricsPort, 9477);
    for (const bad of ['auth+mime', 'mime+spam', 'egress+console', 'nope']) assert.throws(() => serviceNamed(bad), (e: unknown) => e instanceof ConfigError && e.key === 'service', bad);
    assert.deepEqual(startedUnits({ SCOP_INBOUND: 'mime+auth,spam,firewall+decision', SCOP_FUSED_INSTANCES: '2' }).map(({ unit, def }) => `${def.name}×${unit.instances}`),
      ['ingress×1', 'mime-auth×2', 'spam×1', 'firewall-decision×2', 'spam-learner×1', 'egress×1', 'dkim-sign×1', 'matrix-notifier×1', 'console×1']);
  });
});
