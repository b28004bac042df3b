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

function supervisor(client: KafkaClient, health: HealthRegistry, brokerAnswers?: () => Promise<boolean>, metrics = new Registry()) {
  return new ConsumerSupervisor({
    name: 'test', kafka: client, log: pino({ level: 'silent' }), metrics, health,
    consumer: { groupId: 'g' }, topics: ['t'], fromBeginning: true, eachBatch: async () => {}, brokerAnswers,
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

  it('scop_consumer_restarts_total is 0 from the start (a panel shows the series before any crash), then counts re-creations', async () => {
    const { client, made } = scriptedClient([]);
    const health = new HealthRegistry();
    const registry = new Registry();
    const s = supervisor(client, health, undefined, registry);
    const restarts = async () => (await registry.getSingleMetric('scop_consumer_restarts_total')!.get()).values.find((v) => v.labels.consumer === 'test')?.value;
    await s.start();
    assert.equal(await restarts(), 0);
    await eventually(() => (health.check().ok ? true : undefined), 5000, 'ready');
    made[0]!.opts!.onCrash(new Error('KafkaJSGroupCoordinatorNotFound'));
    await eventually(() => (made.length === 2 && health.check().ok ? true : undefined), 5000, 're-created and ready');
    assert.equal(await restarts(), 1);
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
    // Each wait is at least its nominal backoff (0.5, 1, 2, 4 s): a loaded box only makes a gap longer,
    // so lower bounds do not flake (comparing neighbours did: 602, 2024, 2017, 4018 ms), and a backoff
    // that did not grow would fail the third and fourth.
    const gaps = made.slice(1).map((m, i) => m.at - made[i]!.at);
    [500, 1000, 2000, 4000].forEach((nominal, i) => assert.ok(gaps[i]! >= nominal * 0.95, `backoff grows: ${gaps.join(', ')} ms (wait ${i + 1} under ${nominal} ms)`));
    for (const m of made.slice(1, 4)) assert.equal(m.stopped, true, 'each failed consumer was stopped');
    await s.stop();
  });

  it('a broker that was away and answers again ends the backoff at once, and the backoff starts over', async () => {
    // Starts fail 3 times (waits 0.5, 1, 2 s), then the broker is back: without the probe the next wait is 4 s.
    const { client, made } = scriptedClient([{}, { failRun: true }, { failRun: true }, { failRun: true }]);
    let up = false;
    let probes = 0;
    const health = new HealthRegistry();
    const s = supervisor(client, health, async () => { probes++; return up; });
    await s.start();
    await eventually(() => (health.check().ok ? true : undefined), 5000, 'ready');
    made[0]!.opts!.onCrash(new Error('broker gone'));
    await eventually(() => (made.length === 4 ? true : undefined), 15000, 'the third failed start');
    assert.ok(probes >= 1, 'the 2 s wait asked whether a broker answers');
    up = true;
    const backAt = Date.now();
    await eventually(() => (made.length === 5 && health.check().ok ? true : undefined), 15000, 'a consumer that runs');
    assert.ok(made[4]!.at - backAt < 2500, `re-created ${made[4]!.at - backAt} ms after the broker answered (the backoff was 4000 ms)`);
    // Started over: the next crash waits 0.5 s, not 8 s.
    made[4]!.opts!.onCrash(new Error('once more'));
    await eventually(() => (made.length === 6 ? true : undefined), 15000, 'the next re-creation');
    assert.ok(made[5]!.at - made[4]!.at < 2500, `then 0.5 s again (${made[5]!.at - made[4]!.at} ms)`);
    await s.stop();
  });

  it('a broker that answers all along keeps the backoff (a consumer failing for another reason is not hammered)', async () => {
    const { client, made } = scriptedClient([{}, { failRun: true }, { failRun: true }, { failRun: true }]);
    const health = new HealthRegistry();
    const s = supervisor(client, health, async () => true);
    await s.start();
    await eventually(() => (health.check().ok ? true : undefined), 5000, 'ready');
    made[0]!.opts!.onCrash(new Error('not authorized'));
    await eventually(() => (made.length === 5 && health.check().ok ? true : undefined), 20000, 'a consumer that runs');
    const gaps = made.slice(1).map((m, i) => m.at - made[i]!.at);
    assert.ok(gaps[3]! >= 3500, `the 4 s wait was kept: ${gaps.join(', ')} ms`);
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
