/**
 * runtime/kafka.ts as a boundary: no file outside it talks to a client library, KAFKA_CLIENT selects
 * the implementation, and start-up waits for an unreachable broker with backoff and a clear line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from './config.ts';
import { createKafkaClient, kafkaSettingsFromEnv, waitForBrokers } from './kafka.ts';
import { produceCalls } from './kafka-kafkajs.ts';
import { freePort } from '../infra/ports.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** The implementation files, and tests of the library patches themselves. */
const ALLOWED = new Set(['runtime/kafka.ts', 'runtime/kafka-types.ts', 'runtime/kafka-kafkajs.ts', 'runtime/kafka-platformatic.ts', 'runtime/kafka-reader.ts', 'runtime/partition-producers.ts', 'patches/kafkajs.test.ts', 'patches/platformatic-kafka.test.ts']);

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

describe('runtime/kafka.ts', () => {
  it('is the only way to a Kafka client library: no other file imports kafkajs or @platformatic/kafka', () => {
    const offenders = sources(ROOT)
      .map((f) => relative(ROOT, f))
      .filter((f) => !ALLOWED.has(f))
      .filter((f) => /from\s+['"](kafkajs|@platformatic\/kafka)(\/[^'"]*)?['"]|require\(['"](kafkajs|@platformatic\/kafka)/.test(readFileSync(join(ROOT, f), 'utf8')));
    assert.deepEqual(offenders, []);
  });

  it('KAFKA_CLIENT selects the implementation (kafkajs by default); a wrong value names the key', () => {
    assert.equal(kafkaSettingsFromEnv({ KAFKA_BROKERS: '127.0.0.1:9092' }).client, 'kafkajs');
    const s = kafkaSettingsFromEnv({ KAFKA_BROKERS: '127.0.0.1:9092', KAFKA_CLIENT: 'platformatic' });
    assert.equal(createKafkaClient(s).kind, 'platformatic');
    assert.equal(createKafkaClient({ ...s, client: 'kafkajs' }).kind, 'kafkajs');
    assert.throws(() => kafkaSettingsFromEnv({ KAFKA_BROKERS: '127.0.0.1:9092', KAFKA_CLIENT: 'librdkafka' }), (e: unknown) => e instanceof ConfigError && e.key === 'KAFKA_CLIENT');
  });

  it('waits for an unreachable broker with backoff and a line naming KAFKA_BROKERS, then fails with a config error', async () => {
    const port = await freePort();
    const lines: { msg: string; retryInMs: number }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(JSON.parse(l)); } });
    const t0 = Date.now();
    await assert.rejects(waitForBrokers({ brokers: [`127.0.0.1:${port}`], clientId: 'wait-test' }, log, 3000), (e: unknown) => {
      assert.ok(e instanceof ConfigError && e.key === 'KAFKA_BROKERS', String(e));
      assert.match((e as Error).message, /within 3000 ms of waiting/);
      return true;
    });
    assert.ok(Date.now() - t0 >= 2900, 'waited for the whole bound');
    const waits = lines.filter((l) => l.msg.startsWith('waiting for Kafka'));
    assert.ok(waits.length >= 3, `one line per attempt (${waits.length})`);
    assert.match(waits[0]!.msg, new RegExp(`KAFKA_BROKERS=127\\.0\\.0\\.1:${port}`));
    assert.ok(waits[1]!.retryInMs > waits[0]!.retryInMs, 'backoff grows');
  });

  it('returns as soon as the broker answers', async () => {
    const t0 = Date.now();
    await waitForBrokers({ brokers: process.env.KAFKA_BROKERS!.split(','), clientId: 'wait-test' }, pino({ level: 'silent' }), 30000);
    assert.ok(Date.now() - t0 < 10000);
  });
});

describe('kafkajs: the records of a transaction as produce calls', () => {
  const rec = (topic: string, n: number, bytes = 10) => ({ topic, key: `${topic}${n}`, value: Buffer.alloc(bytes, n) });
  const shape = (calls: ReturnType<typeof produceCalls>) => calls.map((c) => c.map((t) => `${t.topic}:${t.messages.map((m) => m.key).join(',')}`));

  it('puts every topic in one call (one Produce and one AddPartitionsToTxn, not one per topic), each topic in its order', () => {
    const calls = produceCalls([rec('out', 1), rec('side', 1), rec('out', 2), rec('dlq', 1), rec('side', 2)]);
    assert.deepEqual(shape(calls), [['out:out1,out2', 'side:side1,side2', 'dlq:dlq1']]);
  });

  it('starts a new call past 16 MiB of values, and sends a larger record alone', () => {
    const MiB = 1024 * 1024;
    const calls = produceCalls([rec('a', 1, 10 * MiB), rec('b', 1, 5 * MiB), rec('a', 2, 2 * MiB), rec('b', 2, 20 * MiB), rec('a', 3, 1)]);
    assert.deepEqual(shape(calls), [['a:a1', 'b:b1'], ['a:a2'], ['b:b2'], ['a:a3']]);
    assert.deepEqual(produceCalls([]), []);
  });
});
