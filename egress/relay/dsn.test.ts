/**
 * DSN composition (RFC 3464 / RFC 3462 multipart/report): the MIME structure as a parser sees it,
 * the delivery-status fields per recipient with the remote reply, the original headers, CRLF only,
 * the null sender and a deterministic id; never a DSN for a message with the null sender.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import PostalMime from 'postal-mime';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { buildDsn, deliveryStatusText, dsnRecord, statusOf, type FailedRecipient } from './dsn.ts';
import { lineEndingProblem } from './wire.ts';

const original = (): MailRecord => ({
  ...testMailRecord(Buffer.from('Received: from client by submit.test with ESMTPSA; Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Alice <alice@out.test>\r\nTo: bob@far.test, carol@far.test\r\nSubject: lunch?\r\nMessage-ID: <m1@out.test>\r\n\r\nSecret body text.\r\n'), { mailFrom: 'alice@out.test', rcptTo: ['bob@far.test', 'carol@far.test'], listener: 'SUBMISSION', authUser: 'alice', receivedAt: Date.UTC(2024, 0, 1, 10) }),
  dkimSign: { stageVersion: '1', signedAt: 0, headers: 'DKIM-Signature: v=1; a=rsa-sha256; d=out.test; s=r1;\r\n\tb=abc\r\n', fromDomain: 'out.test', authUser: 'alice', signatures: [] },
});

const failed: FailedRecipient[] = [
  { recipient: 'bob@far.test', kind: 'bounced', attempts: 1, remoteMta: 'mx.far.test', reply: '550 5.1.1 <bob@far.test>: Recipient address rejected: User unknown in virtual mailbox table' },
  { recipient: 'carol@far.test', kind: 'dead', attempts: 8, reply: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:25' },
];

test('status codes: the enhanced code of the reply, else from the class; 4.4.7 when retries ran out without one', () => {
  assert.equal(statusOf('550 5.1.1 <x>: unknown', 'bounced'), '5.1.1');
  assert.equal(statusOf('554-5.7.1 first line\n554 5.7.1 second', 'bounced'), '5.7.1');
  assert.equal(statusOf('550 no such user', 'bounced'), '5.0.0');
  assert.equal(statusOf('451 4.3.0 try later', 'dead'), '4.3.0');
  assert.equal(statusOf('ECONNREFUSED: connect', 'dead'), '4.4.7');
});

test('a multipart/report with text, message/delivery-status and text/rfc822-headers', async () => {
  const rec = original();
  const now = Date.UTC(2024, 0, 2, 12);
  const { id, raw } = await buildDsn(rec, failed, { reportingMta: 'egress.out.test', now });
  assert.equal(lineEndingProblem(raw), undefined, 'CRLF line ends only');
  assert.ok(raw.toString('latin1').split('\r\n').every((l) => l.length <= 998), 'no line over 998 octets');
  const head = raw.toString('latin1').slice(0, raw.indexOf('\r\n\r\n'));
  assert.match(head, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(head, /^From: Mail Delivery System <MAILER-DAEMON@egress\.out\.test>$/m);
  assert.match(head, /^To: <?alice@out\.test>?$/m);
  assert.match(head, /^Auto-Submitted: auto-replied$/m);
  assert.match(head, new RegExp(`^Message-ID: <dsn\\.${id}@egress\\.out\\.test>$`, 'm'));

  const parsed = await PostalMime.parse(raw);
  assert.match(parsed.text ?? '', /<bob@far\.test>: host mx\.far\.test said: 550 5\.1\.1/);
  assert.match(parsed.text ?? '', /<carol@far\.test>: gave up after 8 attempts; last error: ECONNREFUSED/);
  const types = parsed.attachments.map((a) => a.mimeType);
  assert.deepEqual(types, ['message/delivery-status', 'text/rfc822-headers']);
  // postal-mime hands parts back with LF line ends.
  const content = (i: number) => Buffer.from(parsed.attachments[i]!.content as ArrayBuffer).toString('utf8').replace(/\r?\n/g, '\r\n');
  const status = content(0);
  assert.equal(status.trimEnd(), deliveryStatusText(rec, failed, { reportingMta: 'egress.out.test', now }).trimEnd());
  const [perMessage, bob, carol] = status.trimEnd().split('\r\n\r\n');
  assert.deepEqual(perMessage!.split('\r\n'), ['Reporting-MTA: dns; egress.out.test', `X-Scop-Record-Id: ${rec.envelope.id}`, 'Arrival-Date: Mon, 1 Jan 2024 10:00:00 +0000']);
  assert.deepEqual(bob!.replace(/\r\n\s+/g, ' ').split('\r\n'), [
    'Final-Recipient: rfc822; bob@far.test', 'Action: failed', 'Status: 5.1.1', 'Remote-MTA: dns; mx.far.test',
    'Diagnostic-Code: smtp; 550 5.1.1 <bob@far.test>: Recipient address rejected: User unknown in virtual mailbox table',
    'Last-Attempt-Date: Tue, 2 Jan 2024 12:00:00 +0000',
  ]);
  assert.match(bob!, /\r\n /, 'the long Diagnostic-Code is folded');
  assert.deepEqual(carol!.replace(/\r\n\s+/g, ' ').split('\r\n').slice(0, 4), [
    'Final-Recipient: rfc822; carol@far.test', 'Action: failed', 'Status: 4.4.7', 'Diagnostic-Code: X-Scop; ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:25',
  ]);
  const headers = content(1);
  assert.match(headers, /^DKIM-Signature: v=1; a=rsa-sha256; d=out\.test/);
  assert.match(headers, /^Subject: lunch\?\r?$/m);
  assert.match(headers, /^Message-ID: <m1@out\.test>\r?$/m);
  assert.ok(!headers.includes('Secret body text'), 'headers only, not the body');
});

test('the DSN record: null sender, to the original sender, deterministic id; none for a null-sender original', async () => {
  const rec = original();
  const dsn = await dsnRecord(rec, failed, { reportingMta: 'egress.out.test' });
  assert.ok(dsn);
  assert.equal(dsn.envelope.mailFrom, '');
  assert.deepEqual(dsn.envelope.rcptTo, ['alice@out.test']);
  assert.equal(dsn.envelope.size, dsn.envelope.raw.length);
  assert.equal(dsn.dkimSign, null);
  const again = await dsnRecord(rec, [...failed].reverse(), { reportingMta: 'egress.out.test', now: 5 });
  assert.equal(again!.envelope.id, dsn.envelope.id, 'same failure → same id (a replay is de-duplicated)');
  const other = await dsnRecord(rec, failed.slice(0, 1), { reportingMta: 'egress.out.test' });
  assert.notEqual(other!.envelope.id, dsn.envelope.id);
  const bounce = { ...rec, envelope: { ...rec.envelope, mailFrom: '' } };
  assert.equal(await dsnRecord(bounce, failed, { reportingMta: 'egress.out.test' }), null, 'never bounce a bounce');
  // Reply text from a hostile server cannot break out of its field.
  const evil = await buildDsn(rec, [{ ...failed[0]!, reply: '550 5.1.1 no\r\nFinal-Recipient: rfc822; x@evil\r\n\r\nX' }], { reportingMta: 'e.test' });
  assert.equal((evil.raw.toString('latin1').match(/^Final-Recipient:/gm) ?? []).length, 1);
});

// Found by fuzz/targets/dsn.ts: a long remote reply word, recipient or MX name made DSN lines of
// thousands of octets, and a sender longer than any SMTP path made a To: line as long.
test('every DSN line stays under 998 octets whatever the remote reply, recipient and MX name', async () => {
  const long: FailedRecipient[] = [
    { recipient: `${'r'.repeat(3000)}@far.test`, kind: 'bounced', attempts: 1, remoteMta: `${'m'.repeat(1000)}.far.test`, reply: `550 5.1.1 ${'x'.repeat(5000)} ${'y '.repeat(2000)}` },
    { recipient: 'carol@far.test', kind: 'dead', attempts: 3, reply: 'z'.repeat(4000) },
  ];
  const { raw } = await buildDsn(original(), long, { reportingMta: 'egress.out.test', now: 0 });
  const longest = Math.max(...raw.toString('latin1').split('\r\n').map((l) => l.length));
  assert.ok(longest <= 998, `longest line ${longest} octets`);
  const parsed = await PostalMime.parse(raw);
  assert.match(parsed.text ?? '', /<r{256}>:\s+host\s+m{100,}/, 'the human part still names the recipient (cut to 256) and the MX');
});

test('no DSN to a sender longer than an SMTP path (256 octets): no server would take it', async () => {
  const rec = original();
  rec.envelope.mailFrom = `${'a'.repeat(300)}@out.test`;
  assert.equal(await dsnRecord(rec, failed, { reportingMta: 'egress.out.test' }), null);
  rec.envelope.mailFrom = `${'a'.repeat(200)}@out.test`;
  assert.ok(await dsnRecord(rec, failed, { reportingMta: 'egress.out.test' }));
});

test('an original header with a bare CR, a bare LF or a NUL still makes a DSN with CRLF line ends only', async () => {
  const rec = original();
  rec.envelope.raw = Buffer.from('Subject: a\rb\r\nX-Odd: c\nd\0e\r\n\r\nbody\r\n');
  const { raw } = await buildDsn(rec, failed, { reportingMta: 'egress.out.test', now: 0 });
  assert.equal(lineEndingProblem(raw), undefined);
  assert.match(raw.toString('latin1'), /Subject: a\r\nb\r\nX-Odd: c\r\nde\r\n/);
});
