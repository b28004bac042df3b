/**
 * The topology and what derives from it: the topic list, `scop start`'s units and order for each
 * deployment, fused units' access, and the README's diagram. The expected lists are what
 * cli/services.ts, infra/kafka/acls.ts and runtime/topics.ts declared by hand before the topology
 * replaced them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from './config.ts';
import { allTopics } from './topics.ts';
import { chainGroups, chainSlice, fusedInstances, fusedUnit, INBOUND_CHAIN, runArgument, startUnits, topicKeysOf, TOPOLOGY, topologyDiagram, topologyTopics } from './topology.ts';

const names = (env: NodeJS.ProcessEnv) => startUnits(env, 2).map((u) => u.name);
const configError = (key: string) => (e: unknown) => e instanceof ConfigError && e.key === key;

describe('topology', () => {
  it('uses every declared topic, in the order declared (what `scop topics apply` created before)', () => {
    assert.deepEqual(topologyTopics().map((t) => t.name), allTopics().map((t) => t.name));
    assert.deepEqual(topologyTopics().map((t) => t.name), [
      'mail.inbound.raw', 'mail.outbound.raw', 'mail.outbound.signed', 'mail.inbound.parsed', 'mail.inbound.authenticated', 'mail.inbound.scored', 'spam.model',
      'spam.model.history', 'spam.feedback', 'mail.inbound.screened', 'mail.inbound.decided', 'mail.quarantine', 'firewall.events', 'firewall.reputation',
      'mail.delivery.requests', 'mail.delivery.retry.1', 'mail.delivery.retry.2', 'mail.delivery.retry.3', 'mail.delivery.dead', 'mail.delivery.log', 'dmarc.events',
      'firewall.blocklist', 'smtp.refusals', 'smtp.greylist', 'ops.dead-letters', 'ops.audit', 'ops.alerts',
    ]);
    // A service's topics are only those it names.
    assert.deepEqual(topicKeysOf(['dkim-sign']), ['outboundRaw', 'outboundSigned', 'deadLetters']);
  });

  it('every chain member reads the previous member\'s output, and every read topic has a writer or is fed from outside', () => {
    for (const chain of TOPOLOGY.chains) {
      const of = chain.members.map((m) => TOPOLOGY.services.find((s) => s.name === m)!);
      for (let i = 1; i < of.length; i++) assert.equal(of[i]!.input, of[i - 1]!.output, `${of[i]!.name} reads ${of[i - 1]!.name}'s output`);
    }
    const written = new Set(TOPOLOGY.services.flatMap((s) => s.writes));
    // spam.feedback comes from users and `scop spam feedback` too; the console writes it as well.
    for (const s of TOPOLOGY.services) for (const k of s.reads) assert.ok(written.has(k), `${s.name} reads ${k}, which no service writes`);
  });

  it('scop start: the services in the order it started them before, fused by default, separate, or in groups', () => {
    assert.deepEqual(names({}), ['ingress', 'inbound', 'spam-learner', 'egress', 'dkim-sign', 'matrix-notifier', 'console']);
    assert.deepEqual(names({ SCOP_INBOUND: 'fused' }), names({}));
    assert.deepEqual(names({ SCOP_INBOUND: 'separate' }), ['ingress', 'mime', 'auth', 'spam', 'firewall', 'decision', 'spam-learner', 'egress', 'dkim-sign', 'matrix-notifier', 'console']);
    assert.deepEqual(names({ SCOP_INBOUND: 'mime+auth,spam+firewall+decision' }), ['ingress', 'mime-auth', 'spam-firewall-decision', 'spam-learner', 'egress', 'dkim-sign', 'matrix-notifier', 'console']);
    assert.deepEqual(startUnits({ SCOP_INBOUND: 'mime+auth,spam+firewall+decision' }, 1).map(runArgument).slice(0, 3), ['ingress', 'mime+auth', 'spam+firewall+decision'], 'scop run arguments');
    assert.equal(runArgument(startUnits({}, 1)[1]!), 'inbound');
    assert.deepEqual(names({ SCOP_INBOUND: 'mime,auth+spam,firewall,decision' }), ['ingress', 'mime', 'auth-spam', 'firewall', 'decision', 'spam-learner', 'egress', 'dkim-sign', 'matrix-notifier', 'console']);
  });

  it('refuses a grouping that skips, repeats, reorders or invents a member, naming SCOP_INBOUND', () => {
    for (const bad of ['mime+auth', 'mime+spam,auth,firewall,decision', 'mime,auth,spam,firewall,decision,decision', 'mime+auth,virus,spam+firewall+decision', 'auth+mime,spam,firewall,decision', 'fusedd']) {
      assert.throws(() => chainGroups(INBOUND_CHAIN, bad), configError('SCOP_INBOUND'), bad);
    }
    assert.throws(() => chainSlice(INBOUND_CHAIN, ['mime', 'spam']), configError('service'));
    assert.throws(() => chainSlice(INBOUND_CHAIN, ['mime']), configError('service'));
    assert.deepEqual(chainSlice(INBOUND_CHAIN, ['spam', 'firewall']), ['spam', 'firewall']);
  });

  it('one instance of each fused unit per core by default (at least one), SCOP_FUSED_INSTANCES otherwise; stand-alone services one', () => {
    assert.equal(fusedInstances({}, 4), 4);
    assert.equal(fusedInstances({}, 0), 1);
    assert.equal(fusedInstances({ SCOP_FUSED_INSTANCES: '3' }, 8), 3);
    for (const bad of ['0', '-1', '1.5', 'many', '257']) assert.throws(() => fusedInstances({ SCOP_FUSED_INSTANCES: bad }, 2), configError('SCOP_FUSED_INSTANCES'), bad);
    const units = startUnits({}, 3);
    assert.deepEqual(units.map((u) => u.instances), [1, 3, 1, 1, 1, 1, 1]);
    assert.ok(startUnits({ SCOP_INBOUND: 'separate' }, 3).every((u) => u.instances === 1), 'separate stages: one process each (scale them by hand)');
  });

  it('a fused unit accesses its members\' topics without the ones between them (the scop-inbound principal as declared before)', () => {
    const inbound = fusedUnit(INBOUND_CHAIN, INBOUND_CHAIN.members);
    assert.equal(inbound.name, 'inbound');
    assert.equal(inbound.runs, 'inbound (mime → auth → spam → firewall → decision fused)');
    assert.deepEqual([inbound.input, inbound.output], ['inboundRaw', 'inboundDecided']);
    assert.deepEqual(inbound.reads, ['inboundRaw', 'spamModel', 'firewallEvents', 'firewallReputation']);
    assert.deepEqual(inbound.writes, ['deadLetters', 'dmarcEvents', 'alerts', 'firewallEvents', 'firewallReputation', 'blocklist', 'inboundDecided', 'quarantine']);
    assert.deepEqual(inbound.groups, ['scop-inbound', 'scop-mime', 'scop-auth', 'scop-spam', 'scop-firewall', 'scop-decision']);
    assert.deepEqual(inbound.transactionalIds, ['scop-inbound', 'scop-mime', 'scop-auth', 'scop-spam', 'scop-firewall', 'scop-decision']);
    // A group that ends before the decision writes its last member's output, an intermediate topic.
    const head = fusedUnit(INBOUND_CHAIN, ['mime', 'auth']);
    assert.deepEqual([head.name, head.input, head.output], ['mime-auth', 'inboundRaw', 'inboundAuthenticated']);
    assert.deepEqual(head.reads, ['inboundRaw']);
    assert.deepEqual(head.writes, ['deadLetters', 'inboundAuthenticated', 'dmarcEvents']);
  });

  it('the README\'s diagram is the generated one (`npm run -s scop -- topology diagram`)', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const m = /<!-- topology diagram:[^\n]*-->\n```mermaid\n([\s\S]*?)```\n<!-- end of topology diagram -->/.exec(readme);
    assert.ok(m, 'README.md has the topology diagram between its markers');
    assert.equal(m[1]!.trimEnd(), topologyDiagram(), 'README.md\'s diagram is stale: paste `npm run -s scop -- topology diagram` over it');
    // The diagram names every service and topic of the topology (but ops.dead-letters once, in the note).
    for (const s of TOPOLOGY.services) assert.ok(topologyDiagram().includes(`<b>${s.name}</b>`), s.name);
    for (const t of topologyTopics()) assert.ok(topologyDiagram().includes(t.name), t.name);
  });
});
