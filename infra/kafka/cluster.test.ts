/**
 * Durable defaults on a real 3-node KRaft cluster (cluster.ts, three JVMs on loopback): `scop
 * topics apply` gives every topic 3 copies and min.insync.replicas=2, and a broker SIGKILLed while
 * an idempotent acks=all producer writes loses no acknowledged record and duplicates none — the
 * node that led the partitions is the one killed, so leadership must move mid-run. And a fused chain
 * (runtime/stage-fixture.ts: two stages, one read-process-write transaction per batch) loses the
 * broker leading most of its partitions mid-run and still writes every record exactly once.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createKafkaClient, type Admin, type KafkaClient } from '../../runtime/kafka.ts';
import { RecordCodec } from '../../runtime/registry.ts';
import { createStageTopics, produce, readTopic, spawnStage, testMailRecord } from '../../runtime/stage-testing.ts';
import { eventually, testRegistry, uniqueName } from '../../runtime/testing.ts';
import { schema } from '../../schemas/index.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { applyTopics, TOPICS, type TopicSpec } from '../../runtime/topics.ts';
import { startLocalKafkaCluster, type LocalKafkaCluster } from './cluster.ts';

const dataDir = join('.data', 'test', uniqueName('cluster'));
let cluster: LocalKafkaCluster;
let kafka: KafkaClient;
let admin: Admin;

before(async () => {
  cluster = await startLocalKafkaCluster({ dataDir, size: 3 });
  kafka = createKafkaClient({ brokers: cluster.bootstrap, clientId: 'cluster-test' });
  admin = kafka.admin();
  await admin.connect();
}, { timeout: 180_000 });

after(async () => {
  await admin?.disconnect().catch(() => {});
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('3 brokers: 3 copies, 2 in sync; the partitions\' leader SIGKILLed mid-run: 0 lost, 0 duplicated', { timeout: 480_000 }, async () => {
  const spec: TopicSpec = { ...TOPICS.inboundRaw, name: uniqueName('durable') };
  const applied = await applyTopics(admin, [spec]);
  assert.deepEqual(applied.durability, { replicationFactor: 3, minInsyncReplicas: 2 });
  const meta = await admin.fetchTopicMetadata({ topics: [spec.name] });
  const partitions = meta.topics[0]!.partitions;
  assert.equal(partitions.length, spec.partitions);
  for (const p of partitions) assert.equal(p.replicas.length, 3, `partition ${p.partitionId}: 3 replicas`);
  // Retried: a broker may not have learned of the new topic yet (UNKNOWN_TOPIC_OR_PARTITION).
  const minIsr = await eventually(async () => {
    const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: spec.name }] });
    return cfg.resources[0]!.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
  }, 30_000, 'the topic config');
  assert.equal(minIsr, '2');

  // The node leading the most partitions is the one to lose.
  const leads = new Map<number, number>();
  for (const p of partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  const victim = [...leads].sort((a, b) => b[1] - a[1])[0]![0] - 1;

  // A group coordinator is asked for before the kill: Kafka creates __consumer_offsets (3 copies) at
  // the first group's use, and that needs all 3 brokers up.
  await eventually(() => admin.fetchOffsets({ groupId: uniqueName('durable-first'), topics: [spec.name] }).then(() => true), 180_000, 'the offsets topic');
  const N = 3000;
  const BATCH = 50;
  const producer = kafka.producer();
  await producer.connect();
  let failedSends = 0;
  try {
    for (let i = 0; i < N; i += BATCH) {
      if (i === N / 3) await cluster.kill(victim);
      const messages = Array.from({ length: BATCH }, (_, j) => ({ key: `m${i + j}`, value: Buffer.from(String(i + j)) }));
      // The producer retries inside one send (idempotent: the broker drops a repeated batch); a send
      // that still fails is counted, and sent again as an application would.
      for (;;) {
        try {
          await producer.send({ topic: spec.name, acks: -1, messages });
          break;
        } catch {
          failedSends++;
        }
      }
    }
  } finally {
    await producer.disconnect();
  }

  // What the topic holds, copy by copy: a new group reads it from the start.
  const seen = new Map<string, number>();
  const consumer = kafka.consumer({ groupId: uniqueName('durable-count') });
  await consumer.run({
    topics: [spec.name], fromBeginning: true, onCrash: () => {},
    eachBatch: async (b) => { for (const m of b.records) seen.set(m.key!.toString(), (seen.get(m.key!.toString()) ?? 0) + 1); },
  });
  try {
    await eventually(() => (seen.size >= N ? true : undefined), 120_000, `all ${N} records read back`);
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    await consumer.stop();
  }
  const duplicates = [...seen.values()].reduce((a, c) => a + c - 1, 0);
  console.log(`# 3-broker cluster, node ${victim + 1} (leader of ${leads.get(victim + 1)} of ${partitions.length} partitions) SIGKILLed after ${N / 3} of ${N} records: ${seen.size} distinct read back, ${duplicates} duplicates, ${failedSends} sends failed and were repeated`);
  assert.equal(seen.size, N, 'none lost');
  assert.equal(duplicates, 0, 'none duplicated');
});

test('3 brokers: a fused chain loses the node leading most of its partitions mid-run: every record exactly once', { timeout: 600_000 }, async () => {
  // The node the test above killed comes back with its data; new topics need all three.
  for (const [i, node] of cluster.nodes.entries()) if (!node) await cluster.restart(i);
  await eventually(async () => ((await admin.describeCluster()).brokers.length === 3 ? true : undefined), 120_000, 'three brokers in the cluster');
  // A node back from the dead is a copy only once it has caught up: losing another before that
  // would leave some partitions with no in-sync copy at all (no unclean election), not the test here.
  const inSync = (topics: string[]) => eventually(async () => {
    const meta = await admin.fetchTopicMetadata({ topics });
    return meta.topics.every((x) => x.partitions.every((p) => p.isr.length === 3)) ? true : undefined;
  }, 180_000, `every partition of ${topics.join(', ')} in sync on three nodes`);
  await inSync(['__consumer_offsets']);
  const t = await createStageTopics(admin, 'cluster-chain', 6, { replicationFactor: 3 });
  const N = 1500;
  const records = Array.from({ length: N }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\n${'z'.repeat(200)}\r\n`));
  const codec = new RecordCodec(testRegistry());
  await produce(kafka, codec, t.input, 'MailRecord', records.map((record) => ({ record })));
  const meta = await admin.fetchTopicMetadata({ topics: [t.input, t.output] });
  const leads = new Map<number, number>();
  for (const p of meta.topics.flatMap((x) => x.partitions)) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  const victim = [...leads].sort((a, b) => b[1] - a[1])[0]![0] - 1;
  const committed = async () => ((await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] }))[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);

  const child = spawnStage(fileURLToPath(new URL('../../runtime/stage-fixture.ts', import.meta.url)), 'fixtureChain', t, { KAFKA_BROKERS: cluster.bootstrap.join(','), FIXTURE_DELAY_MS: '100' }); // 6 partitions × 8 at a time: ~480 records/s
  try {
    await child.ready;
    await eventually(async () => ((await committed()) >= N / 3 ? true : undefined), 180_000, `${N / 3} records committed`);
    await inSync(['__transaction_state', t.input, t.output]);
    const atKill = await committed();
    await cluster.kill(victim);
    assert.ok(atKill < N, `killed mid-run (${atKill} of ${N} committed)`);
    // Read at once, while leadership moves: a reader whose consumer crashes on the moving leaders
    // starts over (readTopic), and it waits for all N in the read_committed view.
    const out = (await readTopic(kafka, t.output, N, { settleMs: 3000, timeoutMs: 300_000 })).map((r) => schema('MailRecord').type.fromBuffer(r.value.subarray(5)) as MailRecord);
    // The chain commits its output and its offsets in one transaction: all output in means all offsets in.
    await eventually(async () => ((await committed()) >= N ? true : undefined), 30_000, `all ${N} input offsets committed with the output`);
    const ids = out.map((m) => m.envelope.id);
    console.log(`# 3-broker cluster, fused chain: node ${victim + 1} SIGKILLed after ≥ ${N / 3} of ${N} records: ${new Set(ids).size} distinct written, ${ids.length - new Set(ids).size} duplicates`);
    assert.equal(ids.length - new Set(ids).size, 0, 'no duplicates in the read_committed view');
    assert.deepEqual(new Set(ids), new Set(records.map((r) => r.envelope.id)), 'none lost');
    assert.ok(out.every((m) => m.firewall && m.decision), 'both members\' sections on every record');
  } finally {
    if (child.child.exitCode === null) child.child.kill('SIGTERM');
    await child.exited;
  }
});
