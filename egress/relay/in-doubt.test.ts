/**
 * Transactions in doubt ("." sent, reply not handled): the gate bounds how many there are at once
 * (a raw SMTP server on loopback counts messages stored but not answered yet), measures them, and
 * notes them in the journal so that a restart names exactly the records a dead relay had in doubt.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Registry, type Histogram } from 'prom-client';
import type { KafkaClient, Producer } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { DeliveryLog } from './delivery-log.ts';
import { InDoubtGate, inDoubtMetrics } from './in-doubt.ts';
import { DeliveryJournal } from './journal.ts';
import { SmtpPool } from './smtp-pool.ts';
import { WireCapture } from './testing.ts';
import type { SmtpTarget } from './transport.ts';

const wire = new WireCapture();
before(() => wire.start());
after(() => wire.stop());

const target = (inDoubt?: InDoubtGate): SmtpTarget => ({ host: '127.0.0.1', port: wire.port, name: 'egress.test', starttls: 'off', tls: {}, timeoutMs: 5000, inDoubt });
const env = (i: number) => ({ from: 'a@example.test', recipients: [`r${i}@example.test`], use8BitMime: true, recordId: `rec-${i}` });
const message = (i: number) => Buffer.from(`Subject: m${i}\r\nMessage-ID: <m${i}@example.test>\r\n\r\nbody ${i}\r\n`);
/** A pid no process has (pids above the kernel's limit never exist). */
const deadPid = 4_194_305;
const turn = () => new Promise((r) => setImmediate(r));

let pool: SmtpPool | undefined;
let dir: string;
beforeEach(() => {
  wire.transactions.length = 0;
  wire.replyDelayMs = 0;
  wire.maxUnanswered = 0;
  wire.dropAfterData = () => false;
  dir = mkdtempSync(join(tmpdir(), 'scop-in-doubt-'));
});
afterEach(() => {
  pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('in-doubt gate', () => {
  test('bounds the transactions past their "." at once: 8 messages over 8 sessions to a slow next hop, never more than 2 stored-but-unanswered; all delivered once; measured', async () => {
    const registry = new Registry();
    const gate = new InDoubtGate({ max: 2, metrics: inDoubtMetrics(registry) });
    pool = new SmtpPool({ maxPerDestination: 8, maxMessages: 100, idleMs: 5000 });
    const gated = target(gate);
    wire.replyDelayMs = 40;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => pool!.send(gated, env(i), message(i))));
    assert.ok(results.every((r) => r.outcomes[0]!.kind === 'delivered'));
    assert.equal(wire.transactions.length, 8);
    assert.equal(wire.maxUnanswered, 2, 'the next hop never held more than 2 messages it had not answered');
    assert.equal(gate.peak, 2);
    await turn();
    assert.equal(gate.current, 0, 'every slot freed (after the turn in which the outcome is recorded)');
    const h = (await (registry.getSingleMetric('scop_egress_in_doubt_seconds') as Histogram).get()).values;
    const count = h.find((v) => v.metricName === 'scop_egress_in_doubt_seconds_count')!.value;
    const sum = h.find((v) => v.metricName === 'scop_egress_in_doubt_seconds_sum')!.value;
    assert.equal(count, 8);
    assert.ok(sum >= 8 * 0.035, `each doubt lasted about the reply delay: ${sum} s in all`);
    const waited = (await (registry.getSingleMetric('scop_egress_in_doubt_wait_seconds') as Histogram).get()).values.find((v) => v.metricName === 'scop_egress_in_doubt_wait_seconds_sum')!.value;
    assert.ok(waited > 0.1, `the other six waited for a slot: ${waited} s`);
  });

  test('without the bound (max ≥ sessions) the same load has more in doubt at once: the bound is what limits it', async () => {
    const gate = new InDoubtGate({ max: 8 });
    pool = new SmtpPool({ maxPerDestination: 8, maxMessages: 100, idleMs: 5000 });
    const gated = target(gate);
    wire.replyDelayMs = 40;
    await Promise.all(Array.from({ length: 8 }, (_, i) => pool!.send(gated, env(i), message(i))));
    assert.ok(wire.maxUnanswered > 2, `max unanswered: ${wire.maxUnanswered}`);
  });

  test('a waiter whose transaction ended passes its slot on; a session dying after the data ends its doubt (temporary, slot freed)', async () => {
    const gate = new InDoubtGate({ max: 1 });
    const first = await gate.enter({ recipients: ['a'] });
    let over = false;
    const cancelled = gate.enter({ recipients: ['b'] }, () => over);
    const third = gate.enter({ recipients: ['c'] });
    over = true;
    first!.end();
    assert.equal(await cancelled, null, 'nothing noted for a transaction that ended while it waited');
    const t = await third;
    assert.ok(t, 'the slot went on to the next waiter');
    assert.equal(gate.current, 1);
    t.end();
    t.end();
    assert.equal(gate.current, 1, 'the slot is held until the turn that records the outcome is over');
    await turn();
    assert.equal(gate.current, 0, 'end() is idempotent');
    pool = new SmtpPool({ maxPerDestination: 2, maxMessages: 100, idleMs: 5000 });
    const gated = target(gate);
    wire.dropAfterData = () => true;
    const r = await pool.send(gated, env(1), message(1));
    assert.equal(r.outcomes[0]!.kind, 'temporary');
    await turn();
    assert.equal(gate.current, 0);
  });

  test('journal: a mark before the ".", an answer after the reply; a copy of the journal taken mid-transaction names the record in doubt, the final one none', async () => {
    const journal = new DeliveryJournal({ dir, log: loggerFor('test') });
    journal.open();
    pool = new SmtpPool({ maxPerDestination: 2, maxMessages: 100, idleMs: 5000 });
    const gated = target(new InDoubtGate({ max: 4, journal }));
    wire.replyDelayMs = 300;
    const sending = pool.send(gated, env(7), message(7));
    // While the next hop holds its reply: the journal has the mark (as a relay killed now would leave it).
    const [file] = readdirSync(dir);
    const midway = join(dir, 'midway');
    mkdirSync(midway);
    const deadCopy = () => copyFileSync(join(dir, file!), join(midway, file!.replace(/^journal-\d+-/, `journal-${deadPid}-`)));
    for (let i = 0; i < 100 && wire.transactions.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(wire.transactions.length, 1, 'the message (and its ".") reached the next hop');
    deadCopy();
    const mid = new DeliveryJournal({ dir: midway, log: loggerFor('test') }).recover();
    assert.deepEqual(mid.inDoubt.map((d) => [d.recordId, d.recipients]), [['rec-7', ['r7@example.test']]]);
    assert.equal((await sending).outcomes[0]!.kind, 'delivered');
    await turn();
    rmSync(midway, { recursive: true });
    mkdirSync(midway);
    deadCopy();
    const lines = readFileSync(join(dir, file!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => Object.keys(l)[0]), ['doubt', 'answered']);
    assert.deepEqual(new DeliveryJournal({ dir: midway, log: loggerFor('test') }).recover().inDoubt, [], 'answered: not in doubt');
    journal.close();
  });

  test('a restart reports the records a dead relay had in doubt (with a metric callback), except those whose outcome it had logged', async () => {
    const at = Date.now();
    const status = (recordId: string) => ({ recordId, recipient: 'a@example.test', status: 'delivered' as const, at, attempts: 1, nextHop: 'x', reply: '250', receivedAt: at });
    writeFileSync(join(dir, `journal-${deadPid}-00aa11-0.ndjson`), [
      { doubt: 0, recordId: 'open', recipients: ['a@example.test'], at },
      { doubt: 1, recordId: 'answered', recipients: ['a@example.test'], at },
      { answered: 1 },
      { doubt: 2, recordId: 'logged', recipients: ['a@example.test'], at },
      status('logged'),
    ].map((l) => `${JSON.stringify(l)}\n`).join(''));
    // Another dead writer's mark numbers are its own.
    writeFileSync(join(dir, `journal-${deadPid}-00bb22-0.ndjson`), `${JSON.stringify({ doubt: 1, recordId: 'other-writer', recipients: ['b@example.test'], at })}\n`);
    const sent: string[] = [];
    const producer = { send: async (r: { messages: { key: string }[] }) => { sent.push(...r.messages.map((m) => m.key)); return []; } } as unknown as Producer;
    const codec = { encodeWith: () => Buffer.alloc(0), registerSchema: async () => 1 } as unknown as RecordCodec;
    let counted = 0;
    const log = new DeliveryLog({ kafka: {} as KafkaClient, codec, producer, topic: 't', log: loggerFor('test'), journal: new DeliveryJournal({ dir, log: loggerFor('test') }), onInDoubt: (n) => { counted += n; }, follow: (async () => ({ stop: async () => {} })) as never });
    await log.start();
    assert.deepEqual(log.recoveredInDoubt.map((d) => d.recordId).sort(), ['open', 'other-writer']);
    assert.equal(counted, 2);
    assert.deepEqual(sent, ['logged|a@example.test'], 'the logged outcome reached the log');
    await log.stop();
  });
});

test('the in-doubt gauge exists at 0 per route from the start, and a second registration keeps a live value', async () => {
  const registry = new Registry();
  const value = async (route: string) => (await registry.getSingleMetric('scop_egress_in_doubt_transactions')!.get()).values.find((v) => v.labels.route === route)?.value;
  const gate = new InDoubtGate({ max: 2, metrics: inDoubtMetrics(registry), route: 'mx' });
  assert.equal(await value('next-hop'), 0);
  assert.equal(await value('mx'), 0);
  const t = await gate.enter({ recipients: ['a@b.example'] });
  assert.equal(await value('mx'), 1);
  inDoubtMetrics(registry);
  assert.equal(await value('mx'), 1, 'not reset by the second call');
  t!.end();
  assert.equal(await value('mx'), 0);
});
