import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createKafkaClient, type Admin, type KafkaClient } from './kafka.ts';
import { eventually, testKafka, uniqueName } from './testing.ts';
import { VERSIONED } from '../schemas/compat.ts';
import { allTopics, applyTopics, MAX_RECORD_BYTES, topicConfig, type TopicSpec } from './topics.ts';

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
    assert.deepEqual(second, { created: [], partitionsRaised: [], configsUpdated: [], unchanged: specs.map((s) => s.name) });
  });

  it('raises partitions and repairs a config that drifted, keeping the other keys', async () => {
    const [spec] = testSpecs().filter((s) => s.cleanup === 'delete' && s.retentionMs);
    await applyTopics(admin, [spec!]);
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: spec!.name, configEntries: [{ name: 'retention.ms', value: '1000' }] }] });
    // A config change reaches describeConfigs a moment later (KRaft applies it asynchronously): wait for it.
    const settled = (key: string, value: string) => eventually(async () => ((await configOf(spec!.name)).get(key) === value ? true : undefined), 20000, `${key}=${value}`);
    await settled('retention.ms', '1000');
    const r = await applyTopics(admin, [{ ...spec!, partitions: spec!.partitions + 2 }]);
    assert.deepEqual(r.partitionsRaised, [spec!.name]);
    assert.deepEqual(r.configsUpdated, [spec!.name]);
    await settled('retention.ms', String(spec!.retentionMs));
    const cfg = await configOf(spec!.name);
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
