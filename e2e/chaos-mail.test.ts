/**
 * The chaos run's counting (e2e/chaos-mail.ts, e2e/chaos.ts): what is lost, what is a duplicate and of
 * which kind, the sender's retries against a server that refuses, drops and answers 4xx, and the
 * seeded kill plan. No Kafka: the whole-pipeline run is e2e/chaos.test.ts.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../infra/ports.ts';
import { ChaosSink, chaosMessage, headerIds, sendAll, tally, type Delivery } from './chaos-mail.ts';
import { deliveryStalls, planKills } from './chaos.ts';

const d = (messageId: string, recordId: string, at = 0): Delivery => ({ messageId, recordId, at });

describe('chaos counting', () => {
  it('lost = accepted and never delivered; a repeated record is the pipeline\'s duplicate, a new record id for one Message-ID the sender\'s', () => {
    const t = tally(5, new Set(['<a>', '<b>', '<c>', '<d>']), [
      d('<a>', 'r1'), d('<a>', 'r1'), // the same record twice: pipeline
      d('<b>', 'r2'), d('<b>', 'r3'), // two records: the sender resent it
      d('<c>', 'r4'),
      d('<e>', 'r5'), // delivered without a 250 seen by the sender
    ]);
    assert.deepEqual(t.lost, ['<d>']);
    assert.deepEqual(t.duplicated.sameRecord, ['<a>']);
    assert.deepEqual(t.duplicated.resent, ['<b>']);
    assert.equal(t.deliveredUnique, 3);
    assert.equal(t.extraCopies, 2);
    assert.equal(t.deliveredNotAccepted, 1);
    assert.equal(t.deliveries, 6);
  });

  it('reads Message-ID and X-Scop-Record-Id from the header section only, folded or not', () => {
    assert.deepEqual(headerIds('Subject: x\r\nMessage-ID:\r\n <m@x>\r\nX-Scop-Record-Id: r-1\r\n\r\nMessage-ID: <body@x>\r\n'), { messageId: '<m@x>', recordId: 'r-1' });
    assert.deepEqual(headerIds('Subject: none\n\nX-Scop-Record-Id: r\n'), { messageId: '', recordId: '' });
  });

  it('each message carries its own Message-ID instead of the corpus one (folded lines too), body untouched', () => {
    const m = chaosMessage('run', 7, Buffer.from('Message-ID:\n <corpus@x>\nSubject: hi\n\nMessage-ID: <in-body@x>\nbody\n'));
    const text = m.raw.toString('latin1');
    assert.equal(m.messageId, '<chaos-run-7@chaos.scop.test>');
    assert.deepEqual(headerIds(text), { messageId: m.messageId, recordId: '' });
    assert.doesNotMatch(text, /corpus@x/);
    assert.match(text, /\r\nSubject: hi\r\n\r\nMessage-ID: <in-body@x>\r\nbody\r\n$/);
  });

  it('the kill plan is the seed\'s: every target its count of kills, the broker too, inside 3–90 % of the run', () => {
    const o = { messages: 1000, kills: [2, 4] as [number, number], brokerKills: 2, seed: 42 };
    const plan = planKills(['ingress', 'inbound-1', 'egress'], o);
    assert.deepEqual(planKills(['ingress', 'inbound-1', 'egress'], o), plan, 'same seed, same plan');
    assert.notDeepEqual(planKills(['ingress', 'inbound-1', 'egress'], { ...o, seed: 43 }), plan);
    for (const t of ['ingress', 'inbound-1', 'egress']) {
      const n = plan.filter((k) => k.target === t).length;
      assert.ok(n >= 2 && n <= 4, `${t}: ${n} kills`);
    }
    assert.equal(plan.filter((k) => k.target === 'broker').length, 2);
    assert.ok(plan.every((k, i) => k.dueAtEvents >= 60 && k.dueAtEvents <= 1800 && (i === 0 || plan[i - 1]!.dueAtEvents <= k.dueAtEvents)));
  });

  it('a stall is a stretch without a delivery while accepted mail waits; an idle pipeline is no stall', () => {
    const m = (acceptedAt: number, deliveredAt?: number) => ({ acceptedAt, deliveredAt });
    // Accepted at 0, 1 and 2; delivered at 1, then nothing until 30; idle from 40 (everything delivered) to 100.
    assert.deepEqual(deliveryStalls([m(0, 1), m(1, 30), m(2, 40)], 100, 15), [{ fromMs: 1, ms: 29, waiting: 2 }]);
    assert.deepEqual(deliveryStalls([m(0, 1), m(1, 5)], 100, 15), []);
    // A message accepted long after the last delivery waits from its acceptance, not from that delivery.
    assert.deepEqual(deliveryStalls([m(0, 1), m(50, 90)], 100, 15), [{ fromMs: 50, ms: 40, waiting: 1 }]);
    // Nothing delivered at all: one stall to the end.
    assert.deepEqual(deliveryStalls([m(10)], 50, 15), [{ fromMs: 10, ms: 40, waiting: 1 }]);
  });

  it('the sender retries through 4xx answers until a 250, and counts them', async () => {
    // A server that answers 451 to the first DATA of each message (and refused connections: the next test).
    const seen = new Map<string, number>();
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, _session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const id = headerIds(Buffer.concat(chunks).toString('latin1')).messageId;
          const n = (seen.get(id) ?? 0) + 1;
          seen.set(id, n);
          if (n === 1) { const e = new Error('try again') as Error & { responseCode: number }; e.responseCode = 451; cb(e); return; }
          cb();
        });
      },
    });
    const port = await freePort();
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', () => ok()));
    try {
      const messages = Array.from({ length: 4 }, (_, i) => chaosMessage('retry', i, Buffer.from(`Subject: ${i}\n\nbody\n`)));
      const r = await sendAll({ host: '127.0.0.1', port, messages, sessions: 2, from: 'a@x.test', to: 'b@x.test', deadline: Date.now() + 60000 });
      assert.equal(r.accepted.size, 4, 'every message accepted in the end');
      assert.equal(r.notAccepted.size, 0);
      assert.equal(r.retries['4xx'], 4, `a retry after each 451 (${JSON.stringify(r.retries)})`);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });

  it('the sink survives a relay that dies mid-session (connection reset) and keeps recording', async () => {
    const sink = new ChaosSink();
    await sink.start(await freePort());
    try {
      await new Promise<void>((ok) => {
        // One command per reply, then half a message and a reset (RST), as a SIGKILLed relay leaves it.
        const script = ['EHLO relay.test', 'MAIL FROM:<a@x.test>', 'RCPT TO:<b@x.test>', 'DATA'];
        const s = connect(sink.port, '127.0.0.1');
        s.on('data', (d: Buffer) => {
          if (script.length > 0) s.write(`${script.shift()}\r\n`);
          else if (d.toString().startsWith('354')) { s.write('Subject: half\r\n'); setTimeout(() => { s.resetAndDestroy(); ok(); }, 200); }
        });
      });
      const m = chaosMessage('sink', 1, Buffer.from('Subject: x\n\nbody\n'));
      const r = await sendAll({ host: '127.0.0.1', port: sink.port, messages: [m], sessions: 1, from: 'a@x.test', to: 'b@x.test', deadline: Date.now() + 30000 });
      assert.equal(r.accepted.size, 1);
      assert.deepEqual(sink.deliveries.map((d) => d.messageId), [m.messageId], 'the half-sent message is not counted, the next one is');
      assert.ok(sink.resets >= 1, 'the reset was seen');
    } finally {
      await sink.stop();
    }
  });

  it('a 5xx is given up at once, and the deadline ends retries of a server that never answers 250', async () => {
    const sink = new ChaosSink();
    await sink.start(await freePort());
    await sink.stop(); // nothing listens any more: every attempt is refused
    const messages = [chaosMessage('dead', 0, Buffer.from('Subject: x\n\nbody\n'))];
    const r = await sendAll({ host: '127.0.0.1', port: sink.port, messages, sessions: 1, from: 'a@x.test', to: 'b@x.test', deadline: Date.now() + 1500 });
    assert.equal(r.accepted.size, 0);
    assert.match(r.notAccepted.get(messages[0]!.messageId) ?? '', /^deadline: /);
    assert.ok(r.retries.connection >= 1);

    const refusing = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], logger: false, onData(s, _x, cb) { s.resume(); s.on('end', () => { const e = new Error('no') as Error & { responseCode: number }; e.responseCode = 554; cb(e); }); } });
    const port = await freePort();
    await new Promise<void>((ok) => refusing.listen(port, '127.0.0.1', () => ok()));
    try {
      const r5 = await sendAll({ host: '127.0.0.1', port, messages, sessions: 1, from: 'a@x.test', to: 'b@x.test', deadline: Date.now() + 60000 });
      assert.match(r5.notAccepted.get(messages[0]!.messageId) ?? '', /^refused: /);
      assert.deepEqual(r5.retries, { '4xx': 0, connection: 0 });
    } finally {
      await new Promise<void>((ok) => refusing.close(() => ok()));
    }
  });
});
