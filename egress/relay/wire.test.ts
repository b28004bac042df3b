/**
 * What outbound mail puts on the wire, against the SMTP smuggling list
 * (../shared/testdata/smtp-smuggling/eod-sequences.json, every set): a message carrying a
 * sequence with a bare CR, bare LF or NUL is refused before sending (UndeliverableMessage → dead
 * letter); a valid CRLF message whose body holds `CRLF . CRLF` or lines starting with a dot is
 * dot-stuffed. The emitted DATA bytes are read off the socket by a raw server (WireCapture). And as
 * a second line of defence, the same sequences pushed straight through the SMTP client never leave
 * it as bare CR/LF or as an early end of data.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { WireCapture } from './testing.ts';
import { smtpSend } from './transport.ts';
import { lineEndingProblem, outboundWire, UndeliverableMessage } from './wire.ts';
import { headerValue } from './headers.ts';
import { skipWithoutTestdata, testdataPath } from '../../runtime/testdata.ts';

interface Seq { escaped: string; hex: string }
interface EodFile { canonical: Seq; sets: { name: string; sequences: Seq[] }[]; message_template: { data_body: string } }
// The list is read in place (runtime/testdata.ts); the tests that need it skip when it is absent.
const SKIP = { skip: skipWithoutTestdata('smtp-smuggling') };
const data: EodFile = SKIP.skip
  ? { canonical: { escaped: '', hex: '' }, sets: [], message_template: { data_body: '' } }
  : JSON.parse(readFileSync(testdataPath('smtp-smuggling', 'eod-sequences.json'), 'utf8')) as EodFile;
const outboundSet = data.sets.find((s) => s.name === 'outbound_eod_sequences')?.sequences ?? [];
// Deduplicated by bytes; smtpsmug's "pipelining" entry is a note, not a sequence.
const allSequences = [...new Map(data.sets.flatMap((s) => s.sequences).filter((s) => s.hex).map((s) => [s.hex, s])).values()];

const probe = (seq: Seq) => {
  const [pre, post] = data.message_template.data_body.replaceAll('<SEQ_TEXT>', seq.escaped).split('<SEQ>');
  return Buffer.concat([Buffer.from(pre!, 'latin1'), Buffer.from(seq.hex, 'hex'), Buffer.from(post!, 'latin1')]);
};
const signed = (raw: Buffer): MailRecord => ({
  ...testMailRecord(raw, { mailFrom: 'test@example.test', rcptTo: ['victim@example.test'], listener: 'SUBMISSION' }),
  dkimSign: { stageVersion: '1', signedAt: 0, headers: 'DKIM-Signature: v=1; a=ed25519-sha256; d=example.test; s=e1;\r\n\tb=xyz\r\n', fromDomain: 'example.test', authUser: 'test', signatures: [] },
});

const wire = new WireCapture();
before(() => wire.start());
after(() => wire.stop());

const send = (message: Buffer) => smtpSend(
  { host: '127.0.0.1', port: wire.port, name: 'egress.test', starttls: 'off', tls: {}, timeoutMs: 5000 },
  { from: 'test@example.test', recipients: ['victim@example.test'], use8BitMime: true }, message);

/** No CR without LF after it, no LF without CR before it. */
const bareProblem = (b: Buffer) => lineEndingProblem(b.subarray(0, b.length)) ?? '';

test(`the outbound set (${outboundSet.length} sequences) and every other non-canonical sequence: refused before sending`, SKIP, () => {
  assert.equal(outboundSet.length, 9);
  for (const seq of allSequences) {
    const record = signed(probe(seq));
    assert.throws(() => outboundWire(record, { hostname: 'egress.test' }), (e: Error) => e instanceof UndeliverableMessage && /bare CR|bare LF|NUL/.test(e.message), `refused: ${seq.escaped}`);
  }
  const noSig = { ...signed(Buffer.from('Subject: x\r\n\r\nhi\r\n')), dkimSign: null };
  assert.throws(() => outboundWire(noSig, { hostname: 'egress.test' }), /without a dkimSign section/);
});

test('the canonical end of data inside a message is dot-stuffed; one transaction; wire = Received + signatures + raw', SKIP, async () => {
  const raw = Buffer.concat([probe(data.canonical), Buffer.from('.leading dot line\r\n..two dots\r\n.\r\n', 'latin1')]);
  const record = signed(raw);
  const message = outboundWire(record, { hostname: 'egress.test', now: Date.UTC(2024, 0, 1) });
  assert.equal(message.toString('latin1'), `Received: by egress.test (scop egress) with ESMTP id ${record.envelope.id};\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n${record.dkimSign!.headers}${raw.toString('latin1')}`);
  const before = wire.transactions.length;
  const r = await send(message);
  assert.deepEqual(r.outcomes.map((o) => o.kind), ['delivered']);
  assert.equal(wire.transactions.length, before + 1, 'exactly one transaction');
  const sent = wire.transactions.at(-1)!;
  assert.equal(bareProblem(sent), '', 'no bare CR or LF on the wire');
  // Un-stuffing what was emitted gives back the message exactly.
  const body = sent.subarray(0, sent.length - 3).toString('latin1'); // without the final ".\r\n"
  assert.equal(body.split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n'), message.toString('latin1'));
  assert.ok(sent.toString('latin1').includes('\r\n..\r\n\r\nmail FROM:<smuggled@example.test>'), 'the lone dot was stuffed');
  assert.ok(sent.toString('latin1').includes('\r\n..leading dot line\r\n...two dots\r\n..\r\n.\r\n'));
  assert.equal(wire.commands.filter((c) => /^mail from/i.test(c)).length, before + 1, 'one MAIL FROM per transaction, none smuggled');
  assert.ok(!wire.commands.some((c) => /smuggled/i.test(c)));
});

test('second line of defence: each sequence pushed straight through the SMTP client leaves as CRLF only, one transaction', SKIP, async () => {
  for (const seq of allSequences) {
    const before = wire.transactions.length;
    const r = await send(probe(seq));
    assert.deepEqual(r.outcomes.map((o) => o.kind), ['delivered'], seq.escaped);
    assert.equal(wire.transactions.length, before + 1, `one transaction for ${seq.escaped}`);
    const sent = wire.transactions.at(-1)!;
    assert.equal(bareProblem(sent.subarray(0, sent.length).filter((b) => b !== 0) as Buffer), '', `no bare CR/LF for ${seq.escaped}`);
    // No line of the emitted data is a lone "." before the real end.
    const lines = sent.toString('latin1').split('\r\n');
    assert.equal(lines.indexOf('.'), lines.length - 2, `no early end of data for ${seq.escaped}`);
  }
  assert.ok(!wire.commands.some((c) => /smuggled/i.test(c)), 'no smuggled MAIL FROM ever reached the server as a command');
});

test('header values we write: a NUL or line break in the input never becomes a line end; our folds stay CRLF + WSP', () => {
  assert.equal(headerValue('for <a\u0000b@x>'), 'for <ab@x>');
  assert.equal(headerValue('x\r\nBcc: evil@x'), 'x Bcc: evil@x');
  assert.equal(headerValue('Received: by h;\r\n\tdate'), 'Received: by h;\r\n\tdate');
  assert.equal(lineEndingProblem(Buffer.from('a\r\nb\nc\0')), 'bare LF at byte 4');
  assert.equal(lineEndingProblem(Buffer.from('a\0\rb\n')), 'NUL at byte 1');
});
