/**
 * A chunk stuck for good (a call that never returns: seen once as a commit after a broker restart)
 * must not hold its partition forever: after the chunk deadline the consumer is re-created, the
 * partition read again from its committed offset, and the record written once.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { startEngine } from './engine.ts';
import { createStageTopics, produce, readTopic, testBroker, testMailRecord } from './stage-testing.ts';

const { svc, admin } = testBroker('engine-deadline', 'kafkajs');

describe('engine: a chunk that never finishes', { timeout: 180000 }, () => {
  it('gives up after the chunk deadline, re-creates the consumer, and writes the record once', async () => {
    const t = await createStageTopics(admin, 'engine-deadline', 1);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    let calls = 0;
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [{ record: testMailRecord('Subject: stuck\r\n\r\nstuck\r\n') }]);
    const running = await startEngine(svc, {
      name: 'stuck', version: '1', groupId: t.groupId, input: t.input, inputSchema: 'MailRecord', deadLetters: t.deadLetters,
      sessionTimeoutMs: 6000, chunkDeadlineMs: 3000, log,
      strategy: {
        kind: 'transactional',
        process: async () => {
          calls++;
          // The first call never returns; the engine must not wait for it.
          if (calls === 1) await new Promise(() => {});
          return { records: [{ topic: t.output, key: 'k', value: Buffer.from('done') }], outputs: 1, receivedAt: null };
        },
      },
    });
    try {
      const out = await readTopic(svc.kafka, t.output, 1, { settleMs: 3000, timeoutMs: 120000 });
      assert.equal(out.length, 1, 'written once');
      assert.ok(calls >= 2, `processed again after the deadline (${calls} calls)`);
      assert.ok(lines.some((l) => l.includes('did not finish within 3000 ms')), 'the deadline is logged');
    } finally {
      await running.stop();
    }
  });
});
