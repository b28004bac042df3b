/**
 * Abuse limits (session pools, per-prefix limits, the session clock, the memory budget), the
 * blocklist topic, metrics and graceful shutdown.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../runtime/testing.ts';
import type { Block } from '../schemas/types.ts';
import { metricValue, readRecords, recordIdOf, sampleMessage, SmtpClient, startTestIngress, submissionClient, type TestIngress } from './testkit.ts';
import { addUser } from './users.ts';

async function greet(port: number, localAddress = '127.0.0.1'): Promise<{ c: SmtpClient; text: string; code: number }> {
  const c = await SmtpClient.connect(port, { localAddress });
  const r = await c.reply();
  return { c, text: r.text, code: r.code };
}

describe('abuse limits', () => {
  let t: TestIngress;
  before(async () => {
    t = await startTestIngress({
      name: 'limits',
      env: { INGRESS_MAX_SESSIONS_PER_PREFIX: '2', INGRESS_MAX_SESSIONS_MX: '3', INGRESS_MAX_SESSIONS_SUBMISSION: '2', INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: '3' },
    });
  });
  after(async () => { await t.stop(); });

  it('limits sessions per client prefix (421 4.7.0) and per pool (421 4.3.2); MX and submission have separate pools', async () => {
    const port = t.ingress.ports.MX!;
    const a = await greet(port, '127.0.1.1');
    const b = await greet(port, '127.0.1.2');
    assert.equal(a.code, 220);
    assert.equal(b.code, 220);
    const third = await greet(port, '127.0.1.3');
    assert.match(third.text, /^421 4\.7\.0 Too many connections from 127\.0\.1\.0\/24/, 'another address of the same /24 counts with the first two');
    await third.c.closed;
    const other = await greet(port, '127.0.2.1');
    assert.equal(other.code, 220, 'another prefix still gets in');
    const full = await greet(port, '127.0.3.1');
    assert.match(full.text, /^421 4\.3\.2 Too many sessions/, 'the MX pool is full');
    const sub = await greet(t.ingress.ports.SUBMISSION!, '127.0.3.1');
    assert.equal(sub.code, 220, 'a full MX pool leaves submission slots free');
    a.c.close();
    await a.c.closed;
    await eventually(async () => {
      const again = await greet(port, '127.0.1.4');
      again.c.close();
      return again.code === 220 ? true : undefined;
    }, 5000, 'a free slot after a session ended');
    for (const x of [b, other, sub]) x.c.close();
    assert.equal(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'CONNECT', code: '421', reason: 'sessions-per-prefix' }), 1);
    assert.equal(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'CONNECT', code: '421', reason: 'max-sessions' }), 1);
  });

  it('limits messages per client prefix per minute (450 4.7.1)', async () => {
    const { c } = await greet(t.ingress.ports.MX!, '127.0.4.4');
    await c.cmd('EHLO client.example.org');
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.cmd('MAIL FROM:<a@example.com>')).code, 250);
      assert.equal((await c.cmd('RSET')).code, 250);
    }
    assert.match((await c.cmd('MAIL FROM:<a@example.com>')).text, /^450 4\.7\.1 Too many messages from 127\.0\.4\.0\/24/);
    c.close();
    const { c: same } = await greet(t.ingress.ports.MX!, '127.0.4.9');
    await same.cmd('EHLO client.example.org');
    assert.equal((await same.cmd('MAIL FROM:<a@example.com>')).code, 450, 'another address of the same prefix shares the allowance');
    same.close();
    const { c: d } = await greet(t.ingress.ports.MX!, '127.0.5.5');
    await d.cmd('EHLO client.example.org');
    assert.equal((await d.cmd('MAIL FROM:<a@example.com>')).code, 250, 'other prefixes are not affected');
    d.close();
  });
});

describe('session clock', () => {
  let t: TestIngress;
  const IDLE_MS = 3000;
  before(async () => {
    t = await startTestIngress({
      name: 'clock',
      env: { INGRESS_SOCKET_TIMEOUT_MS: String(IDLE_MS), INGRESS_MAX_NO_PROGRESS_COMMANDS: '2', INGRESS_MAX_SESSION_MS: '9000', INGRESS_MAX_DATA_MS: '3000', INGRESS_AUTH_TIMEOUT_MS: '2000' },
    });
  });
  after(async () => { await t.stop(); });

  /** Sends `line` every `everyMs` until the server closes the session; returns the 421 and how long it took. */
  async function keepSending(c: SmtpClient, line: string, everyMs: number, limitMs = 30000): Promise<{ reply: string; ms: number }> {
    const started = Date.now();
    let last = '';
    while (Date.now() - started < limitMs) {
      if (line) c.write(`${line}\r\n`);
      try {
        for (;;) {
          const r = await c.reply(everyMs);
          last = r.text;
          if (r.code === 421) return { reply: r.text, ms: Date.now() - started };
        }
      } catch (e) {
        if (/closed/.test((e as Error).message)) return { reply: last, ms: Date.now() - started };
      }
    }
    return { reply: `still open after ${limitMs} ms (last reply: ${last})`, ms: Date.now() - started };
  }

  it('NOOP does not keep a session alive: after a few, the idle limit closes it (421 4.4.2)', async () => {
    const { c } = await greet(t.ingress.ports.MX!, '127.0.20.1');
    await c.cmd('EHLO client.example.org');
    const r = await keepSending(c, 'NOOP', 400);
    assert.match(r.reply, /^421 4\.4\.2 Idle timeout/);
    assert.ok(r.ms >= IDLE_MS, `closed after ${r.ms} ms`);
    c.close();
  });

  it('a session that makes progress outlives the idle limit, but not the session limit (421 4.4.2)', async () => {
    const { c } = await greet(t.ingress.ports.MX!, '127.0.21.1');
    await c.cmd('EHLO client.example.org');
    const started = Date.now();
    let reply = '';
    while (Date.now() - started < 30000) {
      const mail = await c.cmd('MAIL FROM:<a@example.com>').catch(() => undefined);
      if (!mail || mail.code === 421) { reply = mail?.text ?? 'closed'; break; }
      await c.cmd('RSET').catch(() => undefined);
      await new Promise((ok) => setTimeout(ok, 300));
    }
    const ms = Date.now() - started;
    assert.ok(ms > IDLE_MS, `open for ${ms} ms`);
    assert.match(reply, /^421 4\.4\.2 Session time limit/);
    c.close();
  });

  it('DATA trickled byte by byte is cut at the DATA limit (421 4.4.2); nothing is stored', async () => {
    const { c } = await greet(t.ingress.ports.MX!, '127.0.22.1');
    await c.cmd('EHLO client.example.org');
    await c.cmd('MAIL FROM:<a@example.com>');
    await c.cmd('RCPT TO:<b@example.net>');
    assert.equal((await c.cmd('DATA')).code, 354);
    const r = await keepSending(c, 'x', 300);
    assert.match(r.reply, /^421 4\.4\.2 DATA took too long/);
    await eventually(() => (t.ingress.budget.used === 0 ? true : undefined), 5000, 'the partial message given back to the memory budget');
    c.close();
  });

  it('a submission client that does not authenticate in time is closed (421 4.7.0)', async () => {
    const { c } = await greet(t.ingress.ports.SUBMISSION!, '127.0.23.1');
    await c.cmd('EHLO laptop.example.com');
    const r = await keepSending(c, '', 500);
    assert.match(r.reply, /^421 4\.7\.0 Authentication required in time/);
    c.close();
  });
});

describe('memory budget', () => {
  let t: TestIngress;
  const KB900 = 900 * 1024;
  before(async () => {
    t = await startTestIngress({
      name: 'budget',
      env: {
        INGRESS_MAX_MESSAGE_BYTES: String(1024 * 1024), INGRESS_MAX_INFLIGHT_BYTES: String(3 * 1024 * 1024),
        INGRESS_SUBMISSION_RESERVED_BYTES: String(1024 * 1024), INGRESS_MAX_INFLIGHT_BYTES_PER_PREFIX: String(1536 * 1024),
      },
    });
    await addUser(t.config.usersFile, 'alice@example.com', 'correct horse battery');
  });
  after(async () => { await t.stop(); });

  /** A session in DATA that has sent `bytes` of body and not yet the final dot. */
  async function holding(ip: string, bytes: number): Promise<SmtpClient> {
    const { c } = await greet(t.ingress.ports.MX!, ip);
    await c.cmd('EHLO client.example.org');
    await c.cmd('MAIL FROM:<a@example.com>');
    await c.cmd('RCPT TO:<b@example.net>');
    assert.equal((await c.cmd('DATA')).code, 354);
    c.write(body(bytes));
    return c;
  }
  const body = (bytes: number) => `Subject: held\r\n\r\n${`${'y'.repeat(98)}\r\n`.repeat(Math.floor(bytes / 100))}`;

  it('refuses what does not fit with 452 4.3.1: per prefix, past the MX share, and at MAIL for a declared SIZE; submission keeps its reserve', async () => {
    const a = await holding('127.0.30.1', KB900);
    await eventually(() => (t.ingress.budget.used >= KB900 - 1000 ? true : undefined), 10000, 'the first message held');
    const samePrefix = await holding('127.0.30.2', KB900);
    samePrefix.write('.\r\n');
    assert.match((await samePrefix.reply()).text, /^452 4\.3\.1 Insufficient system storage/, 'one /24 holds at most 1.5 MiB');
    samePrefix.close();

    const b = await holding('127.0.31.1', KB900);
    await eventually(() => (t.ingress.budget.used >= 2 * KB900 - 2000 ? true : undefined), 10000, 'two messages held');
    const third = await holding('127.0.32.1', KB900);
    third.write('.\r\n');
    assert.match((await third.reply()).text, /^452 4\.3\.1 /, 'MX may use 2 of the 3 MiB');
    const { c: declared } = await greet(t.ingress.ports.MX!, '127.0.33.1');
    await declared.cmd('EHLO client.example.org');
    assert.match((await declared.cmd(`MAIL FROM:<a@example.com> SIZE=${KB900}`)).text, /^452 4\.3\.1 /, 'a declared SIZE is checked at MAIL');
    declared.close();

    const s = await submissionClient(t.ingress.ports.SUBMISSION!, '127.0.34.1');
    assert.equal((await s.authPlain('alice@example.com', 'correct horse battery')).code, 235);
    await s.cmd('MAIL FROM:<alice@example.com>');
    await s.cmd('RCPT TO:<carol@example.org>');
    assert.equal((await s.data(body(KB900))).code, 250, 'submission uses the reserved part');
    s.close();

    for (const c of [a, b]) {
      c.write('.\r\n');
      assert.equal((await c.reply()).code, 250, 'the held messages complete');
      c.close();
    }
    await eventually(() => (t.ingress.budget.used === 0 ? true : undefined), 5000, 'the budget back to 0');
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { code: '452', reason: 'memory-budget' }) >= 3);
    assert.match(await t.metrics.metrics(), /scop_ingress_inflight_bytes 0/);
  });

  it('a client that disconnects in the middle of DATA gives its bytes back', async () => {
    const c = await holding('127.0.35.1', KB900);
    await eventually(() => (t.ingress.budget.used >= KB900 - 1000 ? true : undefined), 10000, 'the message held');
    c.close();
    await eventually(() => (t.ingress.budget.used === 0 ? true : undefined), 5000, 'the budget back to 0');
  });
});

describe('blocklist topic', () => {
  let t: TestIngress;
  let late: TestIngress | undefined;
  const produceBlock = async (key: string, block: Block | null) => {
    const producer = t.kafka.producer();
    await producer.connect();
    const value = block ? await t.codec.encode<Block>(t.topics.blocklist, block) : null;
    await producer.send({ topic: t.topics.blocklist, acks: -1, messages: [{ key, value }] });
    await producer.disconnect();
  };
  const block = (prefix: string, reason: string, expiresAt: number | null = null): Block => ({ prefix, reason, createdAt: Date.now(), expiresAt, source: 'test' });

  before(async () => {
    const setup = await startTestIngress({ name: 'blocklist-setup', env: {} });
    const topics = setup.topics;
    await setup.stop();
    // Records written before the ingress starts: one elsewhere, one expired, one for 127.0.0.9.
    await setup.codec.registerSchema(topics.blocklist, 'Block');
    t = setup;
    await produceBlock('192.0.2.0/24', block('192.0.2.0/24', 'documentation range'));
    await produceBlock('127.0.0.0/8', block('127.0.0.0/8', 'expired block', Date.now() - 1000));
    await produceBlock('127.0.0.9/32', block('127.0.0.9/32', 'known spammer'));
    t = await startTestIngress({ name: 'blocklist', topics });
  });
  after(async () => {
    await t.stop();
    await late?.stop();
  });

  it('reads the topic to its end before listening: a block written earlier applies to the first connection', async () => {
    const blocked = await greet(t.ingress.ports.MX!, '127.0.0.9');
    assert.equal(blocked.text, '554 5.7.1 Client address 127.0.0.9 is blocked: known spammer');
    await blocked.c.closed;
    const ok = await greet(t.ingress.ports.MX!, '127.0.0.1');
    assert.equal(ok.code, 220, 'the expired 127.0.0.0/8 block is ignored');
    ok.c.close();
    assert.equal(t.ingress.blocklist.size, 3);
  });

  it('follows updates: a new block refuses at connect with 554 5.7.1 and the reason; a tombstone lifts it', async () => {
    await produceBlock('127.0.0.10/31', block('127.0.0.10/31', 'abuse report #42'));
    await eventually(async () => {
      const r = await greet(t.ingress.ports.SUBMISSION!, '127.0.0.11');
      r.c.close();
      return r.text === '554 5.7.1 Client address 127.0.0.11 is blocked: abuse report #42' ? true : undefined;
    }, 15000, 'the block to apply');
    await produceBlock('127.0.0.10/31', null);
    await eventually(async () => {
      const r = await greet(t.ingress.ports.MX!, '127.0.0.11');
      r.c.close();
      return r.code === 220 ? true : undefined;
    }, 15000, 'the tombstone to lift the block');
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'CONNECT', code: '554', reason: 'blocklist' }) >= 2);
  });

  it('an empty blocklist topic means no blocks', async () => {
    late = await startTestIngress({ name: 'blocklist-empty' });
    assert.equal(late.ingress.blocklist.size, 0);
    const r = await greet(late.ingress.ports.MX!, '127.0.0.9');
    assert.equal(r.code, 220);
    r.c.close();
  });
});

describe('metrics and graceful shutdown', () => {
  it('exposes the ingress metrics', async () => {
    const t = await startTestIngress({ name: 'metrics' });
    try {
      const { c } = await greet(t.ingress.ports.MX!);
      await c.cmd('EHLO client.example.org');
      await c.cmd('MAIL FROM:<a@example.com>');
      await c.cmd('RCPT TO:<b@example.net>');
      const body = sampleMessage();
      assert.equal((await c.data(body)).code, 250);
      await c.cmd('QUIT');
      const text = await t.metrics.metrics();
      for (const name of ['scop_ingress_sessions_total', 'scop_ingress_sessions_active', 'scop_ingress_messages_accepted_total', 'scop_ingress_rejections_total', 'scop_ingress_accepted_bytes_total', 'scop_ingress_kafka_handoff_seconds_bucket', 'scop_ingress_tls_sessions_total', 'scop_ingress_blocklist_entries']) {
        assert.ok(text.includes(name), `${name} missing`);
      }
      assert.equal(await metricValue(t.metrics, 'scop_ingress_messages_accepted_total', { listener: 'MX' }), 1);
      assert.equal(await metricValue(t.metrics, 'scop_ingress_accepted_bytes_total', { listener: 'MX' }), Buffer.byteLength(body));
      assert.match(text, /scop_ingress_kafka_handoff_seconds_count\{outcome="acked"\} 1/);
    } finally {
      await t.stop();
    }
  });

  it('stop(): refuses new connections, closes idle sessions with 421, lets a DATA in progress finish with 250, then exits', async () => {
    const t = await startTestIngress({ name: 'shutdown' });
    const port = t.ingress.ports.MX!;
    const idle = await greet(port);
    await idle.c.cmd('EHLO idle.example.org');
    const busy = await greet(port);
    await busy.c.cmd('EHLO busy.example.org');
    await busy.c.cmd('MAIL FROM:<a@example.com>');
    await busy.c.cmd('RCPT TO:<b@example.net>');
    assert.equal((await busy.c.cmd('DATA')).code, 354);
    const body = sampleMessage({ subject: 'in flight during shutdown' });
    busy.c.write(body.slice(0, 40));

    let stopped = false;
    const stopping = t.stop().then(() => { stopped = true; });
    assert.match((await idle.c.reply()).text, /^421 4\.3\.2 /);
    await assert.rejects(SmtpClient.connect(port), /ECONNREFUSED/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stopped, false, 'stop waits for the transaction');
    busy.c.write(`${body.slice(40)}.\r\n`);
    const reply = await busy.c.reply();
    assert.equal(reply.code, 250, reply.text);
    await stopping;
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.length >= 1);
    assert.equal(recs[0]!.envelope.id, recordIdOf(reply));
    busy.c.close();
  });
});


