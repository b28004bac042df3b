/**
 * The egress relay on the real broker and registry: decided records → Maildir (the default) or an
 * SMTP next hop, with the trace headers on top of the untouched raw message; temporary failures go
 * through the retry topics and arrive, permanent ones are logged with the remote reply, exhausted
 * ones land on the dead topic with an alert; a replayed record is not delivered twice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { produce, readTopic, testBroker, testDecision, testMailRecord } from '../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../runtime/testing.ts';
import type { Alert, DeliveryJob, DeliveryStatus, MailRecord } from '../../schemas/types.ts';
import { schema } from '../../schemas/index.ts';
import { startRelay } from './service.ts';
import { createRelayTopics, ScriptedSmtp } from './testing.ts';

const { svc, admin } = testBroker('egress-test');

const AR = 'mx.scop.test;\r\n dkim=pass header.d=example.com;\r\n spf=pass smtp.mailfrom=example.com;\r\n dmarc=pass header.from=example.com';
function decided(action: 'deliver' | 'junk' | 'quarantine' | 'reject', rcpt: string[], body = 'Hello.'): MailRecord {
  const trace = 'Received: from client by mx.scop.test; Mon, 1 Jan 2024 10:00:00 +0000\r\n';
  const raw = Buffer.from(`${trace}From: <a@example.com>\r\nTo: <${rcpt[0]}>\r\nSubject: ${action}\r\nMessage-ID: <${uniqueName('m')}@x>\r\n\r\n${body}\r\n.leading dot\r\n`);
  const r = testMailRecord(raw, { rcptTo: rcpt, mailFrom: 'a@example.com', traceLength: trace.length });
  return {
    ...r,
    auth: { authenticationResults: AR } as never,
    decision: testDecision(action, action === 'deliver' ? [] : [`test ${action}`]),
  };
}

/** The auth section is only read for its header value; records produced by tests carry a full one. */
async function produceDecided(topic: string, records: MailRecord[]): Promise<void> {
  const full = records.map((r) => ({ ...r, auth: fullAuth(r.auth?.authenticationResults ?? '') }));
  await produce(svc.kafka, svc.codec, topic, 'MailRecord', full.map((record) => ({ record })));
}

/** A schema-valid auth section (random values) carrying the given Authentication-Results value. */
function fullAuth(ar: string): MailRecord['auth'] {
  const a = schema('AuthSection').type.random() as unknown as NonNullable<MailRecord['auth']>;
  return { ...a, authenticationResults: ar };
}

test('Maildir by default: deliver and junk stored with the trace headers over the untouched raw; quarantine and reject held', { timeout: 90000 }, async () => {
  const t = await createRelayTopics(admin);
  const dir = mkdtempSync(join(tmpdir(), 'scop-maildir-'));
  const ctx = { ...svc, env: { ...process.env, EGRESS_MAILDIR: dir, EGRESS_HOSTNAME: 'egress.scop.test', EGRESS_NEXT_HOP: '' } };
  const recs = [decided('deliver', ['Bob@Example.net', 'carol@example.net']), decided('junk', ['bob@example.net']), decided('quarantine', ['bob@example.net']), decided('reject', ['bob@example.net'])];
  await produceDecided(t.decided, recs);
  const running = await startRelay(ctx, { topics: t, groupPrefix: uniqueName('eg') });
  try {
    const inbox = join(dir, 'bob@example.net', 'new');
    const junk = join(dir, 'bob@example.net', '.Junk', 'new');
    await eventually(() => (existsSync(inbox) && readdirSync(inbox).length === 1 && existsSync(junk) && readdirSync(junk).length === 1 && existsSync(join(dir, 'carol@example.net', 'new')) ? true : undefined), 30000, 'maildir files');
    const file = readFileSync(join(inbox, readdirSync(inbox)[0]!));
    const raw = recs[0]!.envelope.raw;
    assert.deepEqual(file.subarray(file.length - raw.length), raw, 'the raw message follows the added headers byte for byte');
    const head = file.subarray(0, file.length - raw.length).toString();
    assert.match(head, /^Received: by egress\.scop\.test \(scop egress\) with local id [^\r\n]+\r\n\tfor <Bob@Example\.net>;\r\n\t\w{3}, /);
    assert.ok(head.includes(`Authentication-Results: ${AR}\r\n`), head);
    const junkFile = readFileSync(join(junk, readdirSync(junk)[0]!)).toString();
    assert.match(junkFile, /^X-Spam-Flag: YES\r\n/m);
    assert.match(junkFile, /^X-Scop-Decision: junk; test junk\r\n/m);
    const log = await readTopic(svc.kafka, t.log, 3, { settleMs: 1500 });
    assert.equal(log.length, 3, 'two recipients of the first message + the junk one; nothing for the held ones');
    const statuses = await Promise.all(log.map((m) => svc.codec.decodeAs<DeliveryStatus>(m.value, 'DeliveryStatus')));
    assert.ok(statuses.every((s) => s.status === 'delivered' && s.nextHop === `maildir:${dir}`));
    assert.equal(readdirSync(join(dir, 'bob@example.net', 'new')).length, 1, 'quarantine/reject were not delivered');
  } finally {
    await running.stop();
  }
});

test('SMTP next hop: temporary failures retried until delivered, 5xx logged with the reply, exhausted → dead + alert, replay not delivered twice', { timeout: 120000 }, async () => {
  const t = await createRelayTopics(admin);
  const smtp = new ScriptedSmtp();
  await smtp.start();
  let tries = 0;
  smtp.rcpt = (a) => {
    if (a === 'nobody@example.net') return [550, '5.1.1 No such user here'];
    if (a === 'full@example.net') return [452, '4.2.2 Mailbox full'];
    if (a === 'later@example.net' && ++tries <= 2) return [451, '4.3.0 Try again later'];
    return null;
  };
  const group = uniqueName('eg');
  const ctx = { ...svc, env: { ...process.env, EGRESS_NEXT_HOP: `smtp://127.0.0.1:${smtp.port}`, EGRESS_RETRY_DELAYS: '1,1,1', EGRESS_MAX_ATTEMPTS: '3', EGRESS_HOSTNAME: 'egress.scop.test' } };
  const ok = decided('deliver', ['ok@example.net', 'nobody@example.net']);
  const later = decided('deliver', ['later@example.net']);
  const full = decided('deliver', ['full@example.net']);
  await produceDecided(t.decided, [ok, later, full]);
  let running = await startRelay(ctx, { topics: t, groupPrefix: group });
  try {
    await eventually(() => (smtp.received.length >= 2 ? true : undefined), 60000, 'two deliveries');
    const logged = await readTopic(svc.kafka, t.log, 4, { settleMs: 500, timeoutMs: 60000 });
    const statuses = new Map((await Promise.all(logged.map((m) => svc.codec.decodeAs<DeliveryStatus>(m.value, 'DeliveryStatus')))).map((s) => [s.recipient, s]));
    assert.equal(statuses.get('ok@example.net')!.status, 'delivered');
    assert.equal(statuses.get('nobody@example.net')!.status, 'bounced');
    assert.match(statuses.get('nobody@example.net')!.reply!, /^550 5\.1\.1 No such user here/);
    assert.equal(statuses.get('later@example.net')!.status, 'delivered');
    assert.equal(statuses.get('later@example.net')!.attempts, 3, 'two 451s, then delivered from the second retry topic');
    assert.equal(statuses.get('full@example.net')!.status, 'dead');
    const [dead] = await readTopic(svc.kafka, t.dead, 1, { settleMs: 200 });
    const job = await svc.codec.decodeAs<DeliveryJob>(dead!.value, 'DeliveryJob');
    assert.deepEqual([job.record.envelope.id, job.recipients, job.attempt], [full.envelope.id, ['full@example.net'], 3]);
    assert.match(job.lastError!, /452 4\.2\.2 Mailbox full/);
    const [alertMsg] = await readTopic(svc.kafka, t.alerts, 1, { settleMs: 200 });
    const alert = await svc.codec.decodeAs<Alert>(alertMsg!.value, 'Alert');
    assert.deepEqual([alert.kind, alert.recordId], ['delivery-dead-letter', full.envelope.id]);
    for (const r of t.retries.slice(0, 2)) assert.ok((await readTopic(svc.kafka, r, 2, { settleMs: 200 })).length >= 2, `${r} was used`);

    const msg = smtp.received.find((m) => m.to.includes('ok@example.net'))!;
    assert.equal(msg.from, 'a@example.com');
    assert.deepEqual(msg.data.subarray(msg.data.length - ok.envelope.raw.length), ok.envelope.raw, 'raw unchanged (dot-stuffing undone by the server)');
    assert.match(msg.data.toString(), /^Received: by egress\.scop\.test \(scop egress\) with ESMTP id /);

    // A crash after delivery but before the commit replays the record: simulated by a new
    // instance (fresh delivery log read) and the same records written again.
    await running.stop();
    const before = smtp.received.length;
    await produceDecided(t.decided, [ok, later]);
    running = await startRelay(ctx, { topics: t, groupPrefix: group });
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(smtp.received.length, before, 'replayed records were not delivered again');
    assert.ok((await running.relay.metrics.skipped.get()).values.some((v) => v.labels.reason === 'already-done' && v.value >= 2));
  } finally {
    await running.stop();
    await smtp.stop();
  }
});

test('next hop unreachable (connection refused): retried, delivered once it listens again', { timeout: 90000 }, async () => {
  const t = await createRelayTopics(admin);
  const smtp = new ScriptedSmtp();
  await smtp.start();
  const port = smtp.port;
  await smtp.stop();
  const ctx = { ...svc, env: { ...process.env, EGRESS_NEXT_HOP: `smtp://127.0.0.1:${port}`, EGRESS_RETRY_DELAYS: '1,1,1', EGRESS_MAX_ATTEMPTS: '50', EGRESS_TIMEOUT_MS: '2000' } };
  const recs = [decided('deliver', ['a@example.net']), decided('deliver', ['b@example.net'])];
  await produceDecided(t.decided, recs);
  const running = await startRelay(ctx, { topics: t, groupPrefix: uniqueName('eg') });
  try {
    const retries = await readTopic(svc.kafka, t.retries[0], 2, { settleMs: 0 });
    const job = await svc.codec.decodeAs<DeliveryJob>(retries[0]!.value, 'DeliveryJob');
    assert.match(job.lastError!, /ECONNREFUSED|ECONNECTION/);
    await smtp.start(port);
    await eventually(() => (smtp.received.length >= 2 ? true : undefined), 60000, 'both delivered');
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(smtp.received.map((m) => m.to[0]).sort(), ['a@example.net', 'b@example.net'], 'each once');
  } finally {
    await running.stop();
    await smtp.stop();
  }
});

test('a sender\'s retransmission (new record id; same sender, Message-ID and bytes) is logged as done, not delivered again; a message without a Message-ID is', { timeout: 90000 }, async () => {
  const t = await createRelayTopics(admin);
  const smtp = new ScriptedSmtp();
  await smtp.start();
  const ctx = { ...svc, env: { ...process.env, EGRESS_NEXT_HOP: `smtp://127.0.0.1:${smtp.port}`, EGRESS_HOSTNAME: 'egress.scop.test' } };
  const withMessageId = (r: MailRecord, messageId: string | null): MailRecord => {
    const mime = schema('MimeSection').type.random() as unknown as NonNullable<MailRecord['mime']>;
    return { ...r, mime: { ...mime, tags: [], headers: { ...mime.headers, messageId } } };
  };
  // The copy the sender sent again: a new record id, and the ingress's own Received header differs.
  const resent = (r: MailRecord): MailRecord => {
    const trace = Buffer.from(`Received: from client by mx.scop.test; Mon, 1 Jan 2024 10:00:${String(Math.floor(Math.random() * 60)).padStart(2, '0')} +0000 id ${uniqueName('t')}\r\n`);
    const raw = Buffer.concat([trace, r.envelope.raw.subarray(r.envelope.traceLength)]);
    return { ...r, envelope: { ...r.envelope, id: uniqueName('resent'), raw, size: raw.length, traceLength: trace.length } };
  };
  const first = withMessageId(decided('deliver', ['bob@example.net'], 'first'), '<m1@example.com>');
  const noId = withMessageId(decided('deliver', ['bob@example.net'], 'no id'), null);
  const [again, noIdAgain] = [resent(first), resent(noId)];
  // Both copies in one burst (a pipeline that caught up after a stall): the second waits for the first.
  const burst = withMessageId(decided('deliver', ['bob@example.net'], 'burst'), '<m2@example.com>');
  const burstAgain = resent(burst);
  // The sender sends again after its first try (its 250 lost): the copies come one after the other.
  await produceDecided(t.decided, [first, noId, burst, burstAgain]);
  const group = uniqueName('eg');
  let running = await startRelay(ctx, { topics: t, groupPrefix: group });
  try {
    await eventually(() => (smtp.received.length >= 3 ? true : undefined), 30000, 'the first copies delivered');
    // The relay restarts before the retransmissions come (the chaos run kills it too): what it
    // delivered is known again from the delivery log's content keys.
    await running.stop();
    running = await startRelay(ctx, { topics: t, groupPrefix: group });
    await produceDecided(t.decided, [again, noIdAgain]);
    const logged = await readTopic(svc.kafka, t.log, 6, { settleMs: 1000, timeoutMs: 60000 });
    const statuses = new Map((await Promise.all(logged.map((m) => svc.codec.decodeAs<DeliveryStatus>(m.value, 'DeliveryStatus')))).map((s) => [s.recordId, s]));
    assert.equal(statuses.size, 6, 'every record is logged as done');
    assert.equal([burst, burstAgain].filter((r) => /^not delivered again/.test(statuses.get(r.envelope.id)!.reply ?? '')).length, 1, 'one of the burst copies is the retransmission');
    assert.equal(statuses.get(again.envelope.id)!.status, 'delivered');
    assert.match(statuses.get(again.envelope.id)!.reply!, new RegExp(`^not delivered again: a retransmission of record ${first.envelope.id}`));
    assert.ok(statuses.get(first.envelope.id)!.contentKey, 'a delivered message with a Message-ID carries its content key');
    assert.equal(statuses.get(noId.envelope.id)!.contentKey, null);
    const copies = (body: string) => smtp.received.filter((m) => m.data.toString().includes(`\r\n\r\n${body}\r\n`)).length;
    assert.equal(copies('first'), 1, 'the retransmission was not sent');
    assert.equal(copies('burst'), 1, 'copies in flight together: one sent');
    assert.equal(copies('no id'), 2, 'without a Message-ID nothing is taken for a retransmission');
  } finally {
    await running.stop();
    await smtp.stop();
  }
});
