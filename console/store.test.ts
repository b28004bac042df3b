/**
 * The history stores (SQLite, and PostgreSQL on a throwaway loopback cluster): the same search
 * semantics for every filter, upserts that make a replay idempotent, held flags that arrive before
 * or after the record, dead-letter bookkeeping, retention; console sessions (hashed, expiring).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../infra/ports.ts';
import { postgresAvailable, startLocalPostgres, type LocalPostgres } from '../infra/postgres.ts';
import { PgHistoryStore } from './store-pg.ts';
import { SqliteHistoryStore } from './store-sqlite.ts';
import type { HistoryStore, MessageRow } from './store.ts';
import { sessionKey, Sessions } from './web.ts';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const row = (i: number, o: Partial<MessageRow> = {}): MessageRow => ({
  id: `id-${i}`, receivedAt: T0 + i * 60000, direction: 'inbound', mailFrom: `sender${i % 3}@Example.com`, rcptTo: [`user${i % 2}@example.net`],
  fromHeader: `Sender ${i} <sender${i % 3}@example.com>`, subject: i % 2 ? `Invoice number ${i}` : `Lunch tomorrow ${i}`, clientIp: `203.0.113.${i}`,
  action: i % 4 === 0 ? 'quarantine' : 'deliver', reasons: i % 4 === 0 ? ['quarantine: spam verdict (spam probability 0.990, model m1)'] : [],
  spamProbability: i / 10, size: 1000 + i, detail: JSON.stringify({ n: i }), ...o,
});

function suite(name: string, open: () => Promise<HistoryStore>, close: () => Promise<void> = async () => {}) {
  describe(name, () => {
    let s: HistoryStore;
    before(async () => {
      s = await open();
      for (let i = 0; i < 8; i++) await s.upsertMessage(row(i));
    });
    after(async () => { await s.close(); await close(); });

    it('searches by sender (address or domain), recipient, subject words, client IP (exact or prefix), action, symbol text, time; newest first', async () => {
      const ids = async (f: Parameters<HistoryStore['search']>[0]) => (await s.search(f)).rows.map((r) => r.id);
      assert.deepEqual(await ids({}), ['id-7', 'id-6', 'id-5', 'id-4', 'id-3', 'id-2', 'id-1', 'id-0']);
      assert.deepEqual(await ids({ sender: 'SENDER1@example.com' }), ['id-7', 'id-4', 'id-1'], 'address, case-insensitive');
      assert.deepEqual(await ids({ sender: '@example.com', limit: 2 }), ['id-7', 'id-6']);
      assert.deepEqual(await ids({ sender: 'example.org' }), []);
      assert.deepEqual(await ids({ recipient: 'user0@example.net' }), ['id-6', 'id-4', 'id-2', 'id-0']);
      assert.deepEqual(await ids({ recipient: 'example.net', limit: 3 }), ['id-7', 'id-6', 'id-5']);
      assert.deepEqual(await ids({ subject: 'invoice' }), ['id-7', 'id-5', 'id-3', 'id-1']);
      assert.deepEqual(await ids({ subject: 'invoice 3' }), ['id-3'], 'every word must match');
      assert.deepEqual(await ids({ subject: 'sender 6' }), ['id-6'], 'the From header is searched too');
      assert.deepEqual(await ids({ clientIp: '203.0.113.5' }), ['id-5']);
      assert.deepEqual(await ids({ clientIp: '203.0.113.' , limit: 1 }), ['id-7']);
      assert.deepEqual(await ids({ action: 'quarantine' }), ['id-4', 'id-0']);
      assert.deepEqual(await ids({ symbol: 'spam verdict' }), ['id-4', 'id-0']);
      assert.deepEqual(await ids({ from: T0 + 2 * 60000, to: T0 + 4 * 60000 }), ['id-4', 'id-3', 'id-2']);
      assert.deepEqual(await ids({ sender: '@example.com', subject: 'lunch', recipient: 'user0@example.net', before: T0 + 6 * 60000 }), ['id-4', 'id-2', 'id-0']);
      // Full-text with an exact address or IP (few candidates: they drive, SQLite) and with a domain (the full-text index drives).
      assert.deepEqual(await ids({ recipient: 'user1@example.net', subject: 'invoice' }), ['id-7', 'id-5', 'id-3', 'id-1']);
      assert.deepEqual(await ids({ recipient: 'example.net', subject: 'invoice', limit: 2 }), ['id-7', 'id-5']);
      assert.deepEqual(await ids({ clientIp: '203.0.113.4', symbol: 'spam verdict' }), ['id-4']);
      assert.deepEqual(await ids({ sender: 'sender0@example.com', subject: 'lunch' }), ['id-6', 'id-0']);
      assert.deepEqual(await ids({ sender: 'sender0@example.com', subject: 'invoice' }), ['id-3']);
      const page = await s.search({ limit: 3 });
      assert.equal(page.more, true);
      assert.equal((await s.search({ limit: 8 })).more, false);
    });

    it('hostile search input is only data: quotes, operators, SQL', async () => {
      for (const v of [`"`, `' OR 1=1 --`, 'NEAR(a b)', '*', 'subject:x', '\u0000', 'a'.repeat(5000)]) {
        assert.deepEqual((await s.search({ subject: v, sender: v, recipient: v, clientIp: v, symbol: v, action: v })).rows, []);
      }
    });

    it('upserts: a replayed record changes nothing, a re-decided one updates its row and its search terms', async () => {
      await s.upsertMessage(row(3));
      assert.equal(await s.countMessages(), 8);
      await s.upsertMessage(row(3, { subject: 'Changed words', action: 'junk', rcptTo: ['carol@example.org'] }));
      assert.deepEqual((await s.search({ subject: 'changed' })).rows.map((r) => r.id), ['id-3']);
      assert.deepEqual((await s.search({ subject: 'invoice 3' })).rows, []);
      assert.deepEqual((await s.search({ recipient: 'carol@example.org' })).rows.map((r) => r.id), ['id-3']);
      assert.equal((await s.search({ recipient: 'user1@example.net' })).rows.some((r) => r.id === 'id-3'), false, 'the old recipient no longer finds it');
      assert.equal((await s.get('id-3'))!.action, 'junk');
      assert.equal((await s.get('nope')), null);
    });

    it('held: set before the record arrives, or after; cleared by a release', async () => {
      await s.setHeld('id-9', true);
      await s.upsertMessage(row(9, { action: 'quarantine' }));
      await s.setHeld('id-4', true);
      assert.deepEqual((await s.search({ held: true })).rows.map((r) => r.id), ['id-9', 'id-4']);
      await s.setHeld('id-4', false);
      assert.deepEqual((await s.search({ held: true })).rows.map((r) => r.id), ['id-9']);
      assert.equal((await s.get('id-9'))!.held, true);
    });

    it('deliveries per message, latest outcome per recipient', async () => {
      await s.upsertDelivery({ recordId: 'id-1', recipient: 'User1@example.net', status: 'bounced', at: T0, attempts: 1, nextHop: 'mx', reply: '550 no' });
      await s.upsertDelivery({ recordId: 'id-1', recipient: 'user1@example.net', status: 'delivered', at: T0 + 1, attempts: 2, nextHop: 'mx', reply: '250 ok' });
      assert.deepEqual((await s.deliveries('id-1')).map((d) => [d.recipient, d.status, d.attempts]), [['user1@example.net', 'delivered', 2]]);
    });

    it('dead letters: listed by stage and reason, counted, marked re-driven once', async () => {
      const dl = (p: number, o: string, stage: string, reason: string) => ({ partition: p, offset: o, stage, reason, error: 'boom', recordId: null, sourceTopic: 'mail.inbound.raw', sourcePartition: 0, sourceOffset: 5, failedAt: T0, redrivenAt: null, redrivenBy: null });
      await s.upsertDeadLetter(dl(0, '1', 'mime', 'decode-error'));
      await s.upsertDeadLetter(dl(0, '2', 'mime', 'decode-error'));
      await s.upsertDeadLetter(dl(1, '1', 'spam', 'process-error'));
      await s.upsertDeadLetter(dl(1, '1', 'spam', 'process-error'));
      assert.deepEqual(await s.deadLetterCounts(), [{ stage: 'mime', reason: 'decode-error', pending: 2, total: 2 }, { stage: 'spam', reason: 'process-error', pending: 1, total: 1 }]);
      await s.markRedriven([{ partition: 0, offset: '2' }], 'alice', T0 + 5);
      assert.deepEqual((await s.deadLetters({ stage: 'mime', pending: true })).map((d) => d.offset), ['1']);
      assert.equal((await s.deadLetters({ stage: 'mime' })).find((d) => d.offset === '2')!.redrivenBy, 'alice');
    });

    it('retention prunes old messages with their recipients and deliveries; clear empties everything', async () => {
      const removed = await s.prune(T0 + 2 * 60000);
      assert.equal(removed, 2);
      assert.equal((await s.search({ recipient: 'user1@example.net' })).rows.some((r) => r.id === 'id-1'), false);
      assert.deepEqual(await s.deliveries('id-1'), []);
      await s.clear();
      assert.equal(await s.countMessages(), 0);
      assert.deepEqual((await s.search({ subject: 'lunch' })).rows, []);
    });

    it('sessions: stored hashed; a new Sessions on the same database (a restart) finds them; logout, idle and absolute expiry remove them; clear keeps them', async () => {
      let now = T0;
      const clock = () => now;
      const a = new Sessions(s, 8 * 3600000, 30 * 60000, clock);
      const alice = await a.create('alice');
      const bob = await a.create('bob');
      assert.equal(await s.getSession(alice.id), null, 'the id itself is not a key');
      assert.equal((await s.getSession(sessionKey(alice.id)))!.user, 'alice');
      await s.clear();
      const b = new Sessions(s, 8 * 3600000, 30 * 60000, clock); // nothing in memory: as after a restart
      const again = await b.get(alice.id);
      assert.deepEqual([again?.user, again?.csrf], ['alice', alice.csrf], 'the same user and CSRF token');
      assert.equal(await b.get(`${alice.id.slice(0, -1)}x`), undefined);
      assert.equal(await b.get('short'), undefined);
      await b.end(bob.id);
      assert.equal(await b.get(bob.id), undefined, 'logout ends it');
      assert.equal(await s.getSession(sessionKey(bob.id)), null);
      // Idle: seen 29 min ago is fine (and refreshes `seen`), 31 min without a request is not.
      now += 29 * 60000;
      assert.ok(await b.get(alice.id));
      now += 31 * 60000;
      assert.equal(await b.get(alice.id), undefined, 'idle too long');
      assert.equal(await s.getSession(sessionKey(alice.id)), null, 'and deleted');
      // Absolute: active every 20 minutes, still over after 8 hours.
      const carol = await b.create('carol');
      for (let i = 0; i < 23; i++) { now += 20 * 60000; assert.ok(await b.get(carol.id), `still in at ${i}`); }
      now += 21 * 60000;
      assert.equal(await b.get(carol.id), undefined, 'older than the longest session');
      // The sweep removes expired sessions nobody asks for again.
      const dave = await b.create('dave');
      now += 31 * 60000;
      assert.equal(await b.sweep(), 1);
      assert.equal(await s.getSession(sessionKey(dave.id)), null);
    });
  });
}

const sqliteDir = mkdtempSync(join(tmpdir(), 'scop-history-'));
suite('SQLite history store', async () => new SqliteHistoryStore(join(sqliteDir, 'history.db')), async () => rmSync(sqliteDir, { recursive: true, force: true }));

let pgServer: LocalPostgres | undefined;
if (postgresAvailable()) {
  suite('PostgreSQL history store', async () => {
    pgServer = await startLocalPostgres({ dir: mkdtempSync(join(tmpdir(), 'scop-pg-')), port: await freePort() });
    return PgHistoryStore.open(pgServer.url);
  }, async () => pgServer?.stop());
} else {
  it('PostgreSQL history store', { skip: 'needs Debian\'s postgresql package (infra/debian-packages.txt)' }, () => {});
}
