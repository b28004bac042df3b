/**
 * The SMTP session pool against a raw SMTP server on loopback (WireCapture, which counts
 * connections and can break a session): many messages to one next hop share at most
 * `maxPerDestination` sessions; a pooled session that broke before the message left is replaced
 * by a fresh one (the message arrives once, not lost, not twice); a session that broke after the
 * message's bytes left is not retried by the pool (the relay's retry decides: a resend there could
 * be a duplicate); limits close sessions after `maxMessages` and when idle.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { poolMetrics, SmtpPool } from './smtp-pool.ts';
import { WireCapture } from './testing.ts';
import type { SmtpTarget } from './transport.ts';

const wire = new WireCapture();
before(() => wire.start());
after(() => wire.stop());

const target = (): SmtpTarget => ({ host: '127.0.0.1', port: wire.port, name: 'egress.test', starttls: 'off', tls: {}, timeoutMs: 5000 });
const env = (i: number) => ({ from: 'a@example.test', recipients: [`r${i}@example.test`], use8BitMime: true });
const message = (i: number) => Buffer.from(`Subject: m${i}\r\nMessage-ID: <m${i}@example.test>\r\n\r\nbody ${i}\r\n`);
/** How many captured transactions carry message i. */
const copies = (i: number) => wire.transactions.filter((t) => t.includes(`<m${i}@example.test>`)).length;

let pool: SmtpPool;
let registry: Registry;
const sessions = async (event: string) => (await registry.getSingleMetric('scop_egress_smtp_sessions_total')!.get()).values.find((v) => v.labels.event === event)?.value ?? 0;

beforeEach(() => {
  wire.transactions.length = 0;
  wire.connections = 0;
  wire.dropAtMail = () => false;
  wire.dropAfterData = () => false;
  wire.rcptReply = () => null;
  registry = new Registry();
});
afterEach(() => pool.close());

describe('SMTP session pool', () => {
  test('200 messages at once to one next hop travel over at most 3 sessions, each message once', async () => {
    pool = new SmtpPool({ maxPerDestination: 3, maxMessages: 1000, idleMs: 5000, metrics: poolMetrics(registry) });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.send(target(), env(i), message(i))));
    assert.ok(results.every((r) => r.connected && r.outcomes[0]!.kind === 'delivered'), JSON.stringify(results.find((r) => r.outcomes[0]!.kind !== 'delivered')));
    assert.equal(wire.transactions.length, 200);
    for (let i = 0; i < 200; i++) assert.equal(copies(i), 1, `message ${i}`);
    assert.ok(wire.connections <= 3 && wire.connections >= 1, `connections: ${wire.connections}`);
    assert.ok(pool.openSessions <= 3);
    assert.equal(await sessions('opened'), wire.connections);
    assert.equal(await sessions('reused'), 200 - wire.connections);
  });

  test('a pooled session broken before the message left: sent over a fresh session, once', async () => {
    pool = new SmtpPool({ maxPerDestination: 1, maxMessages: 1000, idleMs: 5000, metrics: poolMetrics(registry) });
    const first = await pool.send(target(), env(1), message(1));
    assert.equal(first.outcomes[0]!.kind, 'delivered');
    // The idle session's next transaction dies at MAIL FROM (as when a server drops an idle session
    // and the client learns it only by writing): the pool must not report a failure.
    wire.dropAtMail = (n) => n === 2;
    const second = await pool.send(target(), env(2), message(2));
    assert.equal(second.outcomes[0]!.kind, 'delivered', second.outcomes[0]!.reply);
    assert.equal(copies(1), 1);
    assert.equal(copies(2), 1);
    assert.equal(wire.connections, 2);
    assert.equal(await sessions('stale'), 1);
  });

  test('a session closed by the server while idle is replaced without a failure', async () => {
    pool = new SmtpPool({ maxPerDestination: 2, maxMessages: 1000, idleMs: 5000, metrics: poolMetrics(registry) });
    await pool.send(target(), env(1), message(1));
    await wire.dropSessions();
    const r = await pool.send(target(), env(2), message(2));
    assert.equal(r.outcomes[0]!.kind, 'delivered', r.outcomes[0]!.reply);
    assert.equal(copies(2), 1);
    assert.equal(wire.connections, 2);
  });

  test('a session broken after the message\'s bytes left: a temporary failure, not resent by the pool', async () => {
    pool = new SmtpPool({ maxPerDestination: 1, maxMessages: 1000, idleMs: 5000, metrics: poolMetrics(registry) });
    await pool.send(target(), env(1), message(1));
    wire.dropAfterData = (n) => n === 2;
    const r = await pool.send(target(), env(2), message(2));
    assert.equal(r.outcomes[0]!.kind, 'temporary');
    assert.equal(wire.connections, 1, 'no second session: the pool did not resend');
    // The broken session left the pool: the next message opens a fresh one.
    const next = await pool.send(target(), env(3), message(3));
    assert.equal(next.outcomes[0]!.kind, 'delivered');
    assert.equal(wire.connections, 2);
  });

  test('a refused recipient keeps the session (RSET); maxMessages and idleMs close sessions', async () => {
    pool = new SmtpPool({ maxPerDestination: 1, maxMessages: 2, idleMs: 300, metrics: poolMetrics(registry) });
    wire.rcptReply = (line) => (line.includes('r1@') ? '550 5.1.1 no such user' : null);
    const refused = await pool.send(target(), env(1), message(1));
    assert.equal(refused.outcomes[0]!.kind, 'permanent');
    assert.match(refused.outcomes[0]!.reply, /^550 5\.1\.1/);
    assert.ok(wire.commands.some((c) => c.toUpperCase() === 'RSET'), 'RSET after the refused envelope');
    await pool.send(target(), env(2), message(2));
    assert.equal(wire.connections, 1, 'the refused envelope did not cost the session');
    assert.equal(copies(2), 1);
    await pool.send(target(), env(3), message(3));
    assert.equal(wire.connections, 2, 'the first session closed after 2 messages');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(pool.openSessions, 0, 'idle session closed');
    await pool.send(target(), env(4), message(4));
    assert.equal(wire.connections, 3);
  });

  test('a next hop that refuses connections: every recipient temporary, nothing pooled', async () => {
    pool = new SmtpPool({ maxPerDestination: 2, maxMessages: 10, idleMs: 5000, metrics: poolMetrics(registry) });
    const r = await pool.send({ ...target(), port: 1 }, { from: 'a@example.test', recipients: ['x@example.test', 'y@example.test'], use8BitMime: true }, message(9));
    assert.deepEqual(r.outcomes.map((o) => o.kind), ['temporary', 'temporary']);
    assert.equal(r.connected, false);
    assert.equal(pool.openSessions, 0);
    assert.equal(await sessions('failed'), 1);
  });
});
