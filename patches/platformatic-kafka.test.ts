/**
 * Regression test for patches/@platformatic+kafka+2.12.1.patch (to send upstream): a read_committed
 * consumer fetches its committed offsets with require_stable (KIP-447, as the Java client does).
 * Without it, a member taking over a partition reads the offset from before a transaction that is
 * still committing the previous owner's work, and processes that work again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Consumer, FetchIsolationLevels, Producer, type Message } from '@platformatic/kafka';
import { createKafkaClient } from '../runtime/kafka.ts';
import { testKafka, uniqueName } from '../runtime/testing.ts';

describe('@platformatic/kafka (patched)', () => {
  it('a read_committed consumer waits for an offset commit pending in a transaction instead of reading the old offset', async () => {
    const bootstrapBrokers = testKafka().brokers;
    const topic = uniqueName('stable-offsets');
    const groupId = uniqueName('stable-group');
    const admin = createKafkaClient(testKafka('stable-offsets')).admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    const consumer = new Consumer({ clientId: 'stable', bootstrapBrokers, groupId, isolationLevel: FetchIsolationLevels.READ_COMMITTED, retries: 40, retryDelay: 100 });
    const producer = new Producer({ clientId: 'stable', bootstrapBrokers, idempotent: true, transactionalId: uniqueName('stable-tx'), timeout: 30000 });
    try {
      const coordinatorId = await consumer.findGroupCoordinator();
      const tx = await producer.beginTransaction();
      await tx.send({ messages: [{ topic, value: Buffer.from('work') }] });
      await tx.addConsumer(consumer);
      // Offset 5 committed inside the transaction (TxnOffsetCommit), not yet visible.
      await tx.addOffset({ topic, partition: 0, offset: 4n, metadata: { consumer: { groupId, generationId: -1, memberId: '', coordinatorId } } } as unknown as Message);
      const t0 = Date.now();
      const listing = consumer.listCommittedOffsets({ topics: [{ topic, partitions: [0] }] });
      setTimeout(() => void tx.commit(), 1000);
      const offsets = await listing;
      assert.equal(offsets.get(topic)?.[0], 5n, 'the offset of the transaction, once it committed (unpatched: -1 at once)');
      assert.ok(Date.now() - t0 >= 900, 'it waited for the commit');
    } finally {
      await producer.close();
      await consumer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });
});
