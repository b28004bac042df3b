/**
 * Engine tuning: the knobs are validated, commit requests within the interval share one commit,
 * and against the real broker a sink with fetch/commit tuning still handles and commits every record.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { ConfigError } from './config.ts';
import { commitScheduler, DEFAULT_ENGINE_DEADLINES, DEFAULT_ENGINE_TUNING, engineDeadlinesFromEnv, engineTuningFromEnv } from './engine-tuning.ts';
import { startEngine } from './engine.ts';
import { createStageTopics, produce, testBroker, testMailRecord } from './stage-testing.ts';
import { eventually } from './testing.ts';

describe('engine tuning', () => {
  it('reads the knobs, with defaults, and names the key of a bad value', () => {
    assert.deepEqual(engineTuningFromEnv({}), DEFAULT_ENGINE_TUNING);
    assert.deepEqual(DEFAULT_ENGINE_TUNING, { fetchMinBytes: 1, fetchMaxWaitMs: 1000, sinkCommitIntervalMs: 100 }, 'the documented defaults');
    assert.deepEqual(engineTuningFromEnv({ SCOP_FETCH_MIN_BYTES: '65536', SCOP_FETCH_MAX_WAIT_MS: '100', SCOP_SINK_COMMIT_INTERVAL_MS: '0' }), { fetchMinBytes: 65536, fetchMaxWaitMs: 100, sinkCommitIntervalMs: 0 });
    for (const [key, value] of [['SCOP_FETCH_MIN_BYTES', '0'], ['SCOP_FETCH_MAX_WAIT_MS', '60000'], ['SCOP_SINK_COMMIT_INTERVAL_MS', 'soon']] as const) {
      assert.throws(() => engineTuningFromEnv({ [key]: value }), (e: unknown) => e instanceof ConfigError && e.key === key, `${key}=${value}`);
    }
  });

  it('reads the stall timeout and commit deadline; a bad value is a config error naming the key and the fix', () => {
    assert.deepEqual(engineDeadlinesFromEnv({}), DEFAULT_ENGINE_DEADLINES);
    assert.deepEqual(DEFAULT_ENGINE_DEADLINES, { stallTimeoutMs: 60000, commitDeadlineMs: 120000 }, 'the documented defaults');
    assert.deepEqual(engineDeadlinesFromEnv({ SCOP_STALL_TIMEOUT_MS: '1000', SCOP_COMMIT_DEADLINE_MS: ' 5000 ' }), { stallTimeoutMs: 1000, commitDeadlineMs: 5000 });
    // Before, a bad value fell back to the default without a word: a typo silently kept 60 s.
    assert.throws(() => engineDeadlinesFromEnv({ SCOP_STALL_TIMEOUT_MS: '10s' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_STALL_TIMEOUT_MS'
      && /got "10s"/.test(e.message) && /e\.g\. SCOP_STALL_TIMEOUT_MS=60000/.test(e.message));
    assert.throws(() => engineDeadlinesFromEnv({ SCOP_COMMIT_DEADLINE_MS: '0' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_COMMIT_DEADLINE_MS'
      && /got "0"/.test(e.message) && /1000 to 86400000/.test(e.message));
    assert.throws(() => engineDeadlinesFromEnv({ SCOP_STALL_TIMEOUT_MS: '-5' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_STALL_TIMEOUT_MS');
  });

  it('requests within the interval share one commit; interval 0 commits each; cancel drops the pending one', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let commits = 0;
      const s = commitScheduler(200, () => commits++);
      for (let i = 0; i < 50; i++) s.request();
      assert.equal(commits, 0, 'nothing before the interval');
      mock.timers.tick(200);
      assert.equal(commits, 1, 'fifty requests, one commit');
      s.request();
      mock.timers.tick(199);
      assert.equal(commits, 1);
      mock.timers.tick(1);
      assert.equal(commits, 2, 'a later request arms a new timer');
      s.request();
      s.cancel();
      mock.timers.tick(1000);
      assert.equal(commits, 2, 'cancelled');
      const now = commitScheduler(0, () => commits++);
      now.request();
      now.request();
      assert.equal(commits, 4, 'interval 0: every request commits');
    } finally {
      mock.timers.reset();
    }
  });
});

describe('engine tuning against the broker', () => {
  const { svc, admin } = testBroker('engine-tuning-test');

  it('a sink with large fetch min bytes and a commit interval handles and commits every record; stop commits the rest', async () => {
    const t = await createStageTopics(admin, 'tuning', 2);
    const handled = new Set<string>();
    const env = { ...process.env, SCOP_FETCH_MIN_BYTES: String(8 * 1024 * 1024), SCOP_FETCH_MAX_WAIT_MS: '150', SCOP_SINK_COMMIT_INTERVAL_MS: '400' };
    const engine = await startEngine<{ envelope: { id: string } }>({ ...svc, env }, {
      name: 'tuning', version: '1', groupId: t.groupId, input: t.input, inputSchema: 'MailRecord', deadLetters: t.deadLetters, log: svc.log, mailPath: true,
      recordId: (r) => r.envelope.id,
      strategy: { kind: 'at-least-once', handle: async (r) => { handled.add(r.envelope.id); } },
    });
    const committed = async () => ((await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] }))[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    try {
      // Far fewer bytes than SCOP_FETCH_MIN_BYTES: the fetch answers when its wait is over.
      const first = Array.from({ length: 30 }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\nbody\r\n`));
      await produce(svc.kafka, svc.codec, t.input, 'MailRecord', first.map((record) => ({ record })));
      await eventually(() => (handled.size === 30 ? true : undefined), 30000, 'the first records handled');
      await eventually(async () => ((await committed()) === 30 ? true : undefined), 30000, 'their offsets committed within the interval');
      const second = Array.from({ length: 5 }, (_, i) => testMailRecord(`Subject: late ${i}\r\n\r\nbody\r\n`));
      await produce(svc.kafka, svc.codec, t.input, 'MailRecord', second.map((record) => ({ record })));
      await eventually(() => (handled.size === 35 ? true : undefined), 30000, 'the later records handled');
    } finally {
      await engine.stop();
    }
    assert.equal(await committed(), 35, 'stop commits what was handled');
  });
});
