/**
 * The ingress speaking SMTP: swaks (a real client) and raw sockets against MX, submission and
 * implicit-TLS submission; every accepted message is checked in Kafka.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { addUser } from './users.ts';
import { metricValue, readRecords, sampleMessage, SmtpClient, startTestIngress, submissionClient, swaks, type TestIngress } from './testkit.ts';
import type { MailRecord } from '../schemas/types.ts';

let t: TestIngress;
let mx: number;
let sub: number;
let subs: number;

before(async () => {
  t = await startTestIngress({ name: 'smtp', env: { INGRESS_MAX_RECIPIENTS: '3', INGRESS_MAX_MESSAGE_BYTES: '200000' } });
  await addUser(t.config.usersFile, 'alice@example.com', 'correct horse battery');
  mx = t.ingress.ports.MX!;
  sub = t.ingress.ports.SUBMISSION!;
  subs = t.ingress.ports.SUBMISSIONS!;
});
after(async () => { await t.stop(); });

async function recordById(topic: string, id: string): Promise<MailRecord> {
  const recs = await readRecords(t.kafka, t.codec, topic, (r) => r.some((x) => x.envelope.id === id));
  return recs.find((x) => x.envelope.id === id)!;
}

async function session(port = mx, helo = 'client.example.org'): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.cmd(`EHLO ${helo}`)).code, 250);
  return c;
}

describe('MX listener', () => {
  it('greets, advertises the ESMTP extensions and no AUTH', async () => {
    const c = await SmtpClient.connect(mx);
    const greeting = await c.reply();
    assert.match(greeting.text, /^220 mx\.test\.scop ESMTP/);
    const ehlo = await c.cmd('EHLO client.example.org');
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'SIZE 200000']) assert.ok(ehlo.lines.some((l) => l.slice(4) === ext), `EHLO lacks ${ext}: ${ehlo.text}`);
    assert.ok(!ehlo.text.includes('AUTH'), 'MX must not offer AUTH');
    assert.match((await c.cmd('AUTH PLAIN AGFsaWNlAHNlY3JldA==')).text, /^50[02] /);
    c.close();
  });

  it('accepts a message from swaks, answers 250 with the record id, and the record holds the exact bytes plus a Received header', async () => {
    const body = sampleMessage({ subject: 'swaks plain', body: '.leading dot line\r\n..two dots\r\nend' });
    const res = await swaksWithData(body, ['--from', 'alice@example.com', '--to', 'bob@example.net']);
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, /250 2\.6\.0 Ok: queued as [0-9a-f-]{36}/);
    const rec = await recordById(t.topics.inbound, res.recordId!);
    const e = rec.envelope;
    assert.equal(e.listener, 'MX');
    assert.equal(e.mailFrom, 'alice@example.com');
    assert.deepEqual(e.rcptTo, ['bob@example.net']);
    assert.equal(e.helo, 'client.example.org');
    assert.equal(e.clientIp, '127.0.0.1');
    assert.equal(e.tls, null);
    assert.equal(e.authUser, null);
    const trace = e.raw.subarray(0, e.traceLength).toString('utf8');
    assert.match(trace, new RegExp(`^Received: from client\\.example\\.org \\(unknown \\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby mx\\.test\\.scop \\(scop\\) with ESMTP id ${e.id}\\r\\n\\tfor <bob@example\\.net>;\\r\\n\\t\\w{3}, \\d{1,2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000\\r\\n$`));
    // swaks dot-stuffs and the ingress un-stuffs (swaks adds a final CRLF of its own).
    assert.ok(e.raw.subarray(e.traceLength).toString('utf8').startsWith(body));
    assert.equal(e.size, e.raw.length - e.traceLength);
  });

  it('stores exactly the bytes sent after DATA (un-stuffed), 8-bit included', async () => {
    const c = await session();
    await c.cmd('MAIL FROM:<a@example.com> BODY=8BITMIME');
    await c.cmd('RCPT TO:<b@example.net>');
    const message = Buffer.concat([
      Buffer.from(sampleMessage({ subject: 'exact' }).replace('Hello.', '.dot\r\n..\r\n.\tx\r\nlast')),
      Buffer.from([0xc3, 0xa9, 0xff, 0x80, 0x0d, 0x0a]),
    ]);
    const stuffed = Buffer.from(message.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
    const reply = await c.data(stuffed);
    assert.equal(reply.code, 250, reply.text);
    const e = (await recordById(t.topics.inbound, /queued as (\S+)/.exec(reply.text)![1]!)).envelope;
    assert.ok(e.raw.subarray(e.traceLength).equals(message), 'byte-for-byte equal');
    c.close();
  });

  it('records STARTTLS (swaks --tls): TLS details in the envelope and ESMTPS in Received', async () => {
    const before = await metricValue(t.metrics, 'scop_ingress_tls_sessions_total', { listener: 'MX' });
    const res = await swaks(['--server', `127.0.0.1:${mx}`, '--ehlo', 'client.example.org', '--from', 'a@example.com', '--to', 'b@example.net', '--tls']);
    assert.equal(res.code, 0, res.out);
    const e = (await recordById(t.topics.inbound, res.recordId!)).envelope;
    assert.ok(e.tls, 'envelope.tls is set');
    assert.match(e.tls.protocol, /^TLSv1\.[23]$/);
    assert.equal(e.tls.implicit, false);
    assert.match(e.raw.subarray(0, e.traceLength).toString(), /\(using TLSv1\.[23] with cipher \S+\)\r\n\tby mx\.test\.scop \(scop\) with ESMTPS id /);
    assert.equal(await metricValue(t.metrics, 'scop_ingress_tls_sessions_total', { listener: 'MX' }), before + 1);
  });

  it('checks HELO, MAIL and RCPT syntax', async () => {
    const c = await SmtpClient.connect(mx);
    await c.reply();
    assert.equal((await c.cmd('EHLO')).code, 501);
    assert.equal((await c.cmd('MAIL FROM:<a@example.com>')).code, 503, 'MAIL before EHLO');
    assert.equal((await c.cmd('EHLO bad_(host)')).code, 250, 'smtp-server accepts the argument…');
    assert.match((await c.cmd('MAIL FROM:<a@example.com>')).text, /^501 5\.5\.2 The HELO\/EHLO argument/, '…the ingress refuses the transaction');
    assert.equal((await c.cmd('EHLO [127.0.0.1]')).code, 250);
    assert.equal((await c.cmd('MAIL FROM:a@example.com')).code, 501, 'path without brackets');
    assert.equal((await c.cmd('MAIL FROM:<a@@example.com>')).code, 501);
    assert.equal((await c.cmd('RCPT TO:<b@example.net>')).code, 503, 'RCPT before MAIL');
    assert.equal((await c.cmd('MAIL FROM:<>')).code, 250, 'null reverse-path is valid');
    assert.equal((await c.cmd('RCPT TO:<>')).code, 501);
    assert.equal((await c.cmd('RCPT TO:<b@exa mple.net>')).code, 501);
    assert.match((await c.cmd('RCPT TO:<björn@example.net>')).text, /^553 5\.6\.7 /, 'non-ASCII without SMTPUTF8');
    assert.equal((await c.cmd('RCPT TO:<postmaster>')).code, 250, 'domainless postmaster (RFC 5321 4.1.1.3)');
    c.close();
  });

  it('takes SMTPUTF8 and BODY=8BITMIME and records them', async () => {
    const c = await session();
    assert.equal((await c.cmd('MAIL FROM:<jörg@exämple.com> SMTPUTF8 BODY=8BITMIME')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<zoë@example.net>')).code, 250);
    const reply = await c.data(sampleMessage({ subject: 'ünïcödé', body: 'Grüße' }));
    assert.equal(reply.code, 250, reply.text);
    const e = (await recordById(t.topics.inbound, /queued as (\S+)/.exec(reply.text)![1]!)).envelope;
    assert.equal(e.smtpUtf8, true);
    assert.equal(e.bodyType, 'EIGHT_BIT_MIME');
    assert.equal(e.mailFrom, 'jörg@exämple.com');
    assert.deepEqual(e.rcptTo, ['zoë@example.net']);
    assert.match(e.raw.toString('utf8'), /with UTF8SMTP id/);
    c.close();
  });

  it('limits recipients per message (452 4.5.3) and keeps the accepted ones', async () => {
    const c = await session();
    await c.cmd('MAIL FROM:<a@example.com>');
    for (const n of [1, 2, 3]) assert.equal((await c.cmd(`RCPT TO:<r${n}@example.net>`)).code, 250);
    const fourth = await c.cmd('RCPT TO:<r4@example.net>');
    assert.match(fourth.text, /^452 4\.5\.3 /);
    const reply = await c.data(sampleMessage());
    assert.equal(reply.code, 250);
    const e = (await recordById(t.topics.inbound, /queued as (\S+)/.exec(reply.text)![1]!)).envelope;
    assert.deepEqual(e.rcptTo, ['r1@example.net', 'r2@example.net', 'r3@example.net']);
    assert.doesNotMatch(e.raw.subarray(0, e.traceLength).toString(), /\tfor </, 'no "for" clause with several recipients');
    c.close();
  });

  it('refuses a declared SIZE over the limit, and an undeclared overflow mid-stream with 552 5.3.4; nothing is stored', async () => {
    const c = await session();
    assert.match((await c.cmd('MAIL FROM:<a@example.com> SIZE=200001')).text, /^552 5\.3\.4 /);
    assert.equal((await c.cmd('MAIL FROM:<a@example.com> SIZE=1000')).code, 250, 'a false SIZE declaration is caught while streaming');
    await c.cmd('RCPT TO:<b@example.net>');
    assert.equal((await c.cmd('DATA')).code, 354);
    const marker = `overflow-${Date.now()}`;
    const line = `${'x'.repeat(998)}\r\n`;
    c.write(`Subject: ${marker}\r\n\r\n`);
    for (let i = 0; i < 400; i++) c.write(line); // ~400 kB, twice the limit, sent without pausing
    c.write('.\r\n');
    const reply = await c.reply();
    assert.match(reply.text, /^552 5\.3\.4 /);
    // The session is still usable, and only the next (small) message reaches Kafka.
    await c.cmd('MAIL FROM:<a@example.com>');
    await c.cmd('RCPT TO:<b@example.net>');
    const ok = await c.data(sampleMessage({ subject: `after-${marker}` }));
    assert.equal(ok.code, 250);
    const recs = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.raw.includes(`after-${marker}`)), { settleMs: 500 });
    assert.equal(recs.filter((x) => x.envelope.raw.includes(marker) && !x.envelope.raw.includes(`after-${marker}`)).length, 0);
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'DATA', code: '552', reason: 'size' }) >= 1);
    c.close();
  });
});

describe('RFC 5321 size limits (section 4.5.3.1)', () => {
  const tooLong = `${'é'.repeat(130)}@example.net`; // 142 characters (smtp-server's 253 allows it), 272 octets

  it('command lines: 512 octets with CRLF, 500 5.5.2 past it, and the session goes on', async () => {
    const c = await session();
    assert.equal((await c.cmd(`NOOP ${'x'.repeat(505)}`)).code, 250, '510 octets + CRLF');
    const over = await c.cmd(`NOOP ${'x'.repeat(506)}`);
    assert.match(over.text, /^500 5\.5\.2 Line too long \(at most 512 octets with CRLF\)$/);
    assert.match((await c.cmd(`RCPT TO:<b@example.net> ${'X'.repeat(600)}`)).text, /^500 5\.5\.2 /, 'checked before the sequence (RCPT before MAIL)');
    assert.match((await c.cmd(`XYZZY ${'x'.repeat(600)}`)).text, /^500 5\.5\.2 Error: command not recognized/, 'an unknown command keeps smtp-server\'s answer');
    // Pipelined behind a refused line, the next commands are answered in order.
    c.write(`NOOP ${'x'.repeat(600)}\r\nRSET\r\nNOOP\r\n`);
    assert.deepEqual([(await c.reply()).code, (await c.reply()).code, (await c.reply()).code], [500, 250, 250]);
    assert.equal((await c.cmd(`MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 X=${'y'.repeat(500)}`)).code, 250, 'MAIL has room for its parameters');
    assert.equal((await c.cmd('RCPT TO:<b@example.net>')).code, 250);
    assert.equal((await c.data(sampleMessage())).code, 250);
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'NOOP', code: '500', reason: 'line-too-long' }) >= 1);
    assert.match((await c.cmd(`GET /${'x'.repeat(600)} HTTP/1.1`)).text, /^421 .*HTTP requests not allowed/, 'an HTTP request line still closes the session at once');
    c.close();
  });

  it('paths: 256 octets with the brackets, counted in octets and with a source route; 501 at the command, no echo', async () => {
    const c = await session();
    const mail = await c.cmd(`MAIL FROM:<${tooLong}> SMTPUTF8`);
    assert.equal(mail.text, '501 5.1.7 Sender address too long (at most 256 octets with the angle brackets)');
    assert.equal((await c.cmd('MAIL FROM:<a@example.com> SMTPUTF8')).code, 250, 'the session goes on');
    assert.equal((await c.cmd(`RCPT TO:<${tooLong}>`)).text, '501 5.1.3 Recipient address too long (at most 256 octets with the angle brackets)');
    assert.match((await c.cmd(`RCPT TO:<@${'relay.'.repeat(45)}example:b@example.net>`)).text, /^501 5\.1\.3 Recipient address too long/, 'smtp-server drops a source route before its own check');
    // The domain limit (255) follows from the path's: a 253-octet domain is refused there.
    assert.match((await c.cmd(`RCPT TO:<b@${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(60)}.example.net>`)).text, /^501 5\.1\.3 /);
    // Local parts over 64 octets are accepted on purpose (VERP, SRS, forwarding senders): command-limits.ts.
    const local100 = `${'v'.repeat(100)}@example.net`;
    assert.equal((await c.cmd(`RCPT TO:<${local100}>`)).code, 250);
    const reply = await c.data(sampleMessage());
    assert.equal(reply.code, 250, reply.text);
    const e = (await recordById(t.topics.inbound, /queued as (\S+)/.exec(reply.text)![1]!)).envelope;
    assert.deepEqual(e.rcptTo, [local100], 'only the accepted recipient');
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'RCPT', code: '501', reason: 'path-too-long' }) >= 3);
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'MAIL', code: '501', reason: 'path-too-long' }) >= 1);
    c.close();
  });

  it('the longest recipient after A-labels become Unicode keeps its Received "for" line under 998 octets', async () => {
    // 253 characters as sent (smtp-server's limit, within the 256-octet path); with SMTPUTF8 the envelope
    // holds the Unicode form: 885 octets of 4-octet emoji, the worst punycode can expand to.
    const label = (n: number) => domainToASCII('\u{1F600}'.repeat(n));
    const rcpt = `a@${label(56)}.${label(56)}.${label(56)}.${label(52)}`;
    assert.equal(rcpt.length, 253);
    const c = await submissionClient(sub);
    assert.match((await c.authPlain('alice@example.com', 'correct horse battery')).text, /^235 /);
    assert.equal((await c.cmd('MAIL FROM:<alice@example.com> SMTPUTF8')).code, 250);
    assert.equal((await c.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
    const reply = await c.data(sampleMessage());
    assert.equal(reply.code, 250, reply.text);
    const e = (await recordById(t.topics.outbound, /queued as (\S+)/.exec(reply.text)![1]!)).envelope;
    assert.equal(Buffer.byteLength(e.rcptTo[0]!), 885);
    const forLine = e.raw.subarray(0, e.traceLength).toString('utf8').split('\r\n').find((l) => l.startsWith('\tfor <'));
    assert.equal(forLine, `\tfor <${e.rcptTo[0]}>;`);
    assert.ok(Buffer.byteLength(forLine) <= 998, `${Buffer.byteLength(forLine)} octets`);
    c.close();
  });
});

describe('submission listener', () => {
  it('refuses AUTH before TLS (538) and MAIL without AUTH (530)', async () => {
    const c = await session(sub);
    assert.match((await c.cmd('AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==')).text, /^538 /);
    assert.match((await c.cmd('MAIL FROM:<alice@example.com>')).text, /^530 5\.7\.0 /);
    c.close();
  });

  it('accepts AUTH PLAIN over STARTTLS (swaks) and writes to the outbound topic with the user', async () => {
    const res = await swaks(['--server', `127.0.0.1:${sub}`, '--ehlo', 'laptop.example.com', '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@example.com', '--auth-password', 'correct horse battery', '--from', 'alice@example.com', '--to', 'carol@example.org']);
    assert.equal(res.code, 0, res.out);
    const e = (await recordById(t.topics.outbound, res.recordId!)).envelope;
    assert.equal(e.listener, 'SUBMISSION');
    assert.equal(e.authUser, 'alice@example.com');
    assert.match(e.raw.subarray(0, e.traceLength).toString(), / with ESMTPSA id /);
  });

  it('accepts AUTH LOGIN, and refuses a bad password with 535 5.7.8', async () => {
    const ok = await swaks(['--server', `127.0.0.1:${sub}`, '--tls', '--auth', 'LOGIN', '--auth-user', 'alice@example.com', '--auth-password', 'correct horse battery', '--from', 'alice@example.com', '--to', 'dave@example.org']);
    assert.equal(ok.code, 0, ok.out);
    const bad = await swaks(['--server', `127.0.0.1:${sub}`, '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@example.com', '--auth-password', 'wrong password', '--from', 'alice@example.com', '--to', 'dave@example.org']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /535 5\.7\.8 /);
    const unknown = await swaks(['--server', `127.0.0.1:${sub}`, '--tls', '--auth', 'LOGIN', '--auth-user', 'mallory@example.com', '--auth-password', 'whatever123', '--from', 'm@example.com', '--to', 'dave@example.org']);
    assert.match(unknown.out, /535 5\.7\.8 /);
    assert.ok(await metricValue(t.metrics, 'scop_ingress_auth_total', { result: 'failed' }) >= 2);
  });

  it('serves implicit TLS (465 role) with AUTH', async () => {
    const res = await swaks(['--server', `127.0.0.1:${subs}`, '--tlsc', '--auth', 'PLAIN', '--auth-user', 'alice@example.com', '--auth-password', 'correct horse battery', '--from', 'alice@example.com', '--to', 'erin@example.org']);
    assert.equal(res.code, 0, res.out);
    const e = (await recordById(t.topics.outbound, res.recordId!)).envelope;
    assert.equal(e.listener, 'SUBMISSIONS');
    assert.equal(e.tls?.implicit, true);
  });

  it('STARTTLS on a raw socket, then AUTH PLAIN and a message', async () => {
    const c = await session(sub, 'laptop.example.com');
    assert.equal((await c.starttls()).code, 220);
    const ehlo = await c.cmd('EHLO laptop.example.com');
    assert.ok(ehlo.lines.some((l) => l.includes('AUTH PLAIN LOGIN')), ehlo.text);
    assert.ok(!ehlo.text.includes('STARTTLS'));
    const token = Buffer.from('\0alice@example.com\0correct horse battery').toString('base64');
    assert.match((await c.cmd(`AUTH PLAIN ${token}`)).text, /^235 /);
    assert.equal((await c.cmd('MAIL FROM:<alice@example.com>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<frank@example.org>')).code, 250);
    assert.equal((await c.data(sampleMessage())).code, 250);
    c.close();
  });
});

/** swaks with the message given as the full DATA (it adds nothing, dot-stuffs, sends). */
async function swaksWithData(message: string, args: string[]) {
  const file = join(t.dataDir, `msg-${Date.now()}.eml`);
  writeFileSync(file, message);
  return swaks(['--server', `127.0.0.1:${mx}`, '--ehlo', 'client.example.org', '--data', `@${file}`, ...args]);
}
