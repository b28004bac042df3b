/**
 * The log-order rules of RegistryState, without Kafka: first record wins, losers are ignored,
 * and a log with the winner re-appended (as a losing writer does) still yields the same state
 * after compaction keeps only the last record per key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeKey, encodeSchemaValue, decodeRecord, type RecordKey, type SchemaValue } from './records.ts';
import { RegistryState } from './state.ts';

type Entry = { key: RecordKey; value: string | null };
const schema = (name: string) => JSON.stringify({ type: 'record', name, fields: [{ name: 'a', type: 'int' }] });
const put = (subject: string, version: number, id: number, name: string, deleted = false): Entry => {
  const v: SchemaValue = { subject, version, id, schema: schema(name), deleted };
  return { key: { keytype: 'SCHEMA', subject, version }, value: encodeSchemaValue(v) };
};

function replay(log: Entry[]): RegistryState {
  const state = new RegistryState();
  for (const e of log) {
    const rec = decodeRecord(Buffer.from(encodeKey(e.key)), e.value === null ? null : Buffer.from(e.value));
    if (rec) state.apply(rec);
  }
  return state;
}

/** What log compaction leaves: the last record of each key, in offset order. */
function compact(log: Entry[]): Entry[] {
  const last = new Map<string, number>();
  log.forEach((e, i) => last.set(encodeKey(e.key), i));
  return log.filter((e, i) => last.get(encodeKey(e.key)) === i);
}

const view = (s: RegistryState) =>
  s.subjectNames(true).map((subject) => s.versions(subject, true).map((e) => [e.subject, e.version, e.id, e.schema, e.deleted]));

test('the first record for a subject/version wins; a repair keeps it winning after compaction', () => {
  const log = [put('s', 1, 1, 'A'), put('s', 1, 2, 'B')];
  const state = replay(log);
  assert.equal(state.entry('s', 1)?.id, 1);
  assert.equal(state.schemaById(2), undefined, 'the losing id is not bound');
  // Without the repair, compaction would keep the loser:
  assert.equal(replay(compact(log)).entry('s', 1)?.id, 2);
  // The losing writer re-appends the winner, then retries at the next version.
  const repaired = [...log, put('s', 1, 1, 'A'), put('s', 2, 2, 'B')];
  assert.deepEqual(view(replay(compact(repaired))), view(replay(repaired)));
  assert.deepEqual(view(replay(repaired))[0]?.map((e) => e[2]), [1, 2]);
});

test('an id already bound to another schema is not rebound; identical schemas share an id', () => {
  const state = replay([put('x', 1, 7, 'X'), put('y', 1, 7, 'Y'), put('z', 1, 7, 'X')]);
  assert.equal(state.entry('y', 1), undefined);
  assert.equal(state.entry('z', 1)?.id, 7);
  assert.deepEqual(state.usagesOfId(7, false), [
    { subject: 'x', version: 1 },
    { subject: 'z', version: 1 },
  ]);
  assert.equal(state.nextId(), 8);
});

test('deletes: soft flags only move one way, DELETE_SUBJECT covers earlier versions, tombstones remove', () => {
  const log: Entry[] = [
    put('s', 1, 1, 'A'),
    put('s', 2, 2, 'B'),
    put('s', 1, 1, 'A', true),
    put('s', 1, 1, 'A', false), // a stale repair must not undelete
  ];
  const state = replay(log);
  assert.deepEqual(state.versions('s', false).map((e) => e.version), [2]);
  state.apply({ keytype: 'DELETE_SUBJECT', subject: 's', value: { subject: 's', version: 2 } });
  assert.deepEqual(state.subjectNames(false), []);
  assert.deepEqual(state.subjectNames(true), ['s']);
  state.apply({ keytype: 'SCHEMA', subject: 's', version: 1, value: null });
  state.apply({ keytype: 'SCHEMA', subject: 's', version: 2, value: null });
  assert.deepEqual(state.subjectNames(true), []);
  assert.equal(state.schemaById(1), undefined);
  assert.equal(state.nextId(), 3, 'ids are not handed out twice while the instance runs');
});

test('malformed and foreign records are rejected or skipped, not applied', () => {
  assert.throws(() => decodeRecord(Buffer.from('{not json'), null));
  assert.throws(() => decodeRecord(Buffer.from('{"keytype":"SCHEMA","subject":"s","version":"x","magic":1}'), null));
  assert.equal(decodeRecord(Buffer.from('{"keytype":"MODE","subject":null,"magic":0}'), Buffer.from('{"mode":"READWRITE"}')), undefined);
  const state = new RegistryState();
  const rec = decodeRecord(Buffer.from(encodeKey({ keytype: 'SCHEMA', subject: 's', version: 1 })), Buffer.from(encodeSchemaValue({ subject: 'other', version: 1, id: 1, schema: '"int"', deleted: false })));
  assert.ok(rec);
  assert.equal(state.apply(rec), 'ignored', 'value disagreeing with its key');
});
