/**
 * A transactional chunk that takes longer than the group session (kafkajs heartbeats only when
 * asked) must not cost the member its session: the engine heartbeats while it works (keepAlive).
 * One record whose processing takes 9 s, a 6 s session: the member joins once, the record is
 * written once, and no rebalance follows. Without the heartbeats the broker drops the member after
 * 6 s and it joins again.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { startEngine } from './engine.ts';
import { createStageTopics, produce, readTopic, testBroker, testMailRecord } from './stage-testing.ts';

const { svc, admin } = testBroker('engine-session', 'kafkajs');

describe('engine: a chunk longer than the session', { timeout: 120000 }, () => {
  it('keeps the membership while it works (kafkajs, 6 s session, 9 s chunk)', async () => {
    const t = await createStageTopics(admin, 'engine-session', 1);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    let calls = 0;
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [{ record: testMailRecord('Subject: slow\r\n\r\nslow\r\n') }]);
    const running = await startEngine(svc, {
      name: 'slow', version: '1', groupId: t.groupId, input: t.input, inputSchema: 'MailRecord', deadLetters: t.deadLetters,
      sessionTimeoutMs: 6000, log,
      strategy: {
        kind: 'transactional',
        process: async () => {
          calls++;
          await new Promise((r) => setTimeout(r, 9000));
          return { records: [{ topic: t.output, key: 'k', value: Buffer.from('done') }], outputs: 1, receivedAt: null };
        },
      },
    });
    try {
      const out = await readTopic(svc.kafka, t.output, 1, { settleMs: 4000, timeoutMs: 90000 });
      assert.equal(out.length, 1);
      const joins = lines.filter((l) => l.includes('joined consumer group')).length;
      assert.equal(joins, 1, `one join, no rebalance after the slow chunk:\n${lines.filter((l) => /join|rebalanc|transaction failed/i.test(l)).join('')}`);
      assert.equal(calls, 1, 'processed once');
    } finally {
      await running.stop();
    }
  });
});
