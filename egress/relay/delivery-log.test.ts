/** The relay's memory of outcomes expires as the compacted+expiring topic does. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { KafkaClient, Producer } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { topicConfig, TOPICS, DELIVERY_LOG_RETENTION_MS } from '../../runtime/topics.ts';
import { DeliveryLog } from './delivery-log.ts';

it('the delivery log topic is compacted and expires; the relay forgets outcomes older than its retention', async () => {
  assert.deepEqual(
    { policy: topicConfig(TOPICS.deliveryLog)['cleanup.policy'], retention: topicConfig(TOPICS.deliveryLog)['retention.ms'] },
    { policy: 'compact,delete', retention: String(DELIVERY_LOG_RETENTION_MS) },
  );
  let now = 1_000_000_000_000;
  const sent: unknown[] = [];
  // Only the producer and codec calls write() makes; the topic itself is exercised in relay.test.ts.
  const producer = { send: async (r: unknown) => { sent.push(r); return []; } } as unknown as Producer;
  const codec = { encodeWith: () => Buffer.alloc(0) } as unknown as RecordCodec;
  const log = new DeliveryLog({ kafka: {} as KafkaClient, codec, producer, topic: 't', log: loggerFor('test'), retentionMs: 10_000, now: () => now });
  const status = (recordId: string, at: number) => ({ recordId, recipient: 'a@example.test', status: 'delivered' as const, at, attempts: 1, nextHop: 'x', reply: '250', receivedAt: at });

  await log.write([status('old', now)]);
  now += 6_000;
  await log.write([status('mid', now)]);
  assert.equal(log.done('old', 'A@example.test'), 'delivered', 'recipient keys are case-insensitive');
  now += 5_000; // old is 11 s old, mid 5 s
  assert.equal(log.prune(), 1);
  assert.equal(log.done('old', 'a@example.test'), undefined, 'expired');
  assert.equal(log.done('mid', 'a@example.test'), 'delivered', 'kept');
  assert.equal(log.size, 1);
  assert.equal(sent.length, 2);
});
