/**
 * The supervisor's recovery logic with a scripted consumer (no broker): a consumer that crashes is
 * re-created with growing backoff, a crash while starting counts as a failed start (not as a
 * running consumer — the silent stall this replaces), and health says so throughout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { ConsumerSupervisor } from './consumer-supervisor.ts';
import { HealthRegistry } from './health.ts';
import type { GroupConsumer, KafkaClient, RunOptions } from './kafka.ts';
import { eventually } from './testing.ts';

interface Script { crashWhileStarting?: boolean; failRun?: boolean }

/** A client whose consumers follow `scripts` in order (one per creation), then behave. */
function scriptedClient(scripts: Script[]) {
  const made: { opts: RunOptions | undefined; stopped: boolean; at: number }[] = [];
  const client = {
    settings: { brokers: ['127.0.0.1:1'], clientId: 'fake' },
    kind: 'kafkajs',
    admin: () => { throw new Error('no admin in this test'); },
    producer: () => { throw new Error('no producer in this test'); },
    sever: () => {},
    consumer: (): GroupConsumer => {
      const script = scripts.shift() ?? {};
      const entry = { opts: undefined as RunOptions | undefined, stopped: false, at: Date.now() };
      made.push(entry);
      return {
        transactions: () => { throw new Error('not used'); },
        commitOffsets: async () => {},
        async run(o) {
          entry.opts = o;
          if (script.failRun) throw new Error('connect ECONNREFUSED');
          if (script.crashWhileStarting) o.onCrash(new Error('KafkaJSGroupCoordinatorNotFound'));
          else setTimeout(() => o.onAssigned?.([]), 10);
        },
        async stop() { entry.stopped = true; },
      };
    },
  } as unknown as KafkaClient;
  return { client, made };
}

function supervisor(client: KafkaClient, health: HealthRegistry) {
  return new ConsumerSupervisor({
    name: 'test', kafka: client, log: pino({ level: 'silent' }), metrics: new Registry(), health,
    consumer: { groupId: 'g' }, topics: ['t'], fromBeginning: true, eachBatch: async () => {},
  });
}

describe('consumer supervisor', () => {
  it('re-creates a consumer that crashes, and is not ready in between', async () => {
    const { client, made } = scriptedClient([]);
    const health = new HealthRegistry();
    const s = supervisor(client, health);
    await s.start();
    await eventually(() => (health.check().ok ? true : undefined), 5000, 'ready');
    made[0]!.opts!.onCrash(new Error('KafkaJSGroupCoordinatorNotFound'));
    const h = health.check();
    assert.equal(h.ok, false);
    assert.match(String(h.checks.test?.reason), /consumer not running \(crashed: KafkaJSGroupCoordinatorNotFound\)/);
    await eventually(() => (made.length === 2 && health.check().ok ? true : undefined), 5000, 're-created and ready');
    assert.equal(made[0]!.stopped, true, 'the crashed consumer was stopped');
    await s.stop();
  });

  it('a consumer that crashes while starting is a failed start: retried with growing backoff until one runs', async () => {
    const { client, made } = scriptedClient([{}, { crashWhileStarting: true }, { failRun: true }, { crashWhileStarting: true }]);
    const health = new HealthRegistry();
    const s = supervisor(client, health);
    await s.start();
    await eventually(() => (health.check().ok ? true : undefined), 5000, 'ready');
    made[0]!.opts!.onCrash(new Error('broker gone'));
    // 0.5 s, 1 s, 2 s: three failed starts, then the fifth consumer runs.
    await eventually(() => (made.length === 5 && health.check().ok ? true : undefined), 15000, 'a consumer that runs');
    const gaps = made.slice(1).map((m, i) => m.at - made[i]!.at);
    assert.ok(gaps[2]! > gaps[1]! && gaps[3]! > gaps[2]!, `backoff grows: ${gaps.join(', ')} ms`);
    for (const m of made.slice(1, 4)) assert.equal(m.stopped, true, 'each failed consumer was stopped');
    await s.stop();
  });

  it('a crash of a re-created consumer during recovery is not lost', async () => {
    const { client, made } = scriptedClient([]);
    const health = new HealthRegistry();
    const s = supervisor(client, health);
    await s.start();
    made[0]!.opts!.onCrash(new Error('first'));
    await eventually(() => (made.length === 2 && made[1]!.opts ? true : undefined), 5000, 'second consumer');
    made[1]!.opts!.onCrash(new Error('second, right away'));
    await eventually(() => (made.length === 3 && health.check().ok ? true : undefined), 10000, 'third consumer running');
    await s.stop();
    assert.equal(health.check().ok, true, 'stopped supervisors leave the registry');
  });

  it('a first start that fails (a broker still loading) does not fail the service: it recovers like a crash', async () => {
    const { client, made } = scriptedClient([{ crashWhileStarting: true }]);
    const health = new HealthRegistry();
    const s = supervisor(client, health);
    await s.start();
    assert.equal(health.check().ok, false, 'not ready while the consumer does not run');
    await eventually(() => (made.length === 2 && health.check().ok ? true : undefined), 5000, 're-created and ready');
    await s.stop();
  });
});
