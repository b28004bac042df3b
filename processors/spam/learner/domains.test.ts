/** The learner core with per-recipient-domain models: routing, isolation, the cap, the domain FP guard, corrections, the state round trip. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blendedScore } from '../domain-model.ts';
import { BayesModel } from '../model.ts';
import { linearTestModel, TEST_TOKENS } from '../testing.ts';
import { heldBack, LearnerCore, type CoreOptions } from './core.ts';
import type { DomainOptions } from './domains.ts';

const { ham: HAMT, news: NEWS, spam: SPAMT } = TEST_TOKENS;
const DOMAINS: DomainOptions = { maxDomains: 10, maxTokens: 1000, minLabels: 3, global: 'isolated', idleMs: 30 * 86_400_000 };
const OPTS: CoreOptions = { trustedSources: ['*'], ratePerHour: 1000, holdbackPercent: 0, holdbackMax: 100, holdbackMin: 1, holdbackTokens: 100, recentMax: 100, maxFpIncrease: 0, domains: DOMAINS };

async function core(o: Partial<CoreOptions> = {}, d: Partial<DomainOptions> = {}): Promise<LearnerCore> {
  const c = new LearnerCore({ ...OPTS, ...o, domains: { ...DOMAINS, ...d } }, 'fb');
  const m = await linearTestModel();
  c.adopt(m, m.toData({ source: 'test', trainedAt: 1 }), null);
  return c;
}

/** A's view of a message (global + A's working residual when in use). */
const scoreFor = (c: LearnerCore, domain: string, tokens: string[]) => {
  const d = c.domains!.current(domain);
  return blendedScore(c.model, c.domains!.inUse(d) ? d! : null, tokens).probability;
};
const publish = (c: LearnerCore) => c.committed(c.model.clone(), c.model.toData({ source: 'x', trainedAt: 2 }));

describe('spam learner core: per-recipient-domain models', () => {
  it('isolated: a one-domain label teaches its domain only; the global model and other domains do not move', async () => {
    const c = await core();
    const version = c.model.computeVersion();
    const b = scoreFor(c, 'b.test', NEWS(100));
    for (let i = 0; i < 4; i++) assert.equal(c.learn(`a${i}`, 'spam', NEWS(i), 'imap:x@a.test', 0, ['a.test']), 'learnt');
    assert.equal(c.model.computeVersion(), version, 'the global model is untouched');
    assert.deepEqual(c.changedDomains(), ['a.test']);
    assert.ok(scoreFor(c, 'a.test', NEWS(100)) >= c.model.thresholds.spam, `spam for A (${scoreFor(c, 'a.test', NEWS(100))})`);
    assert.equal(scoreFor(c, 'b.test', NEWS(100)), b, 'B unchanged');
    assert.equal(c.labelsLearnt, 4);
    assert.equal(c.pending, 4);
  });

  it('shared: the global model learns the label too', async () => {
    const c = await core({}, { global: 'shared' });
    const nspam = c.model.nspam;
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    assert.equal(c.model.nspam, nspam + 1);
    assert.equal(c.domains!.current('a.test')!.nspam, 1);
  });

  it('several domains, no domain, or a domain over the cap: the global model', async () => {
    const c = await core({}, { maxDomains: 1 });
    const nspam = c.model.nspam;
    c.learn('m0', 'spam', NEWS(0), 'cli', 0, ['a.test', 'b.test']);
    c.learn('m1', 'spam', NEWS(1), 'cli', 0, []);
    assert.equal(c.model.nspam, nspam + 2);
    c.learn('a0', 'spam', NEWS(2), 'cli', 0, ['a.test']);
    c.learn('b0', 'spam', NEWS(3), 'cli', 0, ['b.test']);
    assert.equal(c.model.nspam, nspam + 3, 'b.test is over SPAM_LEARNER_DOMAIN_MAX (1)');
    assert.deepEqual(c.changedDomains(), ['a.test']);
    publish(c);
    assert.equal(c.domains!.size, 1);
    c.learn('a1', 'spam', NEWS(4), 'cli', 0, ['a.test']);
    assert.equal(c.model.nspam, nspam + 3, 'a domain that has a model keeps it');
  });

  it('a counts-only global model: no residuals, every label global', async () => {
    const c = new LearnerCore(OPTS, 'fb');
    const m = new BayesModel('t1');
    m.learn(HAMT(0), 'ham');
    c.adopt(m, m.toData({ source: 'counts only', trainedAt: 1 }), null);
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    assert.equal(c.model.nspam, 1);
    assert.deepEqual(c.changedDomains(), []);
  });

  it('below SPAM_LEARNER_DOMAIN_MIN_LABELS a domain model is learnt but not in use', async () => {
    const c = await core({}, { minLabels: 3 });
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    c.learn('a1', 'spam', NEWS(1), 'cli', 0, ['a.test']);
    assert.equal(c.domains!.inUse(c.domains!.current('a.test')), false);
    c.learn('a2', 'spam', NEWS(2), 'cli', 0, ['a.test']);
    assert.equal(c.domains!.inUse(c.domains!.current('a.test')), true);
  });

  it('a changed label is corrected in its domain: counts taken back exactly, learnt the other way', async () => {
    const c = await core();
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    assert.equal(c.learn('a0', 'ham', NEWS(0), 'cli', 0, ['a.test']), 'corrected');
    const d = c.domains!.current('a.test')!;
    assert.deepEqual([d.nham, d.nspam], [1, 0]);
    assert.deepEqual(d.counts.get('weekly'), [1, 0]);
  });

  it('the domain FP guard: A\'s poison is refused on A\'s own held-back ham; B\'s batch is published; A\'s labels may come again', async () => {
    const c = await core({ holdbackPercent: 50, holdbackMin: 2 });
    // A's ham, some held back (deterministically by id) as A's own sample.
    const ids = Array.from({ length: 12 }, (_, i) => `aham-${i}`);
    ids.forEach((id, i) => c.learn(id, 'ham', NEWS(i), 'cli', 0, ['a.test']));
    const held = ids.filter((id) => heldBack(id, 50)).length;
    assert.ok(held >= 2, `A has its own sample (${held})`);
    publish(c);
    const aBefore = c.domains!.published.get('a.test')!.toData({ source: '', trainedAt: 0 });
    // Poison for A: its newsletter labelled spam; an ordinary batch for B.
    for (let i = 0; i < 40; i++) c.learn(`apoison-${i}`, 'spam', NEWS(100 + i), 'evil', 0, ['a.test']);
    const bIds = Array.from({ length: 20 }, (_, i) => `bham-${i}`).filter((id) => !heldBack(id, 50)).slice(0, 3);
    bIds.forEach((id, i) => c.learn(id, 'ham', HAMT(i), 'cli', 0, ['b.test']));
    assert.equal(c.guard().ok, true, 'the global model did not move');
    const gs = c.domainGuards();
    const a = gs.find((g) => g.domain === 'a.test')!;
    const b = gs.find((g) => g.domain === 'b.test')!;
    assert.equal(a.ok, false, `A: FP ${a.fpBefore} → ${a.fpAfter}`);
    assert.equal(a.sampleOf, 'domain');
    assert.equal(a.sample, held);
    assert.equal(a.labels, 40);
    assert.deepEqual(a.sources, { evil: 40 });
    assert.equal(b.ok, true);
    assert.equal(b.sampleOf, 'global', 'B has no held-back ham of its own: the whole sample');
    const learnt = c.labelsLearnt;
    c.rejectDomain('a.test');
    assert.deepEqual(c.changedDomains(), ['b.test']);
    assert.deepEqual(c.domains!.current('a.test')!.toData({ source: '', trainedAt: 0 }), aBefore, 'A back on its published model');
    assert.equal(c.labelsLearnt, learnt - 40);
    assert.equal(c.pending, 3);
    assert.equal(c.admit('apoison-1', 'spam', 'cli', 0), null, 'a refused label is not remembered as learnt');
    publish(c);
    assert.equal(c.domains!.published.get('b.test')!.nham, 3);
  });

  it('shared: a domain\'s refused batch reverts its residual only; the global model keeps the labels', async () => {
    const c = await core({ holdbackMin: 1 }, { global: 'shared' });
    publish(c);
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    const nspam = c.model.nspam;
    c.rejectDomain('a.test');
    assert.equal(c.domains!.current('a.test'), undefined);
    assert.equal(c.model.nspam, nspam);
    assert.equal(c.labelsLearnt, 1);
    assert.equal(c.admit('a0', 'spam', 'cli', 0), 'duplicate', 'learnt (globally)');
  });

  it('the state round trip keeps each held-back message\'s domain; a dropped batch leaves the published domains', async () => {
    const c = await core({ holdbackPercent: 50 });
    const ids = Array.from({ length: 8 }, (_, i) => `h-${i}`);
    ids.forEach((id, i) => c.learn(id, 'ham', HAMT(i), 'cli', 0, ['a.test']));
    const state = c.state(1000, null);
    assert.ok(state.holdback.length > 0 && state.holdback.every((h) => h.domain === 'a.test'));
    const data = c.model.toData({ source: 'x', trainedAt: 2 });
    const next = new LearnerCore({ ...OPTS, holdbackPercent: 50 }, 'fb');
    next.adopt(BayesModel.fromData(data), data, state);
    assert.deepEqual(next.state(1000, null).holdback, state.holdback);
    publish(c);
    c.learn('a-new', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    c.adopt(c.published.model, c.published.data, state);
    assert.deepEqual(c.changedDomains(), [], 'the batch is read again');
    assert.ok(c.domains!.published.has('a.test'));
  });

  const DAY = 86_400_000;

  it('eviction: with the cap full, a new domain takes the slot of the domain idle longest past SPAM_LEARNER_DOMAIN_IDLE_DAYS (by the labels\' timestamps)', async () => {
    const c = await core({}, { maxDomains: 2, idleMs: 30 * DAY });
    const t0 = Date.UTC(2026, 0, 1);
    c.learn('a0', 'spam', NEWS(0), 'cli', t0, ['a.test']);
    c.learn('b0', 'spam', NEWS(1), 'cli', t0 + 5 * DAY, ['b.test']);
    publish(c);
    assert.equal(c.domains!.published.meta('a.test')!.lastLabelAt, t0);
    // 20 days later nobody is idle 30 days: the new domain is learnt globally.
    const nspam = c.model.nspam;
    c.learn('c0', 'spam', NEWS(2), 'cli', t0 + 20 * DAY, ['c.test']);
    assert.equal(c.model.nspam, nspam + 1, 'c.test is over the cap');
    assert.equal(c.domains!.evicted.size, 0);
    publish(c);
    const published = c.state(0, null);
    // 31 days after a.test's label: a.test (idle longest) is evicted, b.test (idle 26 days) stays.
    c.learn('c1', 'spam', NEWS(3), 'cli', t0 + 31 * DAY, ['c.test']);
    assert.deepEqual([...c.domains!.evicted.keys()], ['a.test']);
    assert.deepEqual(c.changedDomains(), ['c.test']);
    assert.equal(c.domains!.has('a.test'), false);
    assert.equal(c.domains!.size, 2);
    // A dropped batch (read again from the positions) brings it back; the replay evicts the same.
    c.adopt(c.published.model, c.published.data, published);
    assert.equal(c.domains!.has('a.test'), true);
    assert.equal(c.domains!.evicted.size, 0);
    c.learn('c1', 'spam', NEWS(3), 'cli', t0 + 31 * DAY, ['c.test']);
    assert.deepEqual([...c.domains!.evicted.keys()], ['a.test']);
    publish(c);
    assert.deepEqual([...c.domains!.published.keys()].sort(), ['b.test', 'c.test']);
    assert.equal(c.domains!.evicted.size, 0, 'its tombstone went out with the publish');
    // A label refreshes a domain: b.test labelled now is not idle any more; nothing to evict for d.test.
    c.learn('b1', 'spam', NEWS(4), 'cli', t0 + 60 * DAY, ['b.test']);
    c.learn('d0', 'spam', NEWS(5), 'cli', t0 + 60 * DAY, ['d.test']);
    assert.equal(c.domains!.evicted.size, 0, 'b.test has a label in this batch, c.test is idle 29 days only');
    assert.equal(c.domains!.has('d.test'), false);
    c.learn('d1', 'spam', NEWS(6), 'cli', t0 + 61 * DAY, ['d.test']);
    assert.deepEqual([...c.domains!.evicted.keys()], ['c.test'], 'c.test idle 30 days now');
    assert.deepEqual(c.changedDomains(), ['b.test', 'd.test']);
  });

  it('the line of the global model: kept across the learner\'s own versions, new on a model adopted from elsewhere, which drops every residual', async () => {
    const c = await core();
    const line = c.line!;
    assert.equal(line, c.published.data.version, 'a model from elsewhere starts its line');
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    c.learn('g0', 'spam', NEWS(1), 'cli', 0, []);
    publish(c);
    assert.notEqual(c.published.data.version, line, 'the learner made a new global version…');
    assert.equal(c.state(0, null).line, line, '…on the same line');
    // Its own record read back (a restart): same line, residuals kept.
    assert.deepEqual(c.adopt(c.published.model, c.published.data, c.state(0, null)), []);
    assert.ok(c.domains!.has('a.test'));
    // A retrained model published by hand (no learner state): a new line; the residuals go.
    const other = await linearTestModel();
    other.learn(SPAMT(7), 'spam');
    const data = other.toData({ source: 'retrained', trainedAt: 3 });
    c.learn('a1', 'spam', NEWS(2), 'cli', 0, ['a.test']);
    assert.deepEqual(c.adopt(other, data, null, new Map()), ['a.test']);
    assert.equal(c.line, data.version);
    assert.equal(c.domains!.size, 0);
    assert.deepEqual(c.changedDomains(), []);
  });

  it('an operator removes a domain: forgotten with this batch\'s labels for it; its next label starts it again', async () => {
    const c = await core();
    c.learn('a0', 'spam', NEWS(0), 'cli', 0, ['a.test']);
    publish(c);
    c.learn('a1', 'spam', NEWS(1), 'cli', 0, ['a.test']);
    c.removeDomain('a.test');
    assert.equal(c.domains!.has('a.test'), false);
    assert.deepEqual(c.domainGuards(), []);
    c.learn('a2', 'spam', NEWS(2), 'cli', 0, ['a.test']);
    assert.equal(c.domains!.current('a.test')!.nspam, 1);
  });
});
