/**
 * The raw message by reference (raw-ref.ts) and fused stages (stage.ts runChain) against the real
 * broker and registry: a stage reading a raw topic writes a reference instead of the bytes; a stage
 * that reads the raw fetches it by reference; a reference to nothing dead-letters the record; two
 * section stages fused commit one output per record with both sections, their side outputs (the
 * held record with its raw inline) and per-stage metrics, and write the intermediate topic only when
 * asked; two instances of a fused chain share partitions, and when one is SIGKILLed the other finishes
 * its partitions exactly once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schema } from '../schemas/index.ts';
import type { DeadLetter, MailRecord } from '../schemas/types.ts';
import { clientKindFromEnv } from './kafka.ts';
import { RawStore, sha256Hex } from './raw-ref.ts';
import { fixtureFirst, fixtureHold, fixtureStage } from './stage-fixture.ts';
import { runChain } from './stage.ts';
import { createStageTopics, feedBacklog, inputProgress, killMidRun, memberInputPartitions, produce, readTopic, spawnStage, type StageTopics, testBroker, testMailRecord, testServiceContext } from './stage-testing.ts';
import { eventually, uniqueName } from './testing.ts';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./stage-fixture.ts', import.meta.url));

const { svc, admin } = testBroker('fusion-test');
const CLIENT = clientKindFromEnv();
const decodeMail = (b: Buffer) => schema('MailRecord').type.fromBuffer(b.subarray(5)) as MailRecord;

async function topic(name: string, partitions = 1): Promise<string> {
  const t = uniqueName(name);
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: t, numPartitions: partitions, replicationFactor: 1 }] });
  return t;
}

describe(`raw messages by reference (${CLIENT})`, () => {
  it('a stage reading a raw topic writes a reference, not the bytes; the reference fetches them back, verified', async () => {
    const t = await createStageTopics(admin, 'rawref-write', 1);
    const records = Array.from({ length: 30 }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\n${'body '.repeat(200)}${i}\r\n`));
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
    const running = await fixtureStage.run(svc, t);
    const store = new RawStore(svc.kafka, svc.codec, { readAheadBytes: 64 * 1024 });
    try {
      const out = (await readTopic(svc.kafka, t.output, 30, { settleMs: 200 })).map((r) => decodeMail(r.value));
      out.sort((a, b) => a.rawRef!.offset - b.rawRef!.offset);
      for (const [i, m] of out.entries()) {
        assert.equal(m.envelope.raw.length, 0, 'no raw bytes on the output');
        assert.deepEqual({ ...m.rawRef }, { topic: t.input, partition: 0, offset: i, sha256: sha256Hex(records[i]!.envelope.raw) });
        assert.equal(m.envelope.size, records[i]!.envelope.size, 'the rest of the envelope is kept');
      }
      const fetched = await Promise.all(out.map((m) => store.raw(m)));
      for (const [i, raw] of fetched.entries()) assert.ok(raw.equals(records[i]!.envelope.raw), `record ${i} fetched back`);
      assert.ok(store.stats.fetches <= 6, `read ahead: ${store.stats.fetches} fetches for 30 records`);
      await assert.rejects(store.raw({ ...out[0]!, rawRef: { ...out[0]!.rawRef!, sha256: '00'.repeat(32) } }), /does not match its SHA-256/);
      await assert.rejects(store.raw({ ...out[0]!, rawRef: { ...out[0]!.rawRef!, offset: 1000 } }), /RawUnavailable|not in the topic|never written/);
      const inline = testMailRecord('Subject: inline\r\n\r\nx\r\n');
      assert.equal(await store.raw(inline), inline.envelope.raw, 'a record with its raw inline needs no fetch');
    } finally {
      await store.close();
      await running.stop();
    }
  });

  it('a stage that reads the raw fetches it by reference; a reference to nothing is dead-lettered as raw-unavailable', async () => {
    // The raw records the references point at.
    const rawTopic = await topic('rawref-source');
    const records = [testMailRecord('THROW: the stage sees the fetched bytes\r\n'), testMailRecord('Subject: fine\r\n\r\nok\r\n')];
    await produce(svc.kafka, svc.codec, rawTopic, 'MailRecord', records.map((record) => ({ record })));
    const ref = (i: number) => ({ topic: rawTopic, partition: 0, offset: i, sha256: sha256Hex(records[i]!.envelope.raw) });
    const byRef = (r: MailRecord, i: number): MailRecord => ({ ...r, envelope: { ...r.envelope, raw: Buffer.alloc(0) }, rawRef: ref(i) });
    const gone = { ...byRef(testMailRecord('Subject: gone\r\n\r\n'), 1), rawRef: { ...ref(1), offset: 5000 } };
    const t = await createStageTopics(admin, 'rawref-read', 1);
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [{ record: byRef(records[0]!, 0) }, { record: byRef(records[1]!, 1) }, { record: gone }]);
    const ctx = testServiceContext('rawref-read');
    const running = await fixtureStage.run(ctx, t);
    try {
      const [out] = await readTopic(ctx.kafka, t.output, 1, { settleMs: 500 });
      const m = decodeMail(out!.value);
      assert.equal(m.envelope.id, records[1]!.envelope.id);
      assert.deepEqual({ ...m.rawRef }, ref(1), 'the reference is carried on, not the fetched bytes');
      assert.equal(m.envelope.raw.length, 0);
      const dlq = await readTopic(ctx.kafka, t.deadLetters, 2, { settleMs: 300 });
      const letters = (await Promise.all(dlq.map((r) => ctx.codec.decodeAs<DeadLetter>(r.value, 'DeadLetter')))).sort((a, b) => a.sourceOffset - b.sourceOffset);
      assert.deepEqual(letters.map((l) => l.reason), ['process-error', 'raw-unavailable'], 'the first was refused on its fetched bytes; the third cannot be had');
      assert.match(letters[1]!.error, /5000/);
    } finally {
      await running.stop();
    }
  });
});

describe(`fused stages (${CLIENT})`, () => {
  for (const writeIntermediate of [false, true]) {
    it(`two section stages in one consumer and one transaction${writeIntermediate ? ', writing the intermediate topic too' : ''}`, async () => {
      const t = await createStageTopics(admin, 'chain', 2);
      const quarantine = await topic('chain-quarantine', 2);
      const intermediate = await topic('chain-intermediate', 2);
      const ctx = testServiceContext(`chain-${writeIntermediate}`);
      const records = [
        ...Array.from({ length: 20 }, (_, i) => testMailRecord(`Subject: ${i}\r\n\r\nok\r\n`)),
        testMailRecord('Subject: held\r\n\r\nheld body\r\n', { helo: 'hold.example' }),
        testMailRecord('THROW at the first member\r\n'),
        testMailRecord('Subject: refused by the second\r\n\r\n', { helo: 'refuse.example' }),
      ];
      await produce(ctx.kafka, ctx.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
      const running = await runChain(ctx, [
        { stage: fixtureFirst.stage, overrides: { output: intermediate } },
        { stage: fixtureHold.stage, overrides: { sideOutputs: { quarantine } } },
      ], { name: 'fixture-chain', description: 'test chain', defaultMetricsPort: 0, writeIntermediate }, t);
      try {
        const out = (await readTopic(ctx.kafka, t.output, 21, { settleMs: 1000 })).map((r) => decodeMail(r.value));
        assert.equal(out.length, 21, 'one output per good record, no duplicates');
        for (const m of out) {
          assert.equal(m.firewall?.clientPrefix, `processed:${m.envelope.helo}`, 'the first member\'s section');
          assert.ok(m.decision, 'the second member\'s section');
          assert.equal(m.envelope.raw.length, 0, 'no raw bytes on the fused output');
          assert.equal(m.rawRef?.topic, t.input, 'a reference to the consumed raw record');
        }
        const [held] = await readTopic(ctx.kafka, quarantine, 1, { settleMs: 300 });
        const h = decodeMail(held!.value);
        assert.equal(h.decision?.action, 'quarantine');
        assert.ok(h.envelope.raw.equals(records[20]!.envelope.raw), 'held mail keeps its raw bytes inline (the quarantine topic outlives the raw topic)');
        assert.equal(h.rawRef, null);
        const dlq = await readTopic(ctx.kafka, t.deadLetters, 2, { settleMs: 300 });
        const letters = await Promise.all(dlq.map((r) => ctx.codec.decodeAs<DeadLetter>(r.value, 'DeadLetter')));
        assert.deepEqual(letters.map((l) => l.stage), ['fixture-chain', 'fixture-chain']);
        assert.deepEqual(letters.map((l) => l.error.split(':')[0]).sort(), ['fixture-first', 'fixture-hold'], 'the member that refused is named');
        // A record the second member refuses writes nothing at all (one transaction): not its intermediate record either.
        const mid = await readTopic(ctx.kafka, intermediate, writeIntermediate ? 21 : 0, { settleMs: writeIntermediate ? 500 : 2000 });
        assert.equal(mid.length, writeIntermediate ? 21 : 0, writeIntermediate ? 'every record the chain passed, once' : 'no intermediate topic by default');
        if (writeIntermediate) assert.ok(mid.every((r) => decodeMail(r.value).envelope.raw.length === 0 && decodeMail(r.value).rawRef !== null), 'intermediate records carry the reference too');
        const text = await ctx.metrics.metrics();
        assert.match(text, /scop_stage_records_in_total\{stage="fixture-chain"\} 23/);
        assert.match(text, /scop_stage_records_in_total\{stage="fixture-first"\} 23/);
        assert.match(text, /scop_stage_records_out_total\{stage="fixture-first"\} 22/);
        assert.match(text, /scop_stage_records_in_total\{stage="fixture-hold"\} 22/);
        assert.match(text, /scop_stage_records_out_total\{stage="fixture-hold"\} 21/);
        assert.match(text, /scop_stage_dead_letters_total\{stage="fixture-hold",reason="process-error"\} 1/);
        assert.match(text, /scop_stage_processing_seconds_count\{stage="fixture-hold"\} 21/);
        assert.match(text, /scop_stage_record_age_seconds_count\{stage="fixture-hold"\} 21/);
        assert.match(text, /scop_stage_transactions_total\{stage="fixture-hold",outcome="commit"\} [1-9]/, 'members see the chain\'s transactions');
        assert.match(text, /scop_stage_consumer_lag\{stage="fixture-first",topic="[^"]+",partition="\d"\} 0/);
      } finally {
        await running.stop();
      }
    });
  }

  it('a fused chain SIGKILLed mid-stream twice and restarted writes every record exactly once, with every member\'s section', async () => {
    const t = await createStageTopics(admin, 'chain-kill', 3);
    // 200 ms per record, 8 at a time on each of 3 partitions: ~120 records/s. The input is topped up
    // to a backlog of 150 until the last kill, so each kill lands with work in flight however long
    // the wait for its threshold took (a fixed input could drain first on a fast moment).
    const feeder = feedBacklog(svc, admin, t, (i) => testMailRecord(`Subject: ${i}\r\n\r\n${'x'.repeat(200)}\r\n`), { backlog: 150, batch: 50 });
    let records: MailRecord[] = [];
    try {
      for (const threshold of [100, 280]) {
        const child = spawnStage(FIXTURE, 'fixtureChain', t, { FIXTURE_DELAY_MS: '200' });
        await child.ready;
        await eventually(async () => ((await inputProgress(admin, t)).committed >= threshold ? true : undefined), 90000, `${threshold} records committed`);
        const kill = await killMidRun(admin, t, child);
        console.log(`# killed at ${kill.committed} of ${kill.end} committed`);
        assert.equal(kill.exit, null, 'killed, not exited');
        assert.ok(kill.committed < kill.end, `killed mid-stream (${kill.committed} of ${kill.end} committed)`);
      }
    } finally {
      records = await feeder.stop();
    }
    const total = records.length;
    const child = spawnStage(FIXTURE, 'fixtureChain', t);
    await child.ready;
    try {
      const out = (await readTopic(svc.kafka, t.output, total, { settleMs: 2000, timeoutMs: 120000 })).map((r) => decodeMail(r.value));
      const ids = out.map((m) => m.envelope.id);
      assert.equal(ids.length - new Set(ids).size, 0, 'no duplicates in the read_committed view');
      assert.deepEqual(new Set(ids), new Set(records.map((r) => r.envelope.id)), 'nothing lost');
      assert.ok(out.every((m) => m.firewall && m.decision && m.rawRef), 'both members\' sections and the reference on every record');
    } finally {
      child.child.kill('SIGTERM');
      await child.exited;
    }
  });

  it('two instances of a fused chain share the partitions; one SIGKILLed mid-run, the other takes its partitions over: nothing lost, nothing twice', async () => {
    const t = await createStageTopics(admin, 'chain-scale', 4);
    const byPartition = async (s: StageTopics) => ((await admin.fetchOffsets({ groupId: s.groupId, topics: [s.input] }))[0]?.partitions ?? []).map((p) => Math.max(0, Number(p.offset)));
    const env = { FIXTURE_DELAY_MS: '300', STAGE_SESSION_TIMEOUT_MS: '6000' };
    const a = spawnStage(FIXTURE, 'fixtureChain', t, { ...env, STAGE_CHILD_NAME: 'chain-scale-a' });
    const b = spawnStage(FIXTURE, 'fixtureChain', t, { ...env, STAGE_CHILD_NAME: 'chain-scale-b' });
    // 300 ms per record, 8 at a time per partition, 4 partitions: ~100 records/s. The input is topped
    // up to a backlog of 200 until the kill, so the killed member always has work in flight.
    const feeder = feedBacklog(svc, admin, t, (i) => testMailRecord(`Subject: ${i}\r\n\r\n${'y'.repeat(200)}\r\n`), { backlog: 200, batch: 50 });
    let records: MailRecord[] = [];
    try {
      try {
        await Promise.all([a.ready, b.ready]);
        await eventually(async () => ((await admin.describeGroups([t.groupId])).groups[0]?.members.length === 2 ? true : undefined), 60000, 'both instances in the group');
        // Both members work: every partition moves while the group has two members.
        const base = await byPartition(t);
        await eventually(async () => ((await byPartition(t)).every((o, i) => o > base[i]!) ? true : undefined), 90000, 'every partition moving');
        assert.equal((await admin.describeGroups([t.groupId])).groups[0]?.members.length, 2, 'still two members');
        const held = await memberInputPartitions(admin, t, 'test-chain-scale-a');
        assert.ok(held.length > 0 && held.length < 4, `the member to kill holds some of the partitions (${held.join(',')})`);
        const kill = await killMidRun(admin, t, a, held);
        console.log(`# killed at ${kill.committed} of ${kill.end} committed`);
        assert.equal(kill.exit, null, 'killed, not exited');
        assert.ok(kill.committed < kill.end, `killed mid-run (${kill.committed} of ${kill.end} committed on its partitions ${held.join(',')})`);
      } finally {
        records = await feeder.stop();
      }
      const total = records.length;
      await eventually(async () => ((await inputProgress(admin, t)).committed === total ? true : undefined), 180000, 'every offset committed by the survivor');
      const out = (await readTopic(svc.kafka, t.output, total, { settleMs: 2000, timeoutMs: 60000 })).map((r) => decodeMail(r.value));
      const ids = out.map((m) => m.envelope.id);
      assert.equal(ids.length - new Set(ids).size, 0, 'no duplicates in the read_committed view');
      assert.deepEqual(new Set(ids), new Set(records.map((r) => r.envelope.id)), 'nothing lost: the survivor finished the dead member\'s partitions');
      assert.ok(out.every((m) => m.firewall && m.decision), 'every member\'s section on every record');
    } finally {
      for (const c of [a, b]) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
  });

  it('refuses a chain whose stages do not follow each other', async () => {
    await assert.rejects(runChain(svc, [{ stage: fixtureHold.stage }, { stage: fixtureFirst.stage }], { name: 'bad-chain', description: 'x', defaultMetricsPort: 0 }), /fixture-first reads mail\.inbound\.raw, not fixture-hold's output mail\.inbound\.decided/);
  });
});
