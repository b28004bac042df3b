/** The relay's memory of outcomes expires as the compacted+expiring topic does. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { KafkaClient, Producer } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { topicConfig, TOPICS, DELIVERY_LOG_RETENTION_MS } from '../../runtime/topics.ts';
import { eventually } from '../../runtime/testing.ts';
import { DeliveryLog } from './delivery-log.ts';
import { DeliveryJournal } from './journal.ts';

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
  const status = (recordId: string, at: number) => ({ recordId, recipient: 'a@example.test', status: 'delivered' as const, at, attempts: 1, nextHop: 'x', reply: '250', receivedAt: at, contentKey: null });

  await log.record([status('old', now)]);
  now += 6_000;
  await log.record([status('mid', now)]);
  assert.equal(log.done('old', 'A@example.test'), 'delivered', 'recipient keys are case-insensitive');
  now += 5_000; // old is 11 s old, mid 5 s
  assert.equal(log.prune(), 1);
  assert.equal(log.done('old', 'a@example.test'), undefined, 'expired');
  assert.equal(log.done('mid', 'a@example.test'), 'delivered', 'kept');
  assert.equal(log.size, 1);
  assert.equal(sent.length, 2);
});

const status = (recordId: string, at = Date.now()) => ({ recordId, recipient: 'a@example.test', status: 'delivered' as const, at, attempts: 1, nextHop: 'x', reply: '250', receivedAt: at, contentKey: null });
const codec = { encodeWith: () => Buffer.alloc(0) } as unknown as RecordCodec;

it('group commit: outcomes recorded while a produce is in flight go out together in the next one; a failed produce is retried, nothing dropped', async () => {
  const sends: number[] = [];
  let release: (() => void) | undefined;
  let failNext = 0;
  const producer = {
    send: async (r: { messages: unknown[] }) => {
      if (failNext > 0) { failNext--; throw new Error('broker away'); }
      sends.push(r.messages.length);
      await new Promise<void>((ok) => { release = ok; });
      return [];
    },
  } as unknown as Producer;
  const log = new DeliveryLog({ kafka: {} as KafkaClient, codec, producer, topic: 't', log: loggerFor('test') });
  const first = log.record([status('r0')]);
  await new Promise((r) => setImmediate(r));
  // 50 deliveries finish while the first produce is in flight.
  const rest = Array.from({ length: 50 }, (_, i) => log.record([status(`r${i + 1}`)]));
  assert.equal(log.done('r50', 'a@example.test'), 'delivered', 'known at once, before the produce');
  assert.deepEqual(sends, [1]);
  release!();
  await first;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sends, [1, 50], 'one produce for the 50');
  release!();
  await Promise.all(rest);
  // A failing broker: the produce is retried with backoff, and the caller waits for it.
  failNext = 1;
  const third = log.record([status('r51')]);
  await eventually(() => (sends.length === 3 ? true : undefined), 5000, 'retried');
  release!();
  await third;
  assert.deepEqual(sends, [1, 50, 1]);
});

it('journal: outcomes a killed relay had not logged are recovered at the next start; acknowledged ones are deleted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scop-journal-'));
  try {
    const a = new DeliveryJournal({ dir, log: loggerFor('test') });
    assert.deepEqual(a.recover().entries, []);
    a.open();
    const t1 = a.append([status('logged')]);
    a.append([status('unlogged-1'), status('unlogged-2')]);
    a.acknowledged(t1);
    // The writer "dies" (its file stays, its token is no longer live): rename it to a dead pid's name.
    const [file] = readdirSync(dir);
    renameSync(join(dir, file!), join(dir, file!.replace(/^journal-\d+-/, `journal-${deadPid()}-`)));
    const b = new DeliveryJournal({ dir, log: loggerFor('test') });
    const left = b.recover();
    assert.deepEqual(left.entries.map((s) => s.recordId), ['logged', 'unlogged-1', 'unlogged-2'], 'a whole file is recovered (re-logging a logged outcome is harmless)');
    left.discard();
    b.open();
    const t = b.append([status('x')]);
    b.acknowledged(t);
    b.close();
    assert.deepEqual(readdirSync(dir), [], 'graceful stop with everything in Kafka: no file left');
    // A torn last line (a crash mid-write) is skipped, the rest recovered.
    writeFileSync(join(dir, `journal-${deadPid()}-abcdef-0.ndjson`), `${JSON.stringify(status('whole'))}\n{"recordId":"torn`);
    assert.deepEqual(new DeliveryJournal({ dir, log: loggerFor('test') }).recover().entries.map((s) => s.recordId), ['whole']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a relay killed between the reply and the Kafka write: the next start logs the outcome before anything is consumed; a sibling that dies later is recovered by a scan', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scop-journal-'));
  try {
    // First life: the produce never completes (the process is killed while it is in flight).
    const hung = { send: () => new Promise(() => {}) } as unknown as Producer;
    const journal = new DeliveryJournal({ dir, log: loggerFor('test') });
    journal.open();
    const first = new DeliveryLog({ kafka: {} as KafkaClient, codec, producer: hung, topic: 't', log: loggerFor('test'), journal });
    void first.record([status('delivered-before-kill')]).catch(() => {});
    const [file] = readdirSync(dir);
    renameSync(join(dir, file!), join(dir, file!.replace(/^journal-\d+-/, `journal-${deadPid()}-`)));
    // Second life: start() reads the (empty) topic, then the journal.
    const sent: string[] = [];
    const producer = { send: async (r: { messages: { key: string }[] }) => { sent.push(...r.messages.map((m) => m.key)); return []; } } as unknown as Producer;
    const kafka = {} as KafkaClient;
    const second = new DeliveryLog({ kafka, codec: { ...codec, registerSchema: async () => 1 } as unknown as RecordCodec, producer, topic: 't', log: loggerFor('test'), journal: new DeliveryJournal({ dir, log: loggerFor('test') }), journalScanMs: 50, follow: (async () => ({ stop: async () => {} })) as never });
    await second.start();
    assert.deepEqual(sent, ['delivered-before-kill|a@example.test']);
    assert.equal(second.done('delivered-before-kill', 'a@example.test'), 'delivered');
    // A sibling relay on this host dies while this one runs: its journal is recovered within a scan.
    writeFileSync(join(dir, `journal-${deadPid()}-0123ab-0.ndjson`), `${JSON.stringify(status('sibling'))}\n`);
    await eventually(() => (sent.includes('sibling|a@example.test') ? true : undefined), 5000, 'the sibling\'s outcome logged');
    assert.equal(second.done('sibling', 'a@example.test'), 'delivered');
    await eventually(() => (readdirSync(dir).some((f) => f.includes('0123ab')) ? undefined : true), 5000, 'its file deleted');
    await second.stop();
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A pid no process has (pids above the kernel's limit never exist). */
const deadPid = () => 4_194_305;
