import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSpamAssassin, rotation } from './index.ts';

describe('SpamAssassin corpus', () => {
  it('has 6,046 messages sorted by folder/filename, labelled by folder', () => {
    const all = loadSpamAssassin();
    assert.equal(all.length, 6046);
    assert.equal(all.filter((m) => m.label === 'spam').length, 1896);
    assert.ok(all.every((m, i) => i === 0 || all[i - 1]!.path < m.path));
    assert.equal(all[0]!.path, 'easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt');
    const head = all[0]!.raw.toString('utf8', 0, 300);
    assert.match(head, /^Return-Path: <exmh-workers-admin@/, 'the mbox From_ line is dropped');
    assert.ok(!/[^\r]\n/.test(all[0]!.raw.toString('utf8')), 'every line ends in CRLF');
    assert.equal(loadSpamAssassin(10).length, 10);
  });

  it('rotation 0 holds out 830 ham + 380 spam and trains on the other 4,836', () => {
    const { train, test } = rotation(0);
    assert.equal(train.length, 4836);
    assert.equal(test.filter((m) => m.label === 'ham').length, 830);
    assert.equal(test.filter((m) => m.label === 'spam').length, 380);
    for (let k = 0; k < 5; k++) {
      const r = rotation(k);
      assert.equal(r.train.length + r.test.length, 6046);
      assert.ok(r.test.every((m) => m.index % 5 === k));
    }
    assert.throws(() => rotation(5), RangeError);
  });
});
