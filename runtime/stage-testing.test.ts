/**
 * The test helpers' topic reader: a reader whose consumer crashes starts over as a new group
 * (a broker loss moves leaders under it; here the topic does not exist yet when it starts),
 * and a restart never counts a record twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DistinctRecords, produce, readTopic, testBroker, testMailRecord } from './stage-testing.ts';
import { uniqueName } from './testing.ts';

const { svc, admin } = testBroker('stage-testing', 'kafkajs');

describe('readTopic', { timeout: 120000 }, () => {
  it('starts over after its consumer crashes and reads each record once', async () => {
    const topic = uniqueName('read-late');
    // The reader starts first: its first consumer fails on the missing topic.
    const reading = readTopic(svc.kafka, topic, 3, { settleMs: 1000, timeoutMs: 60000 });
    await new Promise((r) => setTimeout(r, 1500));
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
    await produce(svc.kafka, svc.codec, topic, 'MailRecord', ['a', 'b', 'c'].map((s) => ({ record: testMailRecord(`Subject: ${s}\r\n\r\n${s}\r\n`) })));
    const got = await reading;
    assert.equal(got.length, 3);
    assert.equal(new Set(got.map((r) => `${r.partition}/${r.offset}`)).size, 3);
  });

  it('gives up with the consumer\'s error when every attempt crashes', async () => {
    const started = Date.now();
    await assert.rejects(readTopic(svc.kafka, uniqueName('never'), 1, { timeoutMs: 30000 }), (e: Error) => !/timed out/.test(e.message));
    assert.ok(Date.now() - started < 30000, 'crashes end attempts at once, not at the timeout');
  });
});

describe('DistinctRecords', () => {
  it('keeps a re-fetched range once (the same partition and offset), and the same offset of another partition', () => {
    const r = (partition: number, offset: string, v: string) => ({ key: null, value: Buffer.from(v), partition, offset, headers: {} });
    const got = new DistinctRecords();
    for (const o of ['0', '1', '2']) got.add(r(0, o, `a${o}`));
    for (const o of ['1', '2', '3']) got.add(r(0, o, `again${o}`)); // the range from offset 1 fetched again
    got.add(r(1, '0', 'b0'));
    assert.deepEqual(got.records.map((x) => `${x.partition}/${x.offset}=${x.value.toString()}`), ['0/0=a0', '0/1=a1', '0/2=a2', '0/3=again3', '1/0=b0']);
  });
});
