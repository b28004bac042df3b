/**
 * The test helpers' topic reader: a reader whose consumer crashes starts over as a new group
 * (a broker loss moves leaders under it; here the topic does not exist yet when it starts),
 * and a restart never counts a record twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Admin } from './kafka.ts';
import { committedOnInput, DistinctRecords, inputProgress, produce, readTopic, testBroker, testMailRecord, untilCommitted, type StageTopics } from './stage-testing.ts';
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

describe('committed offsets on a stage\'s input', () => {
  const t: StageTopics = { input: 'in', output: 'out', deadLetters: 'dlq', groupId: 'g' };
  /** An admin whose group has committed `commits[k]` on the k-th call: offset -1 is a partition with no commit yet. */
  const fakeAdmin = (commits: string[][]): Admin & { calls: number } => {
    const a = {
      calls: 0,
      fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) => {
        assert.equal(groupId, 'g');
        assert.deepEqual(topics, ['in']);
        const offsets = commits[Math.min(a.calls++, commits.length - 1)]!;
        return [{ topic: 'in', partitions: offsets.map((offset, partition) => ({ partition, offset, metadata: null })) }];
      },
      fetchTopicOffsets: async () => [{ partition: 0, offset: '9', high: '9', low: '0' }, { partition: 1, offset: '5', high: '5', low: '0' }, { partition: 2, offset: '2', high: '2', low: '0' }],
    };
    return a as unknown as Admin & { calls: number };
  };

  it('sums the committed offsets, a partition without a commit as 0, over the partitions asked for', async () => {
    const admin = fakeAdmin([['7', '-1', '2']]);
    assert.equal(await committedOnInput(admin, t), 9);
    assert.equal(await committedOnInput(admin, t, [1, 2]), 2);
    assert.deepEqual(await inputProgress(admin, t), { end: 16, committed: 9 });
    assert.deepEqual(await inputProgress(admin, t, [0]), { end: 9, committed: 7 });
  });

  it('untilCommitted polls until n records are committed and shows each count', async () => {
    const admin = fakeAdmin([['-1', '-1', '-1'], ['1', '-1', '0'], ['3', '2', '0'], ['4', '2', '1']]);
    const seen: number[] = [];
    await untilCommitted(admin, t, 5, (done) => seen.push(done), 1);
    assert.deepEqual(seen, [0, 1, 5]);
    assert.equal(admin.calls, 3, 'stops at the first poll that reaches n');
  });
});
