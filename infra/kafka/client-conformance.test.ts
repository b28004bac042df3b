/**
 * Client conformance: what scop needs from a Kafka client, checked through runtime/kafka.ts against
 * the real broker for EVERY implementation (KAFKA_CLIENT=kafkajs and platformatic):
 *  - idempotent produce with acks=all, in order per partition;
 *  - a consumer group whose members share partitions and take over when one leaves;
 *  - read_committed visibility: a committed read-process-write transaction is visible with its
 *    offsets, a failed one is not;
 *  - zombie fencing: a member frozen mid-stream (SIGSTOP) whose partition another member took over
 *    cannot commit when it wakes up;
 *  - rebalances while transactions are in flight (members joining and leaving) lose and duplicate nothing;
 *  - a broker restart: the stage resumes by itself, nothing lost or duplicated, and its health
 *    says not-ready while it cannot work and ready after.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { schema } from '../../schemas/index.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { HealthRegistry } from '../../runtime/health.ts';
import { CLIENT_KINDS, createKafkaClient, isFencedError, type Admin, type ClientKind, type KafkaClient, type TopicPartition } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import { RecordCodec } from '../../runtime/registry.ts';
import type { ServiceContext } from '../../runtime/service.ts';
import { fixtureStage } from '../../runtime/stage-fixture.ts';
import { createStageTopics, produce, readTopic, spawnStage, testMailRecord, testServiceContext, type StageTopics } from '../../runtime/stage-testing.ts';
import { eventually, testKafka, testRegistry, uniqueName } from '../../runtime/testing.ts';
import { freePort } from '../ports.ts';
import { startLocalKafka } from './broker.ts';

const FIXTURE = fileURLToPath(new URL('../../runtime/stage-fixture.ts', import.meta.url));
const ROOT = resolve(import.meta.dirname, '..', '..');
const log = loggerFor('conformance');
const decodeMail = (b: Buffer) => schema('MailRecord').type.fromBuffer(b.subarray(5)) as MailRecord;

async function committedTotal(admin: Admin, t: StageTopics): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] });
  return (offsets[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

async function readAll(kafka: KafkaClient, topic: string, expected: number, readUncommitted = false, settleMs = 0): Promise<{ key: string; value: string; partition: number }[]> {
  const got = await readTopic(kafka, topic, expected, { readUncommitted, settleMs });
  return got.map((r) => ({ key: String(r.key), value: r.value.toString(), partition: r.partition }));
}

/** Every input record exactly once in the output (read_committed), whatever happened in between. */
async function assertExactlyOnce(kafka: KafkaClient, t: StageTopics, records: MailRecord[]): Promise<void> {
  const out = await readTopic(kafka, t.output, records.length, { settleMs: 2000, timeoutMs: 90000 });
  const seen = out.map((r) => decodeMail(r.value).envelope.id);
  assert.equal(seen.length - new Set(seen).size, 0, 'no duplicates in the read_committed view');
  assert.deepEqual(new Set(seen), new Set(records.map((r) => r.envelope.id)), 'nothing lost');
}

/** Unique stage topics with `n` MailRecords on the input. */
async function stageWithRecords(admin: Admin, kafka: KafkaClient, codec: RecordCodec, name: string, partitions: number, n: number): Promise<{ t: StageTopics; records: MailRecord[] }> {
  const t = await createStageTopics(admin, name, partitions);
  const records = Array.from({ length: n }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\n${name}\r\n`));
  await produce(kafka, codec, t.input, 'MailRecord', records.map((record) => ({ record })));
  return { t, records };
}

for (const client of CLIENT_KINDS) {
  describe(`Kafka client conformance: ${client}`, () => {
    let kafka: KafkaClient;
    let admin: Admin;
    let svc: ServiceContext;
    before(async () => {
      svc = testServiceContext(`conformance-${client}`, client);
      kafka = svc.kafka;
      admin = kafka.admin();
      await admin.connect();
    });
    after(async () => { await admin.disconnect(); });
    const childEnv = (extra: Record<string, string> = {}) => ({ KAFKA_CLIENT: client, STAGE_SESSION_TIMEOUT_MS: '6000', ...extra });

    it('idempotent producer with acks=all writes each record exactly once, in order per partition', async () => {
      const topic = uniqueName('conf-idem');
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      const producer = kafka.producer();
      await producer.connect();
      for (let batch = 0; batch < 5; batch++) {
        const res = await producer.send({ topic, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${batch * 20 + i}`, value: String(batch * 20 + i) })) });
        assert.equal(res[0]?.baseOffset, String(batch * 20), 'the send reports where it landed');
      }
      await producer.send({ topic, messages: [{ key: 'h', value: 'with headers', headers: { 'model-version': 'v1', bytes: Buffer.from([0, 255]) } }] });
      await producer.disconnect();
      const got = await readTopic(kafka, topic, 101, { settleMs: 500 });
      assert.deepEqual(got.slice(0, 100).map((r) => Number(r.value.toString())), Array.from({ length: 100 }, (_, i) => i));
      const h = got[100]!.headers;
      assert.equal(String(h['model-version']), 'v1', 'string headers round-trip');
      assert.deepEqual(Buffer.from(h.bytes as Buffer), Buffer.from([0, 255]), 'binary headers round-trip');
      assert.equal(got[100]!.key, 'h');
    });

    it('a consumer group with two members shares the partitions, and one takes all when the other leaves', async () => {
      const topic = uniqueName('conf-group');
      const groupId = uniqueName('group');
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 4 }] });
      const assigned = new Map<string, number[]>();
      const seen = new Map<string, Set<number>>();
      const members = [];
      for (const name of ['a', 'b']) {
        const c = kafka.consumer({ groupId, sessionTimeoutMs: 10000, heartbeatIntervalMs: 500 });
        seen.set(name, new Set());
        await c.run({
          topics: [topic], fromBeginning: true, partitionsConcurrently: 4, onCrash: (e) => log.error({ err: e.message }, 'crash'),
          onAssigned: (tps: TopicPartition[]) => { assigned.set(name, tps.map((t) => t.partition)); },
          eachBatch: async (b) => { if (b.records.length) seen.get(name)!.add(b.partition); },
        });
        members.push(c);
      }
      await eventually(() => {
        const a = assigned.get('a') ?? [], b = assigned.get('b') ?? [];
        return a.length > 0 && b.length > 0 && a.length + b.length === 4 ? true : undefined;
      }, 45000, 'both members to get partitions');
      const a = assigned.get('a')!, b = assigned.get('b')!;
      assert.deepEqual([...a, ...b].sort(), [0, 1, 2, 3], 'every partition assigned once');
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3].flatMap((p) => Array.from({ length: 5 }, (_, i) => ({ partition: p, value: `${p}-${i}` }))) });
      await producer.disconnect();
      await eventually(() => (seen.get('a')!.size + seen.get('b')!.size === 4 ? true : undefined), 30000, 'each member to consume its partitions');
      assert.deepEqual([...seen.get('a')!].sort(), [...a].sort());
      assert.deepEqual([...seen.get('b')!].sort(), [...b].sort());
      await members[1]!.stop(); // b leaves: a must take over all four
      await eventually(() => ((assigned.get('a') ?? []).length === 4 ? true : undefined), 45000, 'the remaining member to take all partitions');
      await members[0]!.stop();
    });

    it('read_committed: a committed transaction is visible with its offsets, a failed one is not', async () => {
      const input = uniqueName('conf-tx-in');
      const output = uniqueName('conf-tx-out');
      const tiny = uniqueName('conf-tx-tiny');
      const groupId = uniqueName('tx-group');
      await admin.createTopics({ waitForLeaders: true, topics: [
        { topic: input, numPartitions: 1 }, { topic: output, numPartitions: 1 },
        { topic: tiny, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1024' }] },
      ] });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: input, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) });
      await producer.disconnect();

      // First member: its transaction fails (a record too large for `tiny`): the records it wrote to `output` are aborted.
      let failure: unknown;
      const first = kafka.consumer({ groupId });
      const w1 = first.transactions({ log });
      await first.run({
        topics: [input], fromBeginning: true, onCrash: () => {},
        eachBatch: async (b) => {
          if (b.records.length === 0 || failure) return;
          try {
            await w1.commit(b, [...b.records.map((m) => ({ topic: output, value: `aborted-${String(m.value)}` })), { topic: tiny, value: Buffer.alloc(4096) }], b.nextOffset);
            failure = new Error('the commit should have failed');
          } catch (e) {
            failure = e;
          }
        },
      });
      await eventually(() => failure, 30000, 'the failing transaction');
      await first.stop();
      assert.ok(failure instanceof Error && !/should have failed/.test(failure.message), String(failure));
      const before = await admin.fetchOffsets({ groupId, topics: [input] });
      assert.equal(before[0]?.partitions[0]?.offset, '-1', 'a failed transaction commits no offset');

      // Second member: commits the batch with its offsets.
      let processed = 0;
      const second = kafka.consumer({ groupId });
      const w2 = second.transactions({ log });
      await second.run({
        topics: [input], fromBeginning: true, onCrash: () => {},
        eachBatch: async (b) => {
          if (b.records.length === 0) return;
          await w2.commit(b, b.records.map((m) => ({ topic: output, value: `${String(m.value)}-out` })), b.nextOffset);
          processed += b.records.length;
        },
      });
      await eventually(() => (processed >= 10 ? true : undefined), 30000, 'the batch to be processed');
      await second.stop();

      const committed = await admin.fetchOffsets({ groupId, topics: [input] });
      assert.equal(committed[0]?.partitions[0]?.offset, '10', 'offsets committed inside the transaction');
      const out = await readAll(kafka, output, 10, false, 1000);
      assert.deepEqual(out.map((r) => r.value), Array.from({ length: 10 }, (_, i) => `m${i}-out`));
      const raw = await readAll(kafka, output, 11, true, 1000);
      assert.ok(raw.some((r) => r.value.startsWith('aborted-')), 'read_uncommitted sees the aborted records, so the check above is meaningful');
    });

    it('a member re-created with the same transactional identity (a restart) commits, fencing its predecessor', async () => {
      const input = uniqueName('conf-reinit-in');
      const output = uniqueName('conf-reinit-out');
      const groupId = uniqueName('reinit-group');
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: input, numPartitions: 1 }, { topic: output, numPartitions: 1 }] });
      const producer = kafka.producer();
      await producer.connect();
      const previous = process.env.SCOP_INSTANCE_ID;
      process.env.SCOP_INSTANCE_ID = uniqueName('instance'); // stable across the "restart" (platformatic); kafkajs ids are per partition anyway
      try {
        for (let round = 0; round < 3; round++) {
          await producer.send({ topic: input, messages: [{ value: `m${round}` }] });
          let done = false;
          let failure: unknown;
          const c = kafka.consumer({ groupId });
          const w = c.transactions({ log });
          await c.run({
            topics: [input], fromBeginning: true, onCrash: (e) => { failure = e; },
            eachBatch: async (b) => {
              if (b.records.length === 0) return;
              try { await w.commit(b, b.records.map((m) => ({ topic: output, value: `${String(m.value)}-out` })), b.nextOffset); done = true; } catch (e) { failure = e; }
            },
          });
          await eventually(() => { if (failure) throw failure; return done ? true : undefined; }, 30000, `round ${round} committed`);
          await c.stop();
        }
      } finally {
        if (previous === undefined) delete process.env.SCOP_INSTANCE_ID; else process.env.SCOP_INSTANCE_ID = previous;
        await producer.disconnect();
      }
      assert.deepEqual((await readAll(kafka, output, 3, false, 500)).map((r) => r.value), ['m0-out', 'm1-out', 'm2-out']);
    });

    it('a transactional producer under a fixed id: sends are atomic across topics, a newer holder fences the older one', async () => {
      const a = uniqueName('conf-txp-a');
      const b = uniqueName('conf-txp-b');
      const transactionalId = uniqueName('txp');
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: a, numPartitions: 1 }, { topic: b, numPartitions: 1 }] });
      const first = await kafka.transactionalProducer({ transactionalId });
      await first.send([{ topic: a, key: 'k', value: 'first-a' }, { topic: b, key: 'k', value: 'first-b' }], { compression: 'gzip' });
      const second = await kafka.transactionalProducer({ transactionalId });
      let fenced: unknown;
      try { await first.send([{ topic: a, value: 'zombie-a' }, { topic: b, value: 'zombie-b' }]); } catch (e) { fenced = e; }
      assert.ok(fenced, 'the older holder cannot send any more');
      assert.ok(isFencedError(fenced), `the failure says fenced: ${(fenced as Error).message}`);
      await second.send([{ topic: a, value: 'second-a' }, { topic: b, value: 'second-b' }]);
      await first.disconnect().catch(() => {});
      await second.disconnect();
      assert.deepEqual((await readAll(kafka, a, 2, false, 500)).map((r) => r.value), ['first-a', 'second-a']);
      assert.deepEqual((await readAll(kafka, b, 2, false, 500)).map((r) => r.value), ['first-b', 'second-b']);
    });

    it('a zombie is fenced: a member frozen mid-stream cannot commit after another member took its partition over', async () => {
      const { t, records } = await stageWithRecords(admin, kafka, svc.codec, `conf-zombie-${client}`, 1, 160);
      const zombie = spawnStage(FIXTURE, 'fixtureStage', t, childEnv({ FIXTURE_DELAY_MS: '60' }));
      await zombie.ready;
      await eventually(async () => ((await committedTotal(admin, t)) >= 20 ? true : undefined), 60000, 'the first member to commit');
      zombie.child.kill('SIGSTOP'); // frozen: most likely in the middle of a chunk, maybe inside a transaction
      const frozenAt = await committedTotal(admin, t);
      const owner = await fixtureStage.run(testServiceContext(`conf-owner-${client}`, client), { ...t, sessionTimeoutMs: 6000 });
      try {
        await eventually(async () => ((await committedTotal(admin, t)) === records.length ? true : undefined), 120000, 'the new owner to finish');
        zombie.child.kill('SIGCONT'); // wakes up and tries to finish what it was doing
        await new Promise((r) => setTimeout(r, 8000));
        assert.ok(frozenAt < records.length, 'frozen mid-stream');
        await assertExactlyOnce(kafka, t, records);
        assert.equal(await committedTotal(admin, t), records.length);
      } finally {
        zombie.child.kill('SIGCONT');
        zombie.child.kill('SIGTERM');
        await zombie.exited;
        await owner.stop();
      }
    });

    it('rebalances while transactions are in flight (members joining and leaving) lose and duplicate nothing', async () => {
      const { t, records } = await stageWithRecords(admin, kafka, svc.codec, `conf-rebalance-${client}`, 3, 360);
      const a = spawnStage(FIXTURE, 'fixtureStage', t, childEnv({ FIXTURE_DELAY_MS: '25' }));
      await a.ready;
      let c: ReturnType<typeof spawnStage> | undefined;
      try {
        await eventually(async () => ((await committedTotal(admin, t)) >= 40 ? true : undefined), 60000, 'progress before the first join');
        const b = await fixtureStage.run(testServiceContext(`conf-rebalance-b-${client}`, client), { ...t, sessionTimeoutMs: 6000 }); // joins
        await eventually(async () => ((await committedTotal(admin, t)) >= 140 ? true : undefined), 90000, 'progress with two members');
        c = spawnStage(FIXTURE, 'fixtureStage', t, childEnv({ FIXTURE_DELAY_MS: '25' })); // joins
        await c.ready;
        await eventually(async () => ((await committedTotal(admin, t)) >= 220 ? true : undefined), 90000, 'progress with three members');
        await b.stop(); // leaves
        await eventually(async () => ((await committedTotal(admin, t)) === records.length ? true : undefined), 120000, 'every record committed');
        await assertExactlyOnce(kafka, t, records);
      } finally {
        for (const ch of [a, c]) if (ch) { ch.child.kill('SIGTERM'); await ch.exited; }
      }
    });

    it('a broker restart: the stage resumes by itself, nothing lost or duplicated, health not-ready while it cannot work', async () => {
      const dir = mkdtempSync(join(ROOT, '.data', `conf-broker-${client}-`));
      const brokerOpts = { dataDir: join(dir, 'kafka'), port: await freePort(), controllerPort: await freePort() };
      let broker = await startLocalKafka(brokerOpts);
      const settings = { ...testKafka(`conf-restart-${client}`), brokers: [broker.bootstrap], client: client as ClientKind };
      const health = new HealthRegistry();
      const ctx: ServiceContext = {
        kafka: createKafkaClient(settings), kafkaSettings: settings, registry: testRegistry(), codec: new RecordCodec(testRegistry()),
        log: loggerFor(`conf-restart-${client}`), metrics: new Registry(), env: { ...process.env, SCOP_STALL_TIMEOUT_MS: '10000' }, dataDir: dir, health,
      };
      const own = ctx.kafka.admin();
      await own.connect();
      const t = await createStageTopics(own, 'conf-restart', 3);
      await own.disconnect();
      const first = Array.from({ length: 100 }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\nbefore\r\n`));
      const second = Array.from({ length: 100 }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\nafter\r\n`));
      await produce(ctx.kafka, ctx.codec, t.input, 'MailRecord', first.map((record) => ({ record })));
      const stage = await fixtureStage.run(ctx, { ...t, sessionTimeoutMs: 6000 });
      const states: boolean[] = [];
      const poll = setInterval(() => states.push(health.check().ok), 250);
      try {
        const committed = async () => { const a = ctx.kafka.admin(); await a.connect(); try { return await committedTotal(a, t); } finally { await a.disconnect(); } };
        await eventually(async () => ((await committed()) === first.length ? true : undefined), 60000, 'the first records');
        await eventually(() => (health.check().ok ? true : undefined), 30000, 'ready before the stop');
        await broker.stop(); // SIGTERM: a graceful broker stop
        await eventually(() => (health.check().ok ? undefined : true), 60000, 'not ready while the broker is away');
        const downFor = 10000;
        await new Promise((r) => setTimeout(r, downFor));
        broker = await startLocalKafka(brokerOpts);
        await produce(ctx.kafka, ctx.codec, t.input, 'MailRecord', second.map((record) => ({ record })));
        await eventually(async () => ((await committed()) === first.length + second.length ? true : undefined), 180000, 'every record after the restart');
        await eventually(() => (health.check().ok ? true : undefined), 60000, 'ready again');
        await assertExactlyOnce(ctx.kafka, t, [...first, ...second]);
        assert.ok(states.includes(false) && states.at(-1) === true, 'health went not-ready and back');
      } finally {
        clearInterval(poll);
        await stage.stop();
        await broker.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
