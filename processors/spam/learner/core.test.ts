/** The learner's state machine without Kafka: admission, learning, corrections, the FP guard, and the state round trip. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BayesModel } from '../model.ts';
import { clusters, recordIdTime } from './lookup.ts';
import { heldBack, LearnerCore, sourceTrusted, type CoreOptions } from './core.ts';

const OPTS: CoreOptions = { trustedSources: ['cli', 'imap:*'], ratePerHour: 3, holdbackPercent: 0, holdbackMax: 10, holdbackMin: 1, holdbackTokens: 100, recentMax: 100, maxFpIncrease: 0 };
const HAMT = ['meeting', 'agenda', 'minutes'];
const SPAMT = ['viagra', 'cheap', 'click'];

function base(): BayesModel {
  const m = new BayesModel('t1');
  for (let i = 0; i < 5; i++) { m.learn(HAMT, 'ham'); m.learn(SPAMT, 'spam'); }
  return m;
}

function core(o: Partial<CoreOptions> = {}): LearnerCore {
  const c = new LearnerCore({ ...OPTS, ...o }, 'fb');
  const m = base();
  c.adopt(m, m.toData({ source: 'test', trainedAt: 1 }), null);
  return c;
}

describe('spam learner core', () => {
  it('trusts only configured sources; name:* is a prefix', () => {
    assert.ok(sourceTrusted('imap:bob@x', ['imap:*']));
    assert.ok(!sourceTrusted('imapx', ['imap:*']));
    assert.ok(!sourceTrusted('evil', ['cli', 'imap:*']));
    assert.ok(sourceTrusted('anything', ['*']));
  });

  it('refuses invalid, untrusted, repeated and over-rate labels', () => {
    const c = core();
    assert.equal(c.admit('r1', 'maybe', 'cli', 0), 'invalid');
    assert.equal(c.admit('', 'spam', 'cli', 0), 'invalid');
    assert.equal(c.admit('r1', 'spam', 'evil', 0), 'untrusted-source');
    assert.equal(c.admit('r1', 'spam', 'cli', 0), null);
    assert.equal(c.learn('r1', 'spam', SPAMT, 'cli', 0), 'learnt');
    assert.equal(c.admit('r1', 'spam', 'cli', 0), 'duplicate', 'the same label again');
    assert.equal(c.admit('r2', 'spam', 'cli', 0), null);
    assert.equal(c.admit('r3', 'spam', 'cli', 0), null);
    assert.equal(c.admit('r4', 'spam', 'cli', 0), 'rate-limited', '3 per hour');
    assert.equal(c.admit('r4', 'spam', 'imap:a', 0), null, 'per source');
    assert.equal(c.admit('r4', 'spam', 'cli', 20 * 60_000), null, 'the bucket refills (1 per 20 min)');
  });

  it('a changed label is taken back and learnt the other way', () => {
    const c = core();
    const n = { ham: c.model.nham, spam: c.model.nspam };
    c.learn('r1', 'spam', HAMT, 'cli', 0);
    assert.equal(c.model.nspam, n.spam + 1);
    assert.equal(c.learn('r1', 'ham', HAMT, 'cli', 0), 'corrected');
    assert.deepEqual([c.model.nham, c.model.nspam], [n.ham + 1, n.spam]);
    assert.equal(c.labelsLearnt, 2);
  });

  it('the FP guard refuses a batch that turns held-back ham into spam, and a rejection restores the published model', () => {
    const c = core({ holdbackPercent: 50 });
    // Ham labels until some are held back (deterministic by record id).
    const ids = Array.from({ length: 20 }, (_, i) => `ham-${i}`);
    const hamTokens = (i: number) => [`topic${i % 10}`, `word${i % 10}`];
    ids.forEach((id, i) => c.learn(id, 'ham', hamTokens(i), 'imap:a', 0));
    assert.equal(c.holdbackSize, ids.filter((id) => heldBack(id, 50)).length);
    assert.ok(c.holdbackSize > 0);
    c.committed(c.model.clone(), c.model.toData({ source: 'x', trainedAt: 2 }));
    assert.equal(c.guard().fpAfter, 0);
    const before = c.model.nspam;
    // Poison: every ham topic labelled spam, far more often than it occurs in ham.
    for (let i = 0; i < 300; i++) c.learn(`poison-${i}`, 'spam', ids.flatMap((_, j) => hamTokens(j)), 'cli', 0);
    const g = c.guard();
    assert.equal(g.ok, false, `FP ${g.fpBefore} → ${g.fpAfter}`);
    c.rejected();
    assert.equal(c.model.nspam, before);
    assert.equal(c.pending, 0);
    assert.equal(c.admit('poison-1', 'spam', 'imap:b', 0), null, 'a rejected label is not remembered as learnt');
  });

  it('the state round trip: a new core continues where the published one ended; a rollback keeps later positions', () => {
    const c = core();
    c.learn('r1', 'spam', SPAMT, 'cli', 0);
    c.advance(0, 5n);
    c.advance(1, 3n);
    const state = c.state(1000, 'v0');
    const data = c.model.toData({ source: 'x', trainedAt: 2 });
    const next = new LearnerCore(OPTS, 'fb');
    next.adopt(BayesModel.fromData(data), data, state);
    assert.deepEqual([...next.positions], [[0, 5n], [1, 3n]]);
    assert.equal(next.labelsLearnt, 1);
    assert.equal(next.admit('r1', 'spam', 'cli', 1000), 'duplicate');
    // Another feedback topic's state is not ours.
    const other = new LearnerCore(OPTS, 'other');
    other.adopt(BayesModel.fromData(data), data, state);
    assert.equal(other.positions.size, 0);
    // A rollback to an older model does not go back behind the positions already published.
    const old = new LearnerCore(OPTS, 'fb');
    old.adopt(BayesModel.fromData(data), data, { ...state, positions: [{ partition: 0, offset: 1 }] }, new Map([[0, 5n], [1, 3n]]));
    assert.deepEqual([...old.positions], [[0, 5n], [1, 3n]]);
  });
});

describe('record lookup windows', () => {
  it('reads the time out of a UUIDv7 and nothing out of other ids', () => {
    assert.equal(recordIdTime('01a24b60-47c2-7485-a43b-51cecf70c27f'), 0x01a24b6047c2);
    assert.equal(recordIdTime('rec-1'), null);
    assert.equal(recordIdTime('01a24b60-47c2-4485-a43b-51cecf70c27f'), null, 'a v4 UUID carries no time');
  });

  it('groups ids whose windows overlap into one scan', () => {
    const id = (ms: number) => `${ms.toString(16).padStart(12, '0').replace(/^(.{8})(.{4})$/, '$1-$2')}-7000-8000-000000000000`;
    const cs = clusters([id(1_000_000), id(1_000_500), id(9_000_000), 'not-a-uuid'], { skewMs: 100, windowMs: 1000 });
    assert.deepEqual(cs.map((c) => [c.ids.size, c.from, c.to]), [[2, 999_900, 1_001_500], [1, 8_999_900, 9_001_000]]);
  });
});
