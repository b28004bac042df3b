/**
 * A message with a 20 MiB attachment (27 MiB once base64-encoded, so SIZE is raised to 32 MiB
 * here; the default stays 25 MiB) goes through swaks and a raw socket and arrives in Kafka intact.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readRecords, recordIdOf, SmtpClient, startTestIngress, swaks, type TestIngress } from './testkit.ts';

let t: TestIngress;
const attachment = randomBytes(20 * 1024 * 1024);
const boundary = 'scop-boundary-4f1c';
const message = Buffer.from(
  [
    'From: alice@example.com',
    'To: bob@example.net',
    'Subject: 20 MiB attachment',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'See attachment.',
    '.a line starting with a dot',
    `--${boundary}`,
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="blob.bin"',
    '',
    ...(attachment.toString('base64').match(/.{1,76}/g) ?? []),
    `--${boundary}--`,
    '',
  ].join('\r\n'),
);

function attachmentOf(stored: Buffer): Buffer {
  const text = stored.toString('latin1');
  const start = text.indexOf('filename="blob.bin"\r\n\r\n') + 'filename="blob.bin"\r\n\r\n'.length;
  const end = text.indexOf(`\r\n--${boundary}--`);
  return Buffer.from(text.slice(start, end).replace(/\r\n/g, ''), 'base64');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  t = await startTestIngress({ name: 'large', env: { INGRESS_MAX_MESSAGE_BYTES: String(32 * 1024 * 1024), INGRESS_KAFKA_DEADLINE_MS: '30000' } });
});
after(async () => { await t.stop(); });

describe('large messages', () => {
  it('a 20 MiB attachment sent with swaks arrives intact in Kafka', async () => {
    const file = join(t.dataDir, 'large.eml');
    writeFileSync(file, message);
    const res = await swaks(['--server', `127.0.0.1:${t.ingress.ports.MX}`, '--ehlo', 'client.example.org', '--from', 'alice@example.com', '--to', 'bob@example.net', '--data', `@${file}`, '--suppress-data'], 120000);
    assert.equal(res.code, 0, res.out.slice(-2000));
    assert.ok(res.recordId, res.out.slice(-2000));
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.id === res.recordId), { timeoutMs: 60000 });
    const e = recs.find((x) => x.envelope.id === res.recordId)!.envelope;
    const stored = e.raw.subarray(e.traceLength);
    // swaks ends the DATA with one CRLF of its own before the terminator.
    assert.ok(stored.equals(message) || stored.equals(Buffer.concat([message, Buffer.from('\r\n')])), `stored ${stored.length} bytes, sent ${message.length}`);
    assert.equal(sha(attachmentOf(stored)), sha(attachment));
    assert.equal(e.messageSha256, sha(stored));
  });

  it('the same message over a raw socket is stored byte for byte (dot-stuffing undone)', async () => {
    const c = await SmtpClient.connect(t.ingress.ports.MX!);
    await c.reply();
    await c.cmd('EHLO client.example.org');
    assert.equal((await c.cmd(`MAIL FROM:<alice@example.com> SIZE=${message.length}`)).code, 250);
    await c.cmd('RCPT TO:<bob@example.net>');
    const stuffed = Buffer.from(message.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
    const reply = await c.data(stuffed, 60000);
    assert.equal(reply.code, 250, reply.text);
    const id = recordIdOf(reply)!;
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.id === id), { timeoutMs: 60000 });
    const e = recs.find((x) => x.envelope.id === id)!.envelope;
    assert.ok(e.raw.subarray(e.traceLength).equals(message), 'byte-for-byte equal after removing the trace header');
    assert.equal(e.size, message.length);
    c.close();
  });
});
