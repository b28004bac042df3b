/**
 * The stage runtime against the real broker and registry: exactly-once output, poison records to
 * the dead-letter topic, SIGKILL mid-stream and restart, graceful stop, schema evolution, metrics.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { schema } from '../schemas/index.ts';
import type { DeadLetter, MailRecord } from '../schemas/types.ts';
import { fixtureStage } from './stage-fixture.ts';
import { createStageTopics, feedBacklog, killMidRun, produce, readTopic, spawnStage, type StageTopics, testBroker, testMailRecord, testServiceContext } from './stage-testing.ts';
import { eventually } from './testing.ts';
import { clientKindFromEnv } from './kafka.ts';
import { RawStore } from './raw-ref.ts';

const FIXTURE = fileURLToPath(new URL('./stage-fixture.ts', import.meta.url));

const { svc, admin } = testBroker('stage-test');
const CLIENT = clientKindFromEnv();

const ids = (records: { value: Buffer }[], decode: (b: Buffer) => MailRecord) => records.map((r) => decode(r.value).envelope.id);
const decodeMail = (b: Buffer) => schema('MailRecord').type.fromBuffer(b.subarray(5)) as MailRecord;

async function committedTotal(t: StageTopics): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] });
  return (offsets[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

async function endOffsets(topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
}

describe(`stage runtime (${CLIENT})`, () => {
  it('copies every record exactly once and commits the input offsets in the same transactions', async () => {
    const t = await createStageTopics(admin, 'stage-normal');
    const records = Array.from({ length: 90 }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\nbody ${i}\r\n`));
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
    const running = await fixtureStage.run(svc, t);
    try {
      const out = await readTopic(svc.kafka, t.output, 90, { settleMs: 1500 });
      assert.equal(out.length, 90, 'no duplicates');
      assert.deepEqual(new Set(ids(out, decodeMail)), new Set(records.map((r) => r.envelope.id)));
      for (const r of out) {
        const m = decodeMail(r.value);
        assert.equal(m.firewall?.clientPrefix, 'processed:client.example');
        assert.equal(m.envelope.helo, 'client.example', 'the envelope is not touched');
        assert.equal(r.key, m.envelope.id, 'the input key is carried over');
      }
      await eventually(async () => ((await committedTotal(t)) === 90 ? true : undefined), 10000, 'offsets committed');
      const text = await svc.metrics.metrics();
      assert.match(text, /scop_stage_records_in_total\{stage="fixture"\} 90/);
      assert.match(text, /scop_stage_records_out_total\{stage="fixture"\} 90/);
      assert.match(text, /scop_stage_processing_seconds_count\{stage="fixture"\} 90/);
      assert.match(text, /scop_stage_record_age_seconds_count\{stage="fixture"\} 90/);
      assert.match(text, /scop_stage_consumer_lag\{stage="fixture",topic="[^"]+",partition="\d"\} [01]\n/);
      assert.match(text, /scop_stage_transactions_total\{stage="fixture",outcome="commit"\} \d+/);
    } finally {
      await running.stop();
    }
  });

  it('dead-letters poison records with reason and original bytes, passes the good ones, and keeps going', async () => {
    const t = await createStageTopics(admin, 'stage-poison', 1);
    const ctx = testServiceContext('stage-poison'); // own metrics registry
    const garbage = Buffer.from('this is not avro at all');
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x01]), Buffer.from('payload')]);
    const blockId = await ctx.codec.registerSchema(`${t.input}-block`, 'Block');
    const wrongSchema = ctx.codec.encodeWith(blockId, 'Block', { prefix: '192.0.2.0/24', reason: 'x', createdAt: 1, expiresAt: null, source: 'test' });
    const good = [0, 1, 2].map((i) => testMailRecord(`Subject: good ${i}\r\n\r\nok\r\n`));
    const thrower = testMailRecord('THROW this one\r\n');
    const hanger = testMailRecord('HANG. forever\r\n');
    await produce(ctx.kafka, ctx.codec, t.input, 'MailRecord', [
      { record: good[0] }, { raw: garbage, key: 'g' }, { raw: unknownId, key: 'u' }, { record: thrower },
      { raw: wrongSchema, key: 'w' }, { record: good[1] }, { record: hanger }, { raw: Buffer.alloc(0), key: 'e' }, { record: good[2] },
    ]);
    const running = await fixtureStage.run(ctx, t);
    try {
      const out = await readTopic(ctx.kafka, t.output, 3);
      assert.deepEqual(ids(out, decodeMail), good.map((g) => g.envelope.id), 'good records pass, in order');
      const dlq = await readTopic(ctx.kafka, t.deadLetters, 6);
      assert.equal(dlq.length, 6);
      const letters = await Promise.all(dlq.map(async (r) => ({ key: r.key, letter: await ctx.codec.decodeAs<DeadLetter>(r.value, 'DeadLetter') })));
      letters.sort((a, b) => a.letter.sourceOffset - b.letter.sourceOffset);
      assert.ok(letters.every((l) => l.key === 'fixture' && l.letter.stage === 'fixture' && l.letter.stageVersion === '0.0.1'));
      assert.ok(letters.every((l) => l.letter.sourceTopic === t.input && l.letter.sourcePartition === 0));
      assert.deepEqual(letters.map((l) => [l.letter.sourceOffset, l.letter.reason]), [
        [1, 'decode-error'], [2, 'unknown-schema'], [3, 'process-error'], [4, 'decode-error'], [6, 'process-timeout'], [7, 'empty-record'],
      ]);
      assert.deepEqual(letters[0]!.letter.value, garbage, 'original bytes, unchanged');
      assert.deepEqual(letters[1]!.letter.value, unknownId);
      assert.match(letters[1]!.letter.error, new RegExp(`schema id ${unknownId.readInt32BE(1)} is not in the registry`));
      assert.equal(letters[2]!.letter.recordId, thrower.envelope.id);
      assert.match(letters[2]!.letter.error, /fixture refused/);
      assert.match(letters[3]!.letter.error, /cannot be read as MailRecord/);
      assert.equal(letters[4]!.letter.recordId, hanger.envelope.id);
      assert.equal(letters[0]!.letter.key?.toString(), 'g');

      // It keeps going: later records still flow.
      const later = testMailRecord('Subject: later\r\n\r\nok\r\n');
      await produce(ctx.kafka, ctx.codec, t.input, 'MailRecord', [{ record: later }]);
      const out2 = await readTopic(ctx.kafka, t.output, 4);
      assert.equal(ids(out2, decodeMail)[3], later.envelope.id);
      const text = await ctx.metrics.metrics();
      assert.match(text, /scop_stage_dead_letters_total\{stage="fixture",reason="decode-error"\} 2/);
      assert.match(text, /scop_stage_dead_letters_total\{stage="fixture",reason="process-timeout"\} 1/);
      assert.match(text, /scop_stage_records_out_total\{stage="fixture"\} 4/);
    } finally {
      await running.stop();
    }
  });

  it('reads records written with an older MailRecord schema through schema evolution', async () => {
    const t = await createStageTopics(admin, 'stage-evolve', 1);
    // The first MailRecord had only the envelope; later stages added nullable sections.
    const current = schema('MailRecord').schema as { fields: { name: string }[] };
    const oldSchema = { ...current, fields: current.fields.filter((f) => f.name === 'envelope') };
    const { id } = await svc.codec.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(oldSchema) }, { subject: `${t.input}-value` });
    const rec = testMailRecord('Subject: old\r\n\r\nold writer\r\n');
    const producer = svc.kafka.producer();
    await producer.connect();
    await producer.send({ topic: t.input, messages: [{ key: rec.envelope.id, value: await svc.codec.registry.encode(id, rec) }] });
    await producer.disconnect();
    const running = await fixtureStage.run(svc, t);
    try {
      const [out] = await readTopic(svc.kafka, t.output, 1, { settleMs: 200 });
      const m = decodeMail(out!.value);
      assert.equal(m.envelope.id, rec.envelope.id);
      assert.equal(m.rawRef?.offset, 0, 'the raw message is referred to, not copied');
      assert.deepEqual(await new RawStore(svc.kafka, svc.codec).raw(m), rec.envelope.raw);
      for (const f of current.fields) if (!['envelope', 'firewall', 'symbols', 'rawRef'].includes(f.name)) assert.equal((m as unknown as Record<string, unknown>)[f.name], null, `${f.name} read as its default`);
      assert.equal(m.firewall?.clientPrefix, 'processed:client.example', 'the stage added its own section');
      assert.deepEqual(m.symbols.map((s) => ({ ...s })), [{ symbol: 'FIXTURE_SEEN', stage: 'firewall', score: null, options: ['client.example'] }], 'and its symbol, stamped with its section');
    } finally {
      await running.stop();
    }
  });

  it('a stage SIGKILLed mid-stream and restarted writes every record exactly once', async () => {
    const t = await createStageTopics(admin, 'stage-kill', 3);
    // 200 ms per record, 8 at a time on each of 3 partitions: ~120 records/s. The input is topped up
    // to a backlog of 150 until the last kill, so each kill lands with work in flight however long
    // the wait for its threshold took (a fixed input could drain first on a fast moment).
    const feeder = feedBacklog(svc, admin, t, (i) => testMailRecord(`Subject: ${i}\r\n\r\n${'x'.repeat(200)}\r\n`), { backlog: 150, batch: 50 });
    let records: MailRecord[] = [];
    let kills = 0;
    try {
      for (const threshold of [120, 330]) {
        const child = spawnStage(FIXTURE, 'fixtureStage', t, { FIXTURE_DELAY_MS: '200' });
        await child.ready;
        await eventually(async () => ((await committedTotal(t)) >= threshold ? true : undefined), 60000, `${threshold} records committed`);
        const kill = await killMidRun(admin, t, child);
        console.log(`# killed at ${kill.committed} of ${kill.end} committed`);
        assert.equal(kill.exit, null, 'killed, not exited');
        assert.ok(kill.committed < kill.end, `killed mid-stream (${kill.committed}/${kill.end} committed)`);
        kills++;
      }
    } finally {
      records = await feeder.stop();
    }
    const total = records.length;
    const child = spawnStage(FIXTURE, 'fixtureStage', t);
    await child.ready;
    try {
      const out = await readTopic(svc.kafka, t.output, total, { settleMs: 2000, timeoutMs: 90000 });
      const seen = ids(out, decodeMail);
      const dups = seen.length - new Set(seen).size;
      assert.equal(dups, 0, 'no duplicates in the read_committed view');
      assert.deepEqual(new Set(seen), new Set(records.map((r) => r.envelope.id)), 'nothing lost');
      await eventually(async () => ((await committedTotal(t)) === total ? true : undefined), 10000, 'all offsets committed');
      const written = await endOffsets(t.output);
      // The log holds more than `total` positions: transaction markers, and output of transactions the kills aborted.
      assert.ok(written > total, `output log has ${written} positions for ${total} records after ${kills} kills`);
    } finally {
      child.child.kill('SIGTERM');
      await child.exited;
    }
  });

  it('stops gracefully: the transaction in flight is committed, the rest is left for the next run', async () => {
    const t = await createStageTopics(admin, 'stage-stop', 1);
    const total = 200;
    const records = Array.from({ length: total }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\nbody\r\n`));
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
    const child = spawnStage(FIXTURE, 'fixtureStage', t, { FIXTURE_DELAY_MS: '10' });
    await child.ready;
    await eventually(async () => ((await committedTotal(t)) >= 40 ? true : undefined), 60000, 'some records committed');
    const t0 = Date.now();
    child.child.kill('SIGTERM');
    assert.equal(await child.exited, 0, 'clean exit');
    assert.ok(Date.now() - t0 < 15000, 'stops promptly');
    const committed = await committedTotal(t);
    assert.ok(committed < total, 'stopped before the end');
    const out = await readTopic(svc.kafka, t.output, committed, { settleMs: 1000 });
    assert.equal(out.length, committed, 'exactly the committed input is in the output');
    const running = await fixtureStage.run(svc, t);
    try {
      const all = await readTopic(svc.kafka, t.output, total, { settleMs: 1500 });
      assert.equal(all.length, total);
      assert.equal(new Set(ids(all, decodeMail)).size, total);
    } finally {
      await running.stop();
    }
  });

  it('a stage that makes no progress while records wait is reported not ready (stalled), with its lag', async () => {
    const t = await createStageTopics(admin, 'stage-stall', 1);
    const ctx = { ...testServiceContext('stage-stall'), env: { ...process.env, SCOP_STALL_TIMEOUT_MS: '1000' } };
    await produce(ctx.kafka, ctx.codec, t.input, 'MailRecord', [{ record: testMailRecord('TRANS: the server it needs is down\r\n') }, { record: testMailRecord('Subject: behind it\r\n\r\nok\r\n') }]);
    const running = await fixtureStage.run(ctx, t);
    try {
      await eventually(() => (ctx.health!.check().ok ? true : undefined), 20000, 'ready at first');
      // The fixture's time limit is 1.5 s, so a stall is judged after 16.5 s without progress.
      const stalled = await eventually(() => { const h = ctx.health!.check(); return h.ok ? undefined : h; }, 60000, 'not ready');
      assert.match(String(stalled.checks.fixture?.reason), /no progress for over 16 s with 2 records waiting/);
      const text = await ctx.metrics.metrics();
      assert.match(text, /scop_stage_consumer_lag\{stage="fixture",topic="[^"]+",partition="0"\} 2\n/);
      assert.match(text, /scop_consumer_stalled\{consumer="fixture"\} 1/);
      assert.equal(await committedTotal(t), 0, 'nothing committed past the stuck record');
    } finally {
      await running.stop();
    }
  });
});
