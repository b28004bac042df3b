/**
 * SMTP smuggling: every end-of-DATA sequence of ../shared/testdata/smtp-smuggling/ is sent inside
 * the probe message (in one write, and byte by byte), on the MX and on the submission listener.
 * Only <CRLF>.<CRLF> may end DATA; a message carrying a bare CR, bare LF or NUL is refused with
 * 554 5.6.0; no second transaction may ever run, and Kafka must hold no message from smuggled@.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { addUser } from './users.ts';
import { skipWithoutTestdata, testdataPath } from '../runtime/testdata.ts';
import { readRecords, SmtpClient, startTestIngress, type SmtpReply, type TestIngress } from './testkit.ts';

interface Seq { escaped?: string; hex?: string; id?: string }
interface EodFile { sets: { name: string; sequences: Seq[] }[]; message_template: { data_body: string }; canonical: { hex: string } }

// The list is read in place (runtime/testdata.ts); the suite that needs it skips when it is absent.
const SKIP = skipWithoutTestdata('smtp-smuggling');
const FILE = SKIP ? '' : testdataPath('smtp-smuggling', 'eod-sequences.json');
const eod: EodFile = SKIP ? { sets: [], message_template: { data_body: '' }, canonical: { hex: '' } } : JSON.parse(readFileSync(FILE, 'utf8')) as EodFile;
const CANONICAL = Buffer.from(eod.canonical.hex, 'hex');

// Every listed sequence, deduplicated by bytes, keeping the names it is listed under.
const sequences = new Map<string, { bytes: Buffer; text: string; names: string[] }>();
for (const set of eod.sets) {
  for (const s of set.sequences) {
    if (!s.hex) continue; // the "pipelining" entry is a scenario, tested below
    const entry = sequences.get(s.hex) ?? { bytes: Buffer.from(s.hex, 'hex'), text: s.escaped ?? s.hex, names: [] };
    entry.names.push(`${set.name}:${s.id ?? s.escaped}`);
    sequences.set(s.hex, entry);
  }
}

function probe(seq: Buffer, text: string): Buffer {
  const [head, tail] = eod.message_template.data_body.replaceAll('<SEQ_TEXT>', text).split('<SEQ>') as [string, string];
  return Buffer.concat([Buffer.from(head, 'latin1'), seq, Buffer.from(tail, 'latin1')]);
}

let t: TestIngress;
const USER = 'smuggler@example.test';
const PASS = 'smuggling is bad';

before(async () => {
  t = await startTestIngress({ name: 'smuggle', env: { INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: '10000', INGRESS_MAX_SESSIONS_PER_PREFIX: '100' } });
  await addUser(t.config.usersFile, USER, PASS);
});
after(async () => { await t.stop(); });

async function openTransaction(listener: 'MX' | 'SUBMISSION'): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.ingress.ports[listener]!);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.cmd('EHLO probe.example.test')).code, 250);
  if (listener === 'SUBMISSION') {
    assert.equal((await c.starttls()).code, 220);
    assert.equal((await c.cmd('EHLO probe.example.test')).code, 250);
    assert.equal((await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')}`)).code, 235);
  }
  assert.equal((await c.cmd('MAIL FROM:<test@example.test>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<victim@example.test>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  return c;
}

async function send(c: SmtpClient, bytes: Buffer, bytewise: boolean): Promise<void> {
  if (!bytewise) return c.write(bytes);
  for (const b of bytes) {
    c.write(Buffer.from([b]));
    await new Promise((r) => setImmediate(r));
  }
}

/** Collects every reply until the server goes quiet (or closes). */
async function drain(c: SmtpClient, quietMs = 300): Promise<SmtpReply[]> {
  const out: SmtpReply[] = [];
  for (;;) {
    try {
      out.push(await c.reply(out.length === 0 ? 15000 : quietMs));
    } catch {
      return out;
    }
  }
}

const expectedStored = { MX: 0, SUBMISSION: 0 };

describe('SMTP smuggling: every end-of-DATA sequence of the shared list', { skip: SKIP }, () => {
  it(`lists ${sequences.size} distinct sequences`, () => {
    assert.ok(sequences.size >= 16, `only ${sequences.size} sequences found in ${FILE}`);
  });

  for (const listener of ['MX', 'SUBMISSION'] as const) {
    for (const mode of ['one write', 'byte by byte'] as const) {
      it(`${listener}, ${mode}: no sequence ends DATA early or starts a second transaction`, async () => {
        for (const { bytes, text, names } of sequences.values()) {
          const c = await openTransaction(listener);
          await send(c, probe(bytes, text), mode === 'byte by byte');
          const replies = await drain(c);
          const what = `${text} (${names.join(', ')}): replies ${JSON.stringify(replies.map((r) => r.text))}`;
          if (bytes.includes(CANONICAL)) {
            // e.g. "\r\n.\r\n\0" or "\0\r\n.\r\n": the canonical end really is there, so DATA
            // ends (the message is stored, or refused for its NUL); the NUL or empty line that
            // follows ends the session before the pipelined "MAIL FROM:<smuggled@…>" can run.
            assert.ok(replies[0] && [250, 554].includes(replies[0].code), what);
            assert.match(replies[1]?.text ?? '', /^500 5\.5\.2 /, what);
            assert.equal(replies.length, 2, what);
            await c.closed;
            if (replies[0].code === 250) expectedStored[listener]++;
          } else {
            assert.equal(replies.length, 1, what);
            assert.match(replies[0]!.text, /^554 5\.6\.0 Message refused: (bare <CR>|bare <LF>|NUL byte)/, what);
            // The session goes on normally: the smuggled commands were data, not commands.
            assert.equal((await c.cmd('RSET')).code, 250, what);
            assert.equal((await c.cmd('QUIT')).code, 221, what);
          }
          c.close();
        }
      });
    }
  }
});

describe('SMTP smuggling: pipelining', () => {
  for (const greeting of ['EHLO', 'HELO'] as const) {
    it(`pipelining after ${greeting}: a second transaction sent behind <CRLF>.<CRLF> in the same write is a separate message`, async () => {
      const c = await SmtpClient.connect(t.ingress.ports.MX!);
      await c.reply();
      assert.equal((await c.cmd(`${greeting} probe.example.test`)).code, 250);
      const first = 'Subject: first\r\n\r\nfirst body\r\n';
      const second = 'Subject: second\r\n\r\nsecond body\r\n';
      c.write(
        `MAIL FROM:<pipelined@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n${first}.\r\n` +
        `MAIL FROM:<pipelined2@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n${second}.\r\nQUIT\r\n`,
      );
      const replies = await drain(c);
      assert.deepEqual(replies.map((r) => r.code), [250, 250, 354, 250, 250, 250, 354, 250, 221], JSON.stringify(replies.map((r) => r.text)));
      const ids = replies.filter((r) => r.text.includes('queued as')).map((r) => /queued as (\S+)/.exec(r.text)![1]!);
      const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => ids.every((id) => r.some((x) => x.envelope.id === id)));
      const [a, b] = ids.map((id) => recs.find((x) => x.envelope.id === id)!.envelope);
      assert.equal(a!.raw.subarray(a!.traceLength).toString(), first);
      assert.equal(b!.raw.subarray(b!.traceLength).toString(), second);
      expectedStored.MX += 2;
    });
  }

  it('Kafka holds no smuggled message, and only the messages answered 250', async () => {
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.length >= expectedStored.MX, { settleMs: 1500 });
    const outbound = await readRecords(t.kafka, t.codec, t.topics.outbound, (r) => r.length >= expectedStored.SUBMISSION, { settleMs: 500 });
    for (const r of [...recs, ...outbound]) {
      assert.notEqual(r.envelope.mailFrom, 'smuggled@example.test');
      assert.ok(!r.envelope.raw.includes('SMUGGLING WORKS'), 'no stored message carries the smuggled text');
      assert.ok(!r.envelope.raw.subarray(r.envelope.traceLength).includes('\r\n.\r\n'), 'no stored message contains an end-of-data');
    }
    assert.equal(recs.length, expectedStored.MX);
    assert.equal(outbound.length, expectedStored.SUBMISSION);
    // The probe comes from the shared list; without it only the pipelining messages were sent.
    if (!SKIP) assert.ok(expectedStored.SUBMISSION >= 2, 'the "\\r\\n.\\r\\n\\0" probe ran on submission in both write modes');
  });
});
