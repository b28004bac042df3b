/**
 * The MIME stage on the real broker: raw MailRecords in → records with the mime section out,
 * the envelope carried on and the raw referred to (MailRecord.rawRef); a message over 64 KiB parsed in the
 * worker thread with the section inline parsing gives; a parse that hangs in the worker → dead letter
 * process-timeout and the stage goes on; garbage → dead-letter topic; SIGKILL mid-stream + restart → every
 * record exactly once on the parsed topic.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createStageTopics, produce, readTopic, spawnStage, type StageTopics, testBroker, testMailRecord } from '../../runtime/stage-testing.ts';
import { eventually } from '../../runtime/testing.ts';
import { schema } from '../../schemas/index.ts';
import type { DeadLetter, MailRecord } from '../../schemas/types.ts';
import { loadSpamAssassin } from '../../corpus/spam-assassin/index.ts';
import { parseMime } from './parse.ts';
import { defineStage } from '../../runtime/stage.ts';
import { boundedParser, loadMimeConfig, mimeService, type MimeState } from './service.ts';
import { skipWithoutTestdata, testdataPath } from '../../runtime/testdata.ts';

const SERVICE = fileURLToPath(new URL('./service.ts', import.meta.url));
const decode = (b: Buffer) => schema('MailRecord').type.fromBuffer(b.subarray(5)) as MailRecord;

const { svc, admin } = testBroker('mime-test');

async function committed(t: StageTopics): Promise<number> {
  const o = await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] });
  return (o[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

describe('MIME stage on Kafka', () => {
  it('adds the mime section, carries the envelope and refers to the raw, dead-letters garbage and keeps going', { skip: skipWithoutTestdata('nodemailer-mailparser-fixtures', 'crymap-testdata') }, async () => {
    const t = await createStageTopics(admin, 'mime-e2e', 1);
    const nodemailer = testMailRecord(readFileSync(testdataPath('nodemailer-mailparser-fixtures/nodemailer.eml')));
    const torture = testMailRecord(readFileSync(testdataPath('crymap-testdata/torture-test.eml')));
    const plain = testMailRecord('From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\nDate: Mon, 6 Feb 2023 02:53:47 -0800\r\nMessage-ID: <x@example.com>\r\nList-Id: <l.example.com>\r\nReceived: from a by b; Mon, 6 Feb 2023 02:53:47 -0800\r\nAuthentication-Results: mx.example.net; spf=pass\r\n\r\nsee https://example.org/path?a=1 now\r\n');
    // Over MIME_INLINE_MAX_BYTES (64 KiB): parsed in the stage's worker thread.
    const large = testMailRecord(`From: a@example.com\r\nTo: b@example.net\r\nSubject: large\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${'see https://example.org/large now\r\n'.repeat(4000)}`);
    assert.ok(large.envelope.raw.length > 64 * 1024);
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [{ record: nodemailer }, { raw: Buffer.from('garbage, not Avro'), key: 'bad' }, { record: torture }, { record: plain }, { record: large }]);
    const running = await mimeService.run(svc, t);
    try {
      const out = (await readTopic(svc.kafka, t.output, 4)).map((r) => decode(r.value));
      assert.deepEqual(out.map((r) => r.envelope.id), [nodemailer.envelope.id, torture.envelope.id, plain.envelope.id, large.envelope.id]);
      // Compared as JSON: the decoded record's sections are Avro classes.
      const asJson = (m: object) => JSON.parse(JSON.stringify({ ...m, parsedAt: 0 })) as unknown;
      assert.deepEqual(asJson(out[3]!.mime!), asJson(await parseMime(large.envelope.raw)), 'the large message, parsed in the worker, as inline');
      for (const [i, src] of [nodemailer, torture, plain, large].entries()) {
        // The raw is not copied on: the record refers to it where it was consumed (MailRecord.rawRef, runtime/raw-ref.ts).
        assert.deepEqual({ ...out[i]!.envelope }, { ...src.envelope, raw: Buffer.alloc(0) }, 'envelope carried on, the raw by reference');
        assert.equal(out[i]!.rawRef?.topic, t.input);
        assert.equal(out[i]!.rawRef?.sha256, createHash('sha256').update(src.envelope.raw).digest('hex'), 'the reference names the raw by its digest');
        assert.equal(out[i]!.auth, null, "other stages' sections untouched");
        assert.equal(out[i]!.mime?.stageVersion, mimeService.stage.version);
      }
      assert.equal(out[0]!.mime!.attachments.length, 4);
      assert.equal(out[0]!.mime!.headers.subject, 'Nodemailer is unicode friendly ✔ (1476358788189)');
      assert.ok(out[1]!.mime!.depth >= 4);
      const p = out[2]!.mime!;
      assert.equal(p.headers.subject, 'hi');
      assert.deepEqual(p.headers.list, { 'list-id': '<l.example.com>' });
      assert.deepEqual(p.headers.received, ['from a by b; Mon, 6 Feb 2023 02:53:47 -0800']);
      assert.deepEqual(p.headers.authenticationResults, ['mx.example.net; spf=pass']);
      assert.deepEqual(p.urls, ['https://example.org/path?a=1']);
      assert.equal(p.headers.dateParsed, Date.UTC(2023, 1, 6, 10, 53, 47));

      const [dl] = await readTopic(svc.kafka, t.deadLetters, 1, { settleMs: 300 });
      const letter = await svc.codec.decodeAs<DeadLetter>(dl!.value, 'DeadLetter');
      assert.equal(letter.stage, 'mime');
      assert.equal(letter.reason, 'decode-error');
      assert.deepEqual(letter.value, Buffer.from('garbage, not Avro'));
      assert.equal(letter.sourceOffset, 1);
      const metrics = await svc.metrics.metrics();
      assert.match(metrics, /scop_stage_records_out_total\{stage="mime"\} 4/);
      const overThreshold = [nodemailer, torture, plain, large].filter((r) => r.envelope.raw.length > 64 * 1024).length;
      assert.ok(overThreshold >= 1);
      assert.match(metrics, new RegExp(`^scop_cpu_pool_tasks_total\\{pool="mime-parse",outcome="ok"\\} ${overThreshold}$`, 'm'), 'the messages over 64 KiB, and only they, went through the worker');
    } finally {
      await running.stop();
    }
  });

  it('SIGKILLed mid-stream and restarted: every SpamAssassin message exactly once on the parsed topic', async () => {
    const t = await createStageTopics(admin, 'mime-kill', 3);
    const corpus = loadSpamAssassin(400);
    const records = corpus.map((m) => testMailRecord(m.raw));
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
    const first = spawnStage(SERVICE, 'mimeService', t);
    await first.ready;
    await eventually(async () => ((await committed(t)) >= 100 ? true : undefined), 60000, '100 records committed');
    first.child.kill('SIGKILL');
    await first.exited;
    const atKill = await committed(t);
    assert.ok(atKill < records.length, `killed mid-stream (${atKill}/${records.length})`);
    const second = spawnStage(SERVICE, 'mimeService', t);
    await second.ready;
    try {
      const out = await readTopic(svc.kafka, t.output, records.length, { settleMs: 2000, timeoutMs: 90000 });
      const ids = out.map((r) => decode(r.value).envelope.id);
      assert.equal(ids.length - new Set(ids).size, 0, 'no duplicates');
      assert.deepEqual(new Set(ids), new Set(records.map((r) => r.envelope.id)), 'nothing lost');
      assert.ok(out.every((r) => decode(r.value).mime !== null));
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('a parse that hangs in the worker: dead letter process-timeout naming the limit, the records after it parsed, nothing lost', async () => {
    const t = await createStageTopics(admin, 'mime-hang', 1);
    // The real stage with one change: its worker module hangs on the subject "hang" (hanging-parse.test-worker.ts), every message in the worker, a 3 s parse limit.
    const hanging = defineStage<MimeState, 'mime'>({
      ...mimeService.stage,
      init(ctx) {
        const config = loadMimeConfig({});
        return { config, parser: boundedParser({ limits: config.limits, inlineMaxBytes: 0, threads: 1, timeoutMs: 3_000, registry: ctx.metrics, module: new URL('./hanging-parse.test-worker.ts', import.meta.url) }) };
      },
    });
    const mail = (subject: string) => testMailRecord(`From: a@example.com\r\nTo: b@example.net\r\nSubject: ${subject}\r\n\r\nhello\r\n`);
    const records = [mail('first'), mail('hang'), mail('second'), mail('third')];
    await produce(svc.kafka, svc.codec, t.input, 'MailRecord', records.map((record) => ({ record })));
    const t0 = performance.now();
    const running = await hanging.run(svc, t);
    try {
      const out = (await readTopic(svc.kafka, t.output, 3)).map((r) => decode(r.value));
      const took = performance.now() - t0;
      assert.deepEqual(out.map((r) => r.mime?.headers.subject), ['first', 'second', 'third']);
      const [dl] = await readTopic(svc.kafka, t.deadLetters, 1, { settleMs: 300 });
      const letter = await svc.codec.decodeAs<DeadLetter>(dl!.value, 'DeadLetter');
      assert.equal(letter.reason, 'process-timeout');
      assert.match(letter.error, /took longer than 3000 ms \(MIME_PARSE_TIMEOUT_MS\); its worker thread was terminated/);
      assert.equal(letter.sourceOffset, 1);
      assert.equal(letter.recordId, records[1]!.envelope.id);
      // Well within the 60 s record limit and the 30 s session timeout: no rebalance, no redelivery.
      assert.ok(took < 20_000, `all four records settled in ${took.toFixed(0)} ms`);
      console.log(`hanging parse: dead-lettered and three records parsed in ${took.toFixed(0)} ms`);
    } finally {
      await running.stop();
    }
  });
});
