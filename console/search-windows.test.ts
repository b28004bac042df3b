/**
 * searchInWindows (console/store.ts) gives exactly the page a single query gives — same rows, same
 * order, same `more` — whatever the match density (none, rare, dense only long ago, dense now) and
 * whatever time bounds the filter has, while a dense recent match set is answered from one day.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { searchInWindows, type MessageSummary, type SearchFilter } from './store.ts';

const DAY = 86400000;
const END = Date.UTC(2026, 10, 30);

function history(times: number[]) {
  const rows = times.map((t, i) => ({ id: `m${i}`, receivedAt: t }) as MessageSummary).sort((a, b) => b.receivedAt - a.receivedAt || (a.id < b.id ? 1 : -1));
  const calls: SearchFilter[] = [];
  const run = async (f: SearchFilter, limit: number) => {
    calls.push(f);
    return rows.filter((r) => (f.from === undefined || r.receivedAt >= f.from) && (f.to === undefined || r.receivedAt <= f.to) && (f.before === undefined || r.receivedAt < f.before)).slice(0, limit + 1);
  };
  const span = async () => (rows.length ? { oldest: rows.at(-1)!.receivedAt, newest: rows[0]!.receivedAt } : null);
  return { calls, run, span };
}

test('the same page as one query, for every density and bound', async () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const shapes: Record<string, () => number[]> = {
    none: () => [],
    rare: () => Array.from({ length: 40 }, () => END - rand() * 90 * DAY),
    denseNow: () => Array.from({ length: 20000 }, () => END - rand() ** 3 * 90 * DAY),
    denseLongAgo: () => Array.from({ length: 5000 }, () => END - 60 * DAY - rand() * 30 * DAY),
    uniform: () => Array.from({ length: 3000 }, () => END - rand() * 30 * DAY),
  };
  for (const [name, make] of Object.entries(shapes)) {
    const h = history(make().map(Math.floor));
    for (const [fname, f] of Object.entries({ none: {}, from: { from: END - 10 * DAY }, to: { to: END - 5 * DAY }, before: { before: END - 2 * DAY }, both: { from: END - 70 * DAY, to: END - 50 * DAY } } as Record<string, SearchFilter>)) {
      for (const limit of [1, 100]) {
        const want = await h.run(f, limit);
        const got = await searchInWindows(f, limit, h.span, (w) => h.run(w, limit));
        assert.deepEqual(got.rows.map((r) => r.id), want.slice(0, limit).map((r) => r.id), `${name} ${fname} ${limit}`);
        assert.equal(got.more, want.length > limit, `${name} ${fname} ${limit}: more`);
      }
    }
  }
});

test('dense recent matches: answered from the last day, one query; no match that day: straight to the whole filter', async () => {
  const dense = history(Array.from({ length: 30000 }, (_, i) => END - i * 60000));
  await searchInWindows({}, 100, dense.span, (w) => dense.run(w, 100));
  assert.deepEqual(dense.calls.map((c) => c.from), [END - DAY]);
  const old = history(Array.from({ length: 30000 }, (_, i) => END - 40 * DAY - i * 60000).concat([END]));
  await searchInWindows({}, 100, old.span, (w) => old.run(w, 100));
  assert.equal(old.calls.length, 2, 'one day (1 match, sparse overall), then everything');
  assert.equal(old.calls[1]!.from, undefined);
});
