/**
 * The checks that chose the Kafka version: kafkajs (through runtime/kafka.ts) against the real
 * broker — idempotent produce with acks=-1, one group whose two members share partitions, and a
 * read-process-write transaction with sendOffsets (committed visible, aborted invisible).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKafkaClient, type Admin, type Consumer, type KafkaClient } from '../../runtime/kafka.ts';
import { eventually, testKafka, uniqueName } from '../../runtime/testing.ts';

let kafka: KafkaClient;
let admin: Admin;

before(async () => {
  kafka = createKafkaClient(testKafka('kafkajs-compat'));
  admin = kafka.admin();
  await admin.connect();
});
after(async () => { await admin.disconnect(); });

async function readAll(topic: string, expected: number, readUncommitted = false, waitMs = 0): Promise<{ key: string; value: string; partition: number }[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), readUncommitted });
  const got: { key: string; value: string; partition: number }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message, partition }) => { got.push({ key: String(message.key), value: String(message.value), partition }); } });
  await eventually(() => (got.length >= expected ? true : undefined), 30000, `${expected} records on ${topic}`);
  if (waitMs) await new Promise((r) => setTimeout(r, waitMs));
  await consumer.disconnect();
  return got;
}

describe('kafkajs against the broker', () => {
  it('idempotent producer with acks=-1 writes each record exactly once, in order per partition', async () => {
    const topic = uniqueName('compat-idem');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    for (let batch = 0; batch < 5; batch++) {
      const res = await producer.send({ topic, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${batch * 20 + i}`, value: String(batch * 20 + i) })) });
      assert.equal(res[0]?.errorCode, 0);
    }
    await producer.disconnect();
    const got = await readAll(topic, 100, false, 500);
    assert.deepEqual(got.map((r) => Number(r.value)), Array.from({ length: 100 }, (_, i) => i));
  });

  it('a consumer group with two members shares the partitions, and one takes all when the other leaves', async () => {
    const topic = uniqueName('compat-group');
    const groupId = uniqueName('group');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 4 }] });
    const assigned = new Map<string, number[]>();
    const seen = new Map<string, Set<number>>();
    const members: Consumer[] = [];
    for (const name of ['a', 'b']) {
      const c = kafka.consumer({ groupId, sessionTimeoutMs: 10000, heartbeatIntervalMs: 500 });
      c.on(c.events.GROUP_JOIN, (e) => { assigned.set(name, e.payload.memberAssignment[topic] ?? []); });
      seen.set(name, new Set());
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ eachMessage: async ({ partition }) => { seen.get(name)!.add(partition); } });
      members.push(c);
    }
    await eventually(() => {
      const a = assigned.get('a') ?? [], b = assigned.get('b') ?? [];
      return a.length > 0 && b.length > 0 && a.length + b.length === 4 ? true : undefined;
    }, 45000, 'both members to get partitions');
    const a = assigned.get('a')!, b = assigned.get('b')!;
    assert.deepEqual([...a, ...b].sort(), [0, 1, 2, 3], 'every partition assigned once');
    assert.equal(a.filter((p) => b.includes(p)).length, 0, 'no partition assigned twice');

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3].flatMap((p) => Array.from({ length: 5 }, (_, i) => ({ partition: p, value: `${p}-${i}` }))) });
    await eventually(() => (seen.get('a')!.size + seen.get('b')!.size === 4 ? true : undefined), 30000, 'each member to consume its partitions');
    assert.deepEqual([...seen.get('a')!].sort(), [...a].sort());
    assert.deepEqual([...seen.get('b')!].sort(), [...b].sort());

    await members[1]!.disconnect(); // b leaves: a must take over all four
    await eventually(() => ((assigned.get('a') ?? []).length === 4 ? true : undefined), 45000, 'the remaining member to take all partitions');
    await members[0]!.disconnect();
    await producer.disconnect();
  });

  it('read-process-write transaction with sendOffsets: commit is visible with its offsets, abort is not', async () => {
    const input = uniqueName('compat-tx-in');
    const output = uniqueName('compat-tx-out');
    const groupId = uniqueName('tx-group');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: input, numPartitions: 1 }, { topic: output, numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: input, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) });
    await producer.disconnect();

    const tx = kafka.producer({ transactionalId: uniqueName('txid') });
    await tx.connect();
    // An aborted transaction first: its output must never be read by a read_committed consumer.
    const aborted = await tx.transaction();
    await aborted.send({ topic: output, messages: [{ value: 'aborted' }] });
    await aborted.abort();

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic: input, fromBeginning: true });
    let processed = 0;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const t = await tx.transaction();
        try {
          await t.send({ topic: output, messages: batch.messages.map((m) => ({ value: `${String(m.value)}-out` })) });
          await t.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() }] }] });
          await t.commit();
          processed += batch.messages.length;
        } catch (e) {
          await t.abort();
          throw e;
        }
      },
    });
    await eventually(() => (processed >= 10 ? true : undefined), 30000, 'the batch to be processed');
    await consumer.disconnect();
    await tx.disconnect();

    const committed = await admin.fetchOffsets({ groupId, topics: [input] });
    assert.equal(committed[0]?.partitions[0]?.offset, '10', 'offsets committed inside the transaction');
    const out = await readAll(output, 10, false, 1000);
    assert.deepEqual(out.map((r) => r.value), Array.from({ length: 10 }, (_, i) => `m${i}-out`));
    const raw = await readAll(output, 11, true, 500);
    assert.ok(raw.some((r) => r.value === 'aborted'), 'read_uncommitted sees the aborted record, so the check above is meaningful');
  });
});
