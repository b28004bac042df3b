/**
 * The hand-off on its worker thread: records reach Kafka and publish() resolves only then; a
 * thread that dies or stops answering has its records answered with a HandoffError (451) — the
 * thread is terminated, so its sockets cannot deliver them later — and the next record gets a new
 * thread. (The broker-failure semantics are KafkaHandoff's, tested in durability.test.ts through
 * the whole ingress.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { createKafkaClient, type KafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { eventually, testKafka, uniqueName } from '../runtime/testing.ts';
import { applyTopics, TOPICS } from '../runtime/topics.ts';
import { HandoffError } from './handoff.ts';
import { ThreadedHandoff } from './handoff-thread.ts';

interface Internals { thread?: { worker: Worker; waiting: Map<number, { due: number }> }; checkBackstop(): void }

describe('ThreadedHandoff', () => {
  let kafka: KafkaClient;
  let topic: string;
  let h: ThreadedHandoff;
  before(async () => {
    kafka = createKafkaClient(testKafka('handoff-thread'));
    topic = uniqueName('handoff-thread');
    const admin = kafka.admin();
    await admin.connect();
    await applyTopics(admin, [{ ...TOPICS.inboundRaw, name: topic, partitions: 1 }]);
    await admin.disconnect();
    h = new ThreadedHandoff({ kafkaSettings: testKafka('handoff-thread'), deadlineMs: 5000, log: loggerFor('handoff-thread-test') });
    await h.start();
  });
  after(async () => { await h.stop(); });

  async function stored(): Promise<string[]> {
    const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeMs: 200 });
    const values: string[] = [];
    try {
      await consumer.run({ topics: [topic], fromBeginning: true, onCrash: () => {}, eachBatch: async (b) => { for (const m of b.records) values.push(m.value!.toString()); } });
      await eventually(() => (values.length >= 3 ? true : undefined), 20000, 'records');
      await new Promise((ok) => setTimeout(ok, 500));
      return values;
    } finally {
      await consumer.stop();
    }
  }

  it('publishes through the thread; a buffer of its own moves without a copy, a pooled one is copied', async () => {
    const own = Buffer.allocUnsafeSlow(10_000).fill('a');
    await h.publish(topic, 'k1', own);
    assert.equal(own.buffer.byteLength, 0, 'transferred: detached here');
    const pooled = Buffer.from('small record');
    await h.publish(topic, 'k2', pooled);
    assert.equal(pooled.toString(), 'small record', 'copied: still usable here');
  });

  it('a thread that dies: its records are refused, and the next record gets a new thread', async () => {
    const internals = h as unknown as Internals;
    await h.publish(topic, 'warm', Buffer.from('third record'));
    const old = internals.thread!.worker;
    const lost = h.publish(topic, 'lost', Buffer.from('may or may not land'));
    await old.terminate();
    await assert.rejects(lost, (e: unknown) => e instanceof HandoffError && e.reason === 'kafka');
    await h.publish(topic, 'after', Buffer.from('after a new thread'));
    assert.notEqual(internals.thread!.worker, old);
    const values = await stored();
    assert.ok(values.includes('after a new thread') && values.includes('small record'));
  });

  it('a thread that stops answering is terminated after the deadline plus a margin', async () => {
    const internals = h as unknown as Internals;
    await h.publish(topic, 'warm2', Buffer.from('warm'));
    const thread = internals.thread!;
    // Stand in for a thread that went silent: the record's answer is overdue.
    const silent = h.publish(topic, 'silent', Buffer.from('overdue'));
    for (const w of thread.waiting.values()) w.due = Date.now() - 1;
    const exited = new Promise((ok) => thread.worker.once('exit', ok));
    internals.checkBackstop();
    await assert.rejects(silent, (e: unknown) => e instanceof HandoffError && /did not answer in time/.test(e.message));
    await exited;
    await h.publish(topic, 'again', Buffer.from('works again'));
  });
});
