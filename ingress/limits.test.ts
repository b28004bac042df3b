/**
 * Abuse limits, the blocklist topic, metrics and graceful shutdown.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../runtime/testing.ts';
import type { Block } from '../schemas/types.ts';
import { metricValue, readRecords, recordIdOf, sampleMessage, SmtpClient, startTestIngress, type TestIngress } from './testkit.ts';

async function greet(port: number, localAddress = '127.0.0.1'): Promise<{ c: SmtpClient; text: string; code: number }> {
  const c = await SmtpClient.connect(port, { localAddress });
  const r = await c.reply();
  return { c, text: r.text, code: r.code };
}

describe('abuse limits', () => {
  let t: TestIngress;
  before(async () => {
    t = await startTestIngress({ name: 'limits', env: { INGRESS_MAX_CONNECTIONS_PER_IP: '2', INGRESS_MAX_SESSIONS: '3', INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE: '3' } });
  });
  after(async () => { await t.stop(); });

  it('limits connections per client address (421 4.7.0) and sessions overall (421 4.3.2)', async () => {
    const port = t.ingress.ports.MX!;
    const a = await greet(port);
    const b = await greet(port);
    assert.equal(a.code, 220);
    assert.equal(b.code, 220);
    const third = await greet(port);
    assert.match(third.text, /^421 4\.7\.0 Too many connections from 127\.0\.0\.1/);
    await third.c.closed;
    const other = await greet(port, '127.0.0.2');
    assert.equal(other.code, 220, 'another address still gets in');
    const full = await greet(t.ingress.ports.SUBMISSION!, '127.0.0.3');
    assert.match(full.text, /^421 4\.3\.2 Too many sessions/, 'the session limit spans all listeners');
    a.c.close();
    await a.c.closed;
    await eventually(async () => {
      const again = await greet(port);
      again.c.close();
      return again.code === 220 ? true : undefined;
    }, 5000, 'a free slot after a session ended');
    for (const x of [b, other]) x.c.close();
    assert.equal(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'CONNECT', code: '421', reason: 'connections-per-ip' }), 1);
    assert.equal(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'CONNECT', code: '421', reason: 'max-sessions' }), 1);
  });

  it('limits messages per client address per minute (450 4.7.1)', async () => {
    const { c } = await greet(t.ingress.ports.MX!, '127.0.0.4');
    await c.cmd('EHLO client.example.org');
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.cmd('MAIL FROM:<a@example.com>')).code, 250);
      assert.equal((await c.cmd('RSET')).code, 250);
    }
    assert.match((await c.cmd('MAIL FROM:<a@example.com>')).text, /^450 4\.7\.1 Too many messages from 127\.0\.0\.4/);
    c.close();
    const { c: d } = await greet(t.ingress.ports.MX!, '127.0.0.5');
    await d.cmd('EHLO client.example.org');
    assert.equal((await d.cmd('MAIL FROM:<a@example.com>')).code, 250, 'other addresses are not affected');
    d.close();
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


