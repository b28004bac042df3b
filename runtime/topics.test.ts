import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createKafkaClient, type Admin, type KafkaClient } from './kafka.ts';
import { eventually, testKafka, uniqueName } from './testing.ts';
import { VERSIONED } from '../schemas/compat.ts';
import { allTopics, applyTopics, durabilityFor, MAX_RECORD_BYTES, rawPolicy, topicConfig, type TopicSpec } from './topics.ts';

let kafka: KafkaClient;
let admin: Admin;
before(async () => { kafka = createKafkaClient(testKafka('topics-test')); admin = kafka.admin(); await admin.connect(); });
after(async () => { await admin.disconnect(); });

/** The declared list under unique names, so the test never touches the real topics. */
function testSpecs(): TopicSpec[] {
  const prefix = uniqueName('apply');
  return allTopics().map((t) => ({ ...t, name: `${prefix}.${t.name}` }));
}

async function configOf(topic: string): Promise<Map<string, string>> {
  const d = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic }] });
  return new Map(d.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
}

describe('topic list', () => {
  it('every topic value schema is kept under BACKWARD-compatibility history', () => {
    for (const t of allTopics()) if (t.valueSchema) assert.ok(VERSIONED.includes(t.valueSchema), `${t.name}: add ${t.valueSchema} to VERSIONED in schemas/compat.ts`);
  });

  it('keeps a raw message as long as any topic may refer to it; compacted topics hold messages inline', () => {
    const sources = allTopics().filter((t) => rawPolicy(t) === 'source');
    assert.deepEqual(sources.map((t) => t.name).sort(), ['mail.inbound.raw', 'mail.outbound.raw']);
    const keep = Math.min(...sources.map((t) => t.retentionMs ?? Infinity));
    for (const t of allTopics()) {
      const policy = rawPolicy(t);
      if (policy !== 'ref') continue;
      assert.equal(t.cleanup, 'delete', `${t.name} holds references to raw messages: it must expire (or carry them inline: raw 'inline')`);
      assert.ok(t.retentionMs !== undefined && t.retentionMs <= keep, `${t.name} keeps references ${t.retentionMs} ms, longer than the raw topics keep the messages (${keep} ms)`);
    }
    for (const t of allTopics()) if (t.cleanup !== 'delete' && t.valueSchema === 'MailRecord') assert.equal(rawPolicy(t), 'inline', `${t.name} is compacted: it must hold raw messages inline`);
  });
});

describe('durable defaults', () => {
  it('3 copies with 2 in sync from 3 brokers on; fewer brokers get what they can hold, with a warning', () => {
    assert.deepEqual(durabilityFor(3), { replicationFactor: 3, minInsyncReplicas: 2 });
    assert.deepEqual(durabilityFor(7), { replicationFactor: 3, minInsyncReplicas: 2 });
    assert.deepEqual({ ...durabilityFor(2), warning: undefined }, { replicationFactor: 2, minInsyncReplicas: 1, warning: undefined });
    assert.ok(durabilityFor(2).warning);
    assert.deepEqual({ ...durabilityFor(1), warning: undefined }, { replicationFactor: 1, minInsyncReplicas: 1, warning: undefined });
    assert.match(durabilityFor(1).warning!, /single broker/);
  });
});

describe('scop topics apply', () => {
  it('creates every declared topic with its partitions and configs, and a second run changes nothing', async () => {
    const specs = testSpecs();
    const first = await applyTopics(admin, specs);
    assert.deepEqual(first.created.sort(), specs.map((s) => s.name).sort());
    const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.name) });
    for (const s of specs) {
      assert.equal(meta.topics.find((t) => t.name === s.name)?.partitions.length, s.partitions, `${s.name} partitions`);
      const cfg = await configOf(s.name);
      for (const [k, v] of Object.entries(topicConfig(s))) assert.equal(cfg.get(k), v, `${s.name} ${k}`);
    }
    const second = await applyTopics(admin, specs);
    assert.deepEqual(second, { created: [], partitionsRaised: [], configsUpdated: [], unchanged: specs.map((s) => s.name), durability: first.durability });
    // The test stack is one broker: one copy, one in sync, and a warning to show.
    assert.equal(first.durability.replicationFactor, 1);
    assert.equal((await configOf(specs[0]!.name)).get('min.insync.replicas'), '1');
    assert.match(first.durability.warning ?? '', /single broker/);
  });

  it('raises partitions and repairs a config that drifted, keeping the other keys', async () => {
    const [spec] = testSpecs().filter((s) => s.cleanup === 'delete' && s.retentionMs);
    await applyTopics(admin, [spec!]);
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: spec!.name, configEntries: [{ name: 'retention.ms', value: '1000' }] }] });
    await eventually(async () => ((await configOf(spec!.name)).get('retention.ms') === '1000' ? true : undefined), 15000, 'the drifted config');
    const r = await applyTopics(admin, [{ ...spec!, partitions: spec!.partitions + 2 }]);
    assert.deepEqual(r.partitionsRaised, [spec!.name]);
    assert.deepEqual(r.configsUpdated, [spec!.name]);
    // KRaft applies a config change on the controller first; a broker's answer may lag a moment.
    const cfg = await eventually(async () => { const c = await configOf(spec!.name); return c.get('retention.ms') === String(spec!.retentionMs) ? c : undefined; }, 15000, 'the repaired config');
    assert.equal(cfg.get('retention.ms'), String(spec!.retentionMs));
    assert.equal(cfg.get('max.message.bytes'), String(MAX_RECORD_BYTES));
    const meta = await admin.fetchTopicMetadata({ topics: [spec!.name] });
    assert.equal(meta.topics[0]!.partitions.length, spec!.partitions + 2);
  });

  it('a record holding a 25 MiB message fits through a declared topic', async () => {
    const [spec] = testSpecs().filter((s) => s.name.endsWith('mail.inbound.raw'));
    await applyTopics(admin, [spec!]);
    const payload = randomBytes(25 * 1024 * 1024 + 4096);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: spec!.name, acks: -1, messages: [{ key: 'big', value: payload }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: uniqueName('big') });
    let got: Buffer | undefined;
    await consumer.run({ topics: [spec!.name], fromBeginning: true, onCrash: () => {}, eachBatch: async (b) => { for (const m of b.records) got = m.value ?? undefined; } });
    await eventually(() => got, 30000, 'the 25 MiB record');
    await consumer.stop();
    assert.ok(got!.equals(payload));
  });
});
