/**
 * INGRESS_MAX_HEADER_BYTES: the header section (up to the first empty line; the whole message when
 * there is none) is counted while DATA streams in; past the limit the message gets 552 5.3.4 and
 * nothing reaches Kafka. The counting itself (line-endings.ts) is checked at every chunk split.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LineEndingScanner } from './line-endings.ts';
import { metricValue, readRecords, recordIdOf, SmtpClient, startTestIngress, type TestIngress } from './testkit.ts';

/** A message whose header section is exactly `headerBytes` long (CRLFs included, the empty line not); no empty line and no body when `body` is null. */
function messageWithHeader(headerBytes: number, marker: string, body: string | null = 'Hello.\r\n'): Buffer {
  const lines = ['From: alice@example.com', 'To: bob@example.net', `Subject: ${marker}`, `Message-ID: <${marker}@example.com>`];
  let left = headerBytes - lines.reduce((n, l) => n + l.length + 2, 0);
  assert.ok(left >= 64, 'room for at least one filler field');
  for (let i = 0; left >= 128; i++, left -= 64) lines.push(`X-Filler-${String(i).padStart(6, '0')}: ${'x'.repeat(64 - 2 - 17)}`);
  lines.push(`X-Filler-last: ${'y'.repeat(left - 2 - 15)}`);
  const header = lines.map((l) => `${l}\r\n`).join('');
  assert.equal(header.length, headerBytes);
  return Buffer.from(body === null ? header : `${header}\r\n${body}`, 'latin1');
}

function scan(chunks: Buffer[], max: number): LineEndingScanner {
  const s = new LineEndingScanner(max);
  for (const c of chunks) s.push(c);
  s.finish();
  return s;
}

describe('header section counting (line-endings.ts)', () => {
  it('counts up to the first empty line, at every split point and byte by byte', () => {
    const msg = messageWithHeader(300, 'split', 'body line\r\n\r\nmore body after an empty line\r\n');
    const byteByByte = [...msg].map((b) => Buffer.from([b]));
    for (const [max, tooLarge] of [[300, false], [299, true]] as const) {
      for (let i = 0; i <= msg.length; i++) {
        const s = scan([msg.subarray(0, i), msg.subarray(i)], max);
        assert.equal(s.problem, undefined);
        assert.equal(s.headerBytes, 300, `split at ${i}`);
        assert.equal(s.headerTooLarge, tooLarge, `max ${max}, split at ${i}`);
      }
      const s = scan(byteByByte, max);
      assert.deepEqual([s.headerBytes, s.headerTooLarge], [300, tooLarge], 'byte by byte');
      // Three chunks around the empty line: ...\r | \n\r | \n...
      const three = scan([msg.subarray(0, 299), msg.subarray(299, 301), msg.subarray(301)], max);
      assert.deepEqual([three.headerBytes, three.headerTooLarge], [300, tooLarge]);
    }
  });

  it('knows a header section is too large before its end, and ignores the body', () => {
    const msg = messageWithHeader(4096, 'early');
    const s = new LineEndingScanner(1024);
    s.push(msg.subarray(0, 1025));
    assert.equal(s.headerTooLarge, true, 'known after 1025 bytes of header');
    const bigBody = Buffer.concat([messageWithHeader(256, 'body'), Buffer.from('a line of body text\r\n'.repeat(10_000))]);
    assert.equal(scan([bigBody], 1024).headerTooLarge, false);
    assert.equal(scan([bigBody], 1024).headerBytes, 256);
  });

  it('a message without an empty line is all header; an empty header section is 0 bytes', () => {
    const noBody = messageWithHeader(300, 'nobody', null);
    assert.deepEqual([scan([noBody], 300).headerBytes, scan([noBody], 300).headerTooLarge], [300, false]);
    assert.equal(scan([noBody], 299).headerTooLarge, true);
    for (let i = 0; i <= noBody.length; i++) assert.equal(scan([noBody.subarray(0, i), noBody.subarray(i)], 299).headerTooLarge, true, `split at ${i}`);
    const empty = scan([Buffer.from('\r\nbody\r\n')], 1024);
    assert.deepEqual([empty.headerBytes, empty.headerTooLarge], [0, false]);
  });

  it('without a limit it only checks line endings, as before', () => {
    const s = scan([messageWithHeader(100_000, 'unbounded')], Infinity);
    assert.deepEqual([s.problem, s.headerBytes, s.headerTooLarge], [undefined, 100_000, false]);
    assert.equal(scan([Buffer.from('From: a\r\nTo: b\n\r\n')], 1024).problem, 'bare-lf');
  });
});

describe('INGRESS_MAX_HEADER_BYTES at the ingress (real smtp-server and Kafka)', () => {
  const LIMIT = 8192;
  let t: TestIngress;
  before(async () => {
    t = await startTestIngress({ name: 'header-limit', env: { INGRESS_MAX_HEADER_BYTES: String(LIMIT) } });
  });
  after(async () => { await t.stop(); });

  async function session(): Promise<SmtpClient> {
    const c = await SmtpClient.connect(t.ingress.ports.MX!);
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.cmd('EHLO client.example.org')).code, 250);
    return c;
  }

  async function envelope(c: SmtpClient): Promise<void> {
    assert.equal((await c.cmd('MAIL FROM:<alice@example.com>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<bob@example.net>')).code, 250);
  }

  /** DATA, then the message in writes of 1..13 bytes, each awaited, so the ingress sees many small chunks. */
  async function trickle(c: SmtpClient, msg: Buffer): Promise<string> {
    assert.equal((await c.cmd('DATA')).code, 354);
    for (let at = 0, n = 1; at < msg.length; at += n, n = (n % 13) + 1) {
      c.write(msg.subarray(at, at + n));
      if (at % 512 < n) await new Promise((r) => setTimeout(r, 1));
      else await new Promise((r) => setImmediate(r));
    }
    c.write('.\r\n');
    return (await c.reply(30000)).text;
  }

  it('just under the limit is accepted and stored unchanged; just over gets 552 5.3.4 and the session goes on; nothing over reaches Kafka', async () => {
    const rejectedBefore = await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'DATA', code: '552', reason: 'header-size' });
    const atLimit = messageWithHeader(LIMIT, 'at-limit');
    const over = messageWithHeader(LIMIT + 1, 'over-limit');
    const allHeader = messageWithHeader(LIMIT + 1, 'all-header', null);
    const after = messageWithHeader(512, 'after-refusal');
    const c = await session();

    await envelope(c);
    const ok = await c.data(atLimit);
    assert.equal(ok.code, 250, ok.text);

    await envelope(c);
    const refused = await c.data(over);
    assert.equal(refused.text, `552 5.3.4 Message header section too large (limit ${LIMIT} bytes)`);

    await envelope(c);
    assert.equal((await c.data(allHeader)).code, 552, 'no empty line: the whole message is header');

    await envelope(c);
    const next = await c.data(after);
    assert.equal(next.code, 250, `the session is still usable: ${next.text}`);
    c.close();

    const ids = [recordIdOf(ok)!, recordIdOf(next)!];
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => ids.every((id) => r.some((x) => x.envelope.id === id)), { settleMs: 1500 });
    const stored = (id: string) => {
      const e = recs.find((x) => x.envelope.id === id)!.envelope;
      return e.raw.subarray(e.traceLength);
    };
    assert.ok(stored(ids[0]!).equals(atLimit), 'the message at the limit is stored byte for byte');
    assert.ok(stored(ids[1]!).equals(after));
    assert.equal(recs.length, 2, 'the refused messages were not written');
    assert.ok(!recs.some((r) => /over-limit|all-header/.test(r.envelope.raw.toString('latin1'))));
    assert.equal(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'DATA', code: '552', reason: 'header-size' }) - rejectedBefore, 2);
  });

  it('counts a header section sent in many small TCP writes correctly', async () => {
    const c = await session();
    await envelope(c);
    assert.match(await trickle(c, messageWithHeader(LIMIT + 1, 'trickled-over')), /^552 5\.3\.4 Message header section too large/);
    await envelope(c);
    const ok = await trickle(c, messageWithHeader(LIMIT, 'trickled-at-limit'));
    assert.match(ok, /^250 /, ok);
    c.close();
    const id = recordIdOf(ok)!;
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.id === id), { settleMs: 1000 });
    assert.ok(!recs.some((r) => r.envelope.raw.includes('trickled-over')), 'the refused message was not written');
  });
});
