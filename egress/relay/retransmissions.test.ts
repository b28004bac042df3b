/** The retransmission memory: same sender + Message-ID + bytes, another record, within the window; bounded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Retransmissions } from './retransmissions.ts';

describe('retransmissions', () => {
  const raw = Buffer.from('Message-ID: <a@x>\r\n\r\nbody\r\n');
  it('finds an earlier delivery of the same content to the same recipient by another record, within the window', () => {
    const r = new Retransmissions(1000);
    const k = r.key('a@example.com', '<a@x>', raw);
    r.delivered(k, 'Bob@example.net', 'rec-1', 10_000);
    assert.deepEqual(r.earlier(k, 'bob@example.net', 'rec-2', 10_500), { recordId: 'rec-1', at: 10_000 });
    assert.equal(r.earlier(k, 'bob@example.net', 'rec-1', 10_500), undefined, 'the same record (a replay) is the delivery log\'s business');
    assert.equal(r.earlier(k, 'carol@example.net', 'rec-2', 10_500), undefined, 'another recipient');
    assert.equal(r.earlier(k, 'bob@example.net', 'rec-2', 11_001), undefined, 'past the window');
    assert.equal(r.earlier(r.key('a@example.com', '<a@x>', Buffer.from('other bytes')), 'bob@example.net', 'rec-2', 10_500), undefined, 'other bytes');
    assert.equal(r.earlier(r.key('b@example.com', '<a@x>', raw), 'bob@example.net', 'rec-2', 10_500), undefined, 'another sender');
  });
  it('never without a Message-ID, never when off', () => {
    assert.equal(new Retransmissions(1000).key('a@example.com', null, raw), null);
    assert.equal(new Retransmissions(0).key('a@example.com', '<a@x>', raw), null);
  });
  it('forgets what is past the window and beyond its bound, oldest first', () => {
    const r = new Retransmissions(1000, 3);
    for (let i = 0; i < 5; i++) r.delivered(r.key('a@example.com', `<${i}@x>`, raw), 'bob@example.net', `rec-${i}`, 10_000 + i);
    assert.equal(r.size, 3);
    assert.equal(r.earlier(r.key('a@example.com', '<0@x>', raw), 'bob@example.net', 'other', 10_010), undefined, 'the oldest went first');
    assert.ok(r.earlier(r.key('a@example.com', '<4@x>', raw), 'bob@example.net', 'other', 10_010));
    r.delivered(r.key('a@example.com', '<9@x>', raw), 'bob@example.net', 'rec-9', 20_000);
    assert.equal(r.size, 1, 'entries past the window are dropped');
  });
});
