/**
 * The console on the real broker (unique topics): the history consumers fill the store from the
 * topics; login, sessions, CSRF, Origin checks and security headers; search and the message page;
 * quarantine release/delete/mark, dead-letter re-drive and firewall block/unblock through the
 * shared operator code, each audited to the audit topic; spam model rollback to a signed version
 * from the history topic (refused unconfirmed or when the signature is not trusted); a
 * per-recipient-domain model rolled back or removed from the model page (refused unconfirmed, for an
 * unknown domain, an untrusted version, without a session or for a removed operator).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { freePort } from '../infra/ports.ts';
import { produce, readTopic, testBroker, testDecision, testMailRecord, testMime, testSpamModel } from '../runtime/stage-testing.ts';
import { CredentialsView } from '../runtime/credentials-file.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import { topicConfig, type TopicSpec } from '../runtime/topics.ts';
import type { AuditEvent, Block, DeadLetter, DeliveryJob, MailRecord, SpamFeedback } from '../schemas/types.ts';
import { rebuildHistory, type HistoryTopics } from './history.ts';
import { startConsole, type RunningConsole } from './service.ts';
import { addOperator, removeOperator, setOperatorRole } from './users.ts';
import { sendAll } from '../runtime/operator/send.ts';
import { encodeSignedModelRecord, MODEL_KEY, modelLine, publishModelRecord, ROLLBACK_HEADER } from '../runtime/operator/spam-model.ts';
import type { SpamModelRecord } from '../schemas/types.ts';

const { svc, admin } = testBroker('console-test');
const dir = mkdtempSync(join(tmpdir(), 'scop-console-'));
const PASSWORD = 'correct horse battery staple';

const t = {
  decided: uniqueName('c-decided'), outbound: uniqueName('c-outbound'), deliveryLog: uniqueName('c-dlog'), deadLetters: uniqueName('c-dlq'), quarantine: uniqueName('c-quarantine'),
  requests: uniqueName('c-requests'), feedback: uniqueName('c-feedback'), blocklist: uniqueName('c-blocklist'), audit: uniqueName('c-audit'), spamModel: uniqueName('c-model'), spamModelHistory: uniqueName('c-model-history'), source: uniqueName('c-source'),
};
let consoleSvc: RunningConsole;
let origin = '';
let port = 0;
const groupPrefix = uniqueName('console-test');
const start = () => startConsole({ ...svc, dataDir: dir, env: { ...process.env, CONSOLE_PORT: String(port), CONSOLE_LOGIN_FAILURES_PER_MINUTE: '3' } }, {
  history: { decided: t.decided, outbound: t.outbound, deliveryLog: t.deliveryLog, deadLetters: t.deadLetters, quarantine: t.quarantine } satisfies HistoryTopics,
  topics: { quarantine: { quarantine: t.quarantine, requests: t.requests, feedback: t.feedback }, blocklist: t.blocklist, deadLetters: t.deadLetters, audit: t.audit, spamModel: t.spamModel, spamModelHistory: t.spamModelHistory },
  groupPrefix,
});

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A browser-like client: keeps cookies, sends our Origin on POST unless told otherwise. */
class Client {
  readonly jar = new Map<string, string>();
  /** Connect from this loopback address (failed logins are limited per client address). */
  constructor(private readonly localAddress = '127.0.0.1') {}
  async req(method: string, path: string, form?: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Reply> {
    const body = form ? new URLSearchParams(Object.entries(form).flatMap(([k, v]) => [v].flat().map((x) => [k, x] as [string, string]))).toString() : undefined;
    const u = new URL(path, origin);
    return new Promise((ok, fail) => {
      const r = request({
        host: u.hostname, port: u.port, path: u.pathname + u.search, method, rejectUnauthorized: false, localAddress: this.localAddress,
        headers: { Cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', Origin: origin } : {}), ...headers },
      }, (res) => {
        for (const c of [res.headers['set-cookie'] ?? []].flat()) {
          const [kv] = c.split(';');
          const i = kv!.indexOf('=');
          const v = kv!.slice(i + 1);
          if (v) this.jar.set(kv!.slice(0, i), v); else this.jar.delete(kv!.slice(0, i));
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body: text }));
      });
      r.on('error', fail);
      r.end(body);
    });
  }
  /** The CSRF token of the last page's forms. */
  static csrf(page: string): string {
    return /name="csrf" value="([^"]+)"/.exec(page)![1]!;
  }
  async login(user: string, password: string): Promise<Reply> {
    const page = await this.req('GET', '/login');
    return this.req('POST', '/login', { csrf: Client.csrf(page.body), user, password });
  }
}

const held = (subject: string, over: Partial<MailRecord> = {}): MailRecord => ({
  ...testMailRecord(`From: Mallory <mallory@evil.example>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.length}@x>\r\n\r\nbody\r\n`, { rcptTo: ['bob@example.net'], mailFrom: 'mallory@evil.example', clientIp: '198.51.100.7' }),
  mime: null,
  decision: testDecision('quarantine', ['quarantine: dangerous attachment invoice.pdf.exe [double-extension,executable]']),
  ...over,
});

async function audits(n: number): Promise<AuditEvent[]> {
  const rs = await readTopic(svc.kafka, t.audit, n, { settleMs: 300, timeoutMs: 20000 });
  return Promise.all(rs.map((r) => svc.codec.decodeAs<AuditEvent>(r.value, 'AuditEvent')));
}

before(async () => {
  const spec = (name: string, cleanup: TopicSpec['cleanup']) => ({ topic: name, numPartitions: 2, replicationFactor: 1, configEntries: Object.entries(topicConfig({ cleanup } as TopicSpec)).map(([k, v]) => ({ name: k, value: v })) });
  await admin.createTopics({ waitForLeaders: true, topics: [
    ...[t.decided, t.outbound, t.deliveryLog, t.deadLetters, t.requests, t.source, t.spamModelHistory].map((n) => spec(n, 'delete')),
    { ...spec(t.audit, 'delete'), numPartitions: 1 }, // one partition, as ops.audit: events in order
    ...[t.quarantine, t.feedback, t.blocklist, t.spamModel].map((n) => spec(n, 'compact')),
  ] });
  await addOperator(join(dir, 'console', 'users'), 'alice', PASSWORD);
  port = await freePort();
  consoleSvc = await start();
  origin = consoleSvc.url;
});

after(async () => {
  await consoleSvc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('console', () => {
  const alice = new Client();

  it('refuses to show anything without a session, and sends the security headers everywhere', async () => {
    const r = await new Client().req('GET', '/history?subject=x');
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/login');
    const login = await new Client().req('GET', '/login');
    assert.equal(login.status, 200);
    const csp = String(login.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src|unsafe-inline/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(login.headers['x-frame-options'], 'DENY');
    assert.equal(login.headers['cache-control'], 'no-store');
    assert.doesNotMatch(login.body, /<script/i, 'no script at all');
  });

  it('logs in with an argon2id password: a __Host- cookie that is Secure, HttpOnly, SameSite=Strict; wrong passwords are limited and audited', async () => {
    const mallory = new Client('127.0.0.66');
    assert.equal((await mallory.login('alice', 'wrong password!!')).status, 401);
    assert.equal((await mallory.login('nobody', PASSWORD)).status, 401);
    assert.equal((await mallory.login('alice', 'still wrong!!!')).status, 401);
    assert.equal((await mallory.login('alice', PASSWORD)).status, 429, 'a fourth try within the minute is refused, even with the right password');
    const noToken = await new Client('127.0.0.67').req('POST', '/login', { user: 'alice', password: PASSWORD });
    assert.equal(noToken.status, 403, 'the login form carries a CSRF token too');

    const ok = await alice.login('alice', PASSWORD);
    assert.equal(ok.status, 303);
    const cookie = [ok.headers['set-cookie']].flat().find((c) => c!.startsWith('__Host-scop-console='))!;
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    assert.match(cookie, /; Path=\//);
    const events = await audits(4);
    assert.deepEqual(events.map((e) => [e.action, e.actor]), [['login-failed', 'alice'], ['login-failed', 'nobody'], ['login-failed', 'alice'], ['login', 'alice']]);
  });

  it('history: the consumers index decided records; search by subject, sender, IP, action, symbol; the message page shows sections, deliveries, an escaped text preview', async () => {
    const clean: MailRecord = {
      ...testMailRecord('From: Carol <carol@example.com>\r\nSubject: Quarterly <b>report</b>\r\n\r\nHello <script>alert(1)</script>\r\n', { mailFrom: 'carol@example.com', rcptTo: ['dave@example.net'], clientIp: '192.0.2.10' }),
      decision: testDecision('deliver'),
    };
    // The MIME section as the MIME stage writes it for this message (the console meets the stage only through the record).
    clean.mime = testMime({ headers: { from: [{ name: 'Carol', address: 'carol@example.com', group: null }], subject: 'Quarterly <b>report</b>' }, text: 'Hello <script>alert(1)</script>\n', tags: ['has-text'] });
    await produce(svc.kafka, svc.codec, t.decided, 'MailRecord', [{ record: clean }]);
    await produce(svc.kafka, svc.codec, t.deliveryLog, 'DeliveryStatus', [{ key: `${clean.envelope.id}|dave@example.net`, record: { recordId: clean.envelope.id, recipient: 'dave@example.net', status: 'delivered', at: Date.now(), attempts: 1, nextHop: 'maildir', reply: '250 stored', receivedAt: clean.envelope.receivedAt } }]);
    const found = await eventually(async () => {
      const r = await alice.req('GET', '/history?subject=quarterly+report');
      return r.body.includes(clean.envelope.id) ? r : undefined;
    }, 30000, 'the decided record in the history');
    assert.equal(found.status, 200);
    assert.match(found.body, /Quarterly &lt;b&gt;report&lt;\/b&gt;/, 'the subject is escaped, never markup');
    for (const q of ['sender=carol%40example.com', 'sender=example.com', 'ip=192.0.2.10', 'ip=192.0.2.', 'action=deliver', 'recipient=dave%40example.net']) {
      assert.ok((await alice.req('GET', `/history?${q}`)).body.includes(clean.envelope.id), q);
    }
    assert.ok(!(await alice.req('GET', '/history?sender=nobody%40example.com')).body.includes(clean.envelope.id));
    const page = await eventually(async () => {
      const r = await alice.req('GET', `/message/${clean.envelope.id}`);
      return r.body.includes('250 stored') ? r : undefined;
    }, 30000, 'the delivery outcome on the message page');
    assert.match(page.body, /carol@example\.com/);
    assert.match(page.body, /<summary>mime<\/summary>/);
    assert.match(page.body, /Hello &lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'the text preview is escaped');
    assert.doesNotMatch(page.body, /<script>/);
    assert.match(page.body, /delivered/);
    assert.equal((await alice.req('GET', '/message/no-such-id')).status, 404);
  });

  it('writes need the session\'s CSRF token and our Origin', async () => {
    const q = await alice.req('GET', '/quarantine');
    const csrf = Client.csrf(q.body);
    assert.equal((await alice.req('POST', '/firewall/block', { prefix: '203.0.113.0/24' })).status, 403, 'no token');
    assert.equal((await alice.req('POST', '/firewall/block', { prefix: '203.0.113.0/24', csrf: 'x'.repeat(csrf.length) })).status, 403, 'wrong token');
    assert.equal((await alice.req('POST', '/firewall/block', { prefix: '203.0.113.0/24', csrf }, { Origin: 'https://evil.example' })).status, 403, 'foreign origin');
    assert.equal((await new Client().req('POST', '/firewall/block', { prefix: '203.0.113.0/24', csrf })).status, 303, 'no session: to the login page');
    const blocks = await readTopic(svc.kafka, t.blocklist, 0, { settleMs: 500 }).catch(() => []);
    assert.equal(blocks.length, 0, 'nothing was written');
  });

  it('quarantine: bulk release (delivery jobs, then tombstones), delete, mark spam (spam.feedback); each audited', async () => {
    const a = held('Release me');
    const b = held('Delete me');
    const c = held('Spam me');
    for (const r of [a, b, c]) await produce(svc.kafka, svc.codec, t.decided, 'MailRecord', [{ record: r }]);
    await produce(svc.kafka, svc.codec, t.quarantine, 'MailRecord', [a, b, c].map((record) => ({ record })));
    const list = await eventually(async () => {
      const r = await alice.req('GET', '/quarantine');
      return [a, b, c].every((x) => r.body.includes(x.envelope.id)) ? r : undefined;
    }, 30000, 'three held messages listed');
    const csrf = Client.csrf(list.body);
    assert.equal((await alice.req('POST', '/quarantine', { csrf, do: 'spam', id: [c.envelope.id] })).status, 303);
    assert.equal((await alice.req('POST', '/quarantine', { csrf, do: 'release', id: [a.envelope.id] })).status, 303);
    assert.equal((await alice.req('POST', `/message/${b.envelope.id}/act`, { csrf, do: 'delete' })).status, 303);

    const [label] = await readTopic(svc.kafka, t.feedback, 1, { settleMs: 200 });
    const fb = await svc.codec.decodeAs<SpamFeedback>(label!.value, 'SpamFeedback');
    assert.deepEqual([fb.recordId, fb.label, fb.source], [c.envelope.id, 'spam', 'console:alice']);
    const [req] = await readTopic(svc.kafka, t.requests, 1, { settleMs: 200 });
    const job = await svc.codec.decodeAs<DeliveryJob>(req!.value, 'DeliveryJob');
    assert.equal(job.record.envelope.id, a.envelope.id);
    assert.equal(job.origin, 'release:alice');
    const after = await eventually(async () => {
      const r = await alice.req('GET', '/quarantine');
      return !r.body.includes(a.envelope.id) && !r.body.includes(b.envelope.id) ? r : undefined;
    }, 20000, 'released and deleted messages gone from the list');
    assert.ok(after.body.includes(c.envelope.id), 'a marked message stays held');
    const events = (await audits(7)).slice(4);
    assert.deepEqual(events.map((e) => [e.action, e.targets, e.outcome]), [['spam-label', [c.envelope.id], 'ok'], ['quarantine-release', [a.envelope.id], 'ok'], ['quarantine-delete', [b.envelope.id], 'ok']]);
  });

  it('dead letters: listed by stage and reason, re-driven to their source topic with the original bytes', async () => {
    const original = Buffer.from('not avro at all');
    const dl: DeadLetter = { stage: 'mime', reason: 'decode-error', error: 'bad magic byte', recordId: null, sourceTopic: t.source, sourcePartition: 0, sourceOffset: 42, key: Buffer.from('k1'), value: original, headers: { h: Buffer.from('v') }, failedAt: Date.now(), stageVersion: '1' };
    await produce(svc.kafka, svc.codec, t.deadLetters, 'DeadLetter', [{ record: dl, key: 'mime' }]);
    const page = await eventually(async () => {
      const r = await alice.req('GET', '/dead-letters');
      return r.body.includes('bad magic byte') ? r : undefined;
    }, 30000, 'the dead letter listed');
    assert.match(page.body, /<td>decode-error<\/td><td>1<\/td><td>1<\/td>/);
    assert.equal((await alice.req('POST', '/dead-letters/redrive', { csrf: Client.csrf(page.body), stage: 'mime', reason: 'decode-error' })).status, 303);
    const [back] = await readTopic(svc.kafka, t.source, 1, { settleMs: 200 });
    assert.deepEqual(back!.value, original);
    assert.equal(back!.key, 'k1');
    assert.match(String(back!.headers?.['scop-redriven-from']), new RegExp(`^${t.deadLetters}:`));
    assert.match((await alice.req('GET', '/dead-letters?stage=mime')).body, /re-driven .* by alice/);
  });

  it('firewall: block and unblock a prefix on the blocklist topic', async () => {
    const page = await alice.req('GET', '/firewall');
    const csrf = Client.csrf(page.body);
    await alice.req('POST', '/firewall/block', { csrf, prefix: '203.0.113.9/24', reason: 'spam run', for: '3600' });
    const listed = await alice.req('GET', '/firewall');
    assert.match(listed.body, /203\.0\.113\.0\/24/, 'normalized to the network');
    assert.match(listed.body, /operator:alice/);
    await alice.req('POST', '/firewall/unblock', { csrf, prefix: '203.0.113.0/24' });
    const rs = await readTopic(svc.kafka, t.blocklist, 2, { settleMs: 200 });
    const first = await svc.codec.decodeAs<Block>(rs[0]!.value, 'Block');
    assert.equal(first.reason, 'spam run');
    assert.ok(first.expiresAt! > Date.now());
    assert.equal(rs[1]!.value.length, 0, 'unblock is a tombstone');
    const bad = await alice.req('POST', '/firewall/block', { csrf, prefix: 'not-an-ip' });
    assert.equal(bad.status, 303);
    assert.match((await alice.req('GET', '/firewall')).body, /is not an IP address or CIDR prefix/);
  });

  // The key the console trusts (written to its data dir below) and one it does not.
  const trusted = generateKeyPairSync('ed25519');
  const foreign = generateKeyPairSync('ed25519');

  it('spam model: every published version listed; rollback republishes the chosen signed version to the model topic, only when confirmed and trusted; audited', async () => {
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'spam-model.pub'), trusted.publicKey.export({ format: 'pem', type: 'spki' }));
    const model = (n: number) => testSpamModel({ version: `bayes-test-${n}`, source: `test-${n}`, trainedAt: Date.now() - 100000 + n, tokens: [['agenda', n / 2, 0], ['cash', 0, n / 2]] });
    const [v1, v2, v3] = [model(10), model(20), model(30)];
    await publishModelRecord(svc.kafka, svc.codec, v1, trusted.privateKey, t.spamModel, MODEL_KEY, t.spamModelHistory);
    await publishModelRecord(svc.kafka, svc.codec, v2, trusted.privateKey, t.spamModel, MODEL_KEY, t.spamModelHistory);
    // A version on the history topic signed by a key the console does not trust.
    const forged = await encodeSignedModelRecord(svc.codec, t.spamModel, v3, foreign.privateKey);
    const p = svc.kafka.producer();
    await p.connect();
    await p.send({ topic: t.spamModelHistory, acks: -1, messages: [{ key: v3.version, value: forged.value, headers: forged.headers }] });
    await p.disconnect();

    const page = await eventually(async () => {
      const r = await alice.req('GET', '/spam-model');
      return [v1, v2, v3].every((v) => r.body.includes(v.version)) && r.body.includes(`${v2.version} <span class="badge deliver">in use`) ? r : undefined;
    }, 30000, 'three versions listed, the second in use');
    const csrf = Client.csrf(page.body);
    assert.equal((page.body.match(/action="\/spam-model\/rollback"/g) ?? []).length, 2, 'a rollback form for every version but the one in use');
    assert.match(page.body, /name="confirm" value="yes" required/);

    const modelRecords = async (n: number) => readTopic(svc.kafka, t.spamModel, n, { settleMs: 300 });
    assert.equal((await alice.req('POST', '/spam-model/rollback', { csrf, version: v1.version })).status, 303);
    assert.match((await alice.req('GET', '/spam-model')).body, /tick &quot;I am sure&quot;/, 'unconfirmed: nothing done');
    assert.equal((await alice.req('POST', '/spam-model/rollback', { csrf, version: v3.version, confirm: 'yes' })).status, 303);
    assert.match((await alice.req('GET', '/spam-model')).body, /spam-model-rollback failed: .*not from a trusted key/);
    assert.equal((await modelRecords(2)).length, 2, 'neither the unconfirmed nor the untrusted rollback wrote to the model topic');

    assert.equal((await alice.req('POST', '/spam-model/rollback', { csrf, version: v1.version, confirm: 'yes' })).status, 303);
    const last = (await modelRecords(3)).at(-1)!;
    const first = (await modelRecords(1))[0]!;
    assert.equal(last.key, MODEL_KEY);
    assert.deepEqual(last.value, first.value, 'the very bytes (and signature) published for v1');
    assert.equal((await svc.codec.decodeAs<SpamModelRecord>(last.value, 'SpamModel')).version, v1.version);
    assert.ok(last.headers?.[ROLLBACK_HEADER], 'marked as a rollback for the learner');
    await eventually(async () => (await alice.req('GET', '/spam-model')).body.includes(`${v1.version} <span class="badge deliver">in use`) || undefined, 20000, 'v1 in use after the rollback');
    const events = (await audits(12)).filter((e) => e.action === 'spam-model-rollback');
    assert.deepEqual(events.map((e) => [e.actor, e.targets, e.detail, e.outcome.replace(/:.*/s, '')]), [['alice', [v3.version], `from=${v2.version}`, 'error'], ['alice', [v1.version], `from=${v2.version}`, 'ok']]);
  });

  it('spam model, per-recipient domains: roll back (previous or chosen version) and remove through the operator code, only when confirmed, for a known domain, by a logged-in operator, with a trusted signature; audited', async () => {
    // The global model in use now (v1 after the rollback above): residuals apply only on its line.
    const globals = (await readTopic(svc.kafka, t.spamModel, 3, { settleMs: 300 })).filter((r) => r.key === MODEL_KEY);
    const line = modelLine(await svc.codec.decodeAs<SpamModelRecord>(globals.at(-1)!.value, 'SpamModel'));
    const residual = (domain: string, version: string, previousVersion: string | null, base = line) =>
      testSpamModel({ version, source: 'learner', trainedAt: Date.now(), tokens: [['agenda', 0, 1]], domain: { name: domain, inUse: true, base, previousVersion, lastLabelAt: Date.now() } });
    const signed = (r: SpamModelRecord, key = trusted.privateKey) => encodeSignedModelRecord(svc.codec, t.spamModel, r, key);
    const [a1, a2, a3, a0, b1] = [
      await signed(residual('a.test', 'bayes-dom-a1', null)),
      await signed(residual('a.test', 'bayes-dom-a2', 'bayes-dom-a1')),
      await signed(residual('a.test', 'bayes-dom-a3', 'bayes-dom-a2'), foreign.privateKey), // signed by a key the console does not trust
      await signed(residual('a.test', 'bayes-dom-a0', null, 'bayes-other-line')), // learnt on another global line
      await signed(residual('b.test', 'bayes-dom-b1', null)),
    ];
    // As the learner publishes them: every version on the history (key domain:<name>@<version>), the newest on the model topic.
    await sendAll(svc.kafka, t.spamModelHistory, [
      { key: 'domain:a.test@bayes-dom-a1', ...a1 }, { key: 'domain:a.test@bayes-dom-a2', ...a2 }, { key: 'domain:a.test@bayes-dom-a3', ...a3 },
      { key: 'domain:a.test@bayes-dom-a0', ...a0 }, { key: 'domain:b.test@bayes-dom-b1', ...b1 },
    ]);
    await sendAll(svc.kafka, t.spamModel, [{ key: 'domain:a.test', ...a2 }, { key: 'domain:b.test', ...b1 }]);
    const modelRecords = async (n: number) => readTopic(svc.kafka, t.spamModel, n, { settleMs: 300 });
    assert.equal((await modelRecords(5)).length, 5, 'three global records, two domain records');

    const page = await eventually(async () => {
      const r = await alice.req('GET', '/spam-model');
      return r.body.includes('<td>a.test</td><td>bayes-dom-a2') && r.body.includes('<td>b.test</td>') && ['a1', 'a3', 'a0'].every((v) => r.body.includes(`<option value="bayes-dom-${v}">`)) ? r : undefined;
    }, 30000, 'both domains listed, a.test with its versions from the history topic');
    assert.equal((page.body.match(/action="\/spam-model\/domain\/rollback"/g) ?? []).length, 2, 'a rollback form per domain');
    assert.equal((page.body.match(/action="\/spam-model\/domain\/remove"/g) ?? []).length, 2, 'a remove form per domain');
    assert.match(page.body, /<option value="">its previous version \(bayes-dom-a1\)<\/option>/);
    assert.ok(!page.body.includes('<option value="bayes-dom-a2">'), 'the version in use is not offered');
    assert.doesNotMatch(page.body, /domain commands are CLI only|rolls back only the global/);
    const metrics = await svc.metrics.getSingleMetricAsString('scop_console_actions_total');
    for (const action of ['spam-domain-rollback', 'spam-domain-remove']) assert.match(metrics, new RegExp(`action="${action}",outcome="ok"[^}]*} 0`), `${action} counted from 0`);
    const csrf = Client.csrf(page.body);

    // Refused before anything is done: no session, a wrong token, a foreign Origin, an operator no longer in the users file.
    assert.equal((await new Client().req('POST', '/spam-model/domain/remove', { csrf, domain: 'b.test', confirm: 'yes' })).headers.location, '/login', 'no session');
    assert.equal((await alice.req('POST', '/spam-model/domain/remove', { csrf: 'x'.repeat(csrf.length), domain: 'b.test', confirm: 'yes' })).status, 403, 'wrong token');
    assert.equal((await alice.req('POST', '/spam-model/domain/rollback', { csrf, domain: 'a.test', confirm: 'yes' }, { Origin: 'https://evil.example' })).status, 403, 'foreign origin');
    const users = join(dir, 'console', 'users');
    await addOperator(users, 'viewer', PASSWORD);
    const viewer = new Client();
    assert.equal((await viewer.login('viewer', PASSWORD)).status, 303);
    const viewerCsrf = Client.csrf((await viewer.req('GET', '/spam-model')).body);
    assert.ok(removeOperator(users, 'viewer'));
    assert.equal((await viewer.req('POST', '/spam-model/domain/remove', { csrf: viewerCsrf, domain: 'b.test', confirm: 'yes' })).headers.location, '/login', 'a removed operator');
    assert.equal((await viewer.req('POST', '/spam-model/domain/rollback', { csrf: viewerCsrf, domain: 'a.test', confirm: 'yes' })).headers.location, '/login', 'a removed operator');

    // Unconfirmed: nothing done, the page says what to tick.
    assert.equal((await alice.req('POST', '/spam-model/domain/rollback', { csrf, domain: 'a.test' })).status, 303);
    assert.match((await alice.req('GET', '/spam-model')).body, /tick &quot;I am sure&quot; to roll back the model of a\.test/);
    assert.equal((await alice.req('POST', '/spam-model/domain/remove', { csrf, domain: 'b.test' })).status, 303);
    assert.match((await alice.req('GET', '/spam-model')).body, /tick &quot;I am sure&quot; to remove the model of b\.test/);
    // Errors that name the fix: an unknown domain, an untrusted signature, a version of another global line.
    const flash = async (form: Record<string, string>, path = '/spam-model/domain/rollback') => {
      assert.equal((await alice.req('POST', path, { csrf, confirm: 'yes', ...form })).status, 303);
      return (await alice.req('GET', '/spam-model')).body;
    };
    assert.match(await flash({ domain: 'nope.test' }), /spam-domain-rollback failed: .*no model for domain nope\.test on .* name a domain that has one \(scop spam models lists them; 2 domain models now\)/);
    assert.match(await flash({ domain: 'nope.test' }, '/spam-model/domain/remove'), /spam-domain-remove failed: .*no model for domain nope\.test on .* name a domain that has one/);
    assert.match(await flash({ domain: 'a.test', to: 'bayes-dom-a3' }), /spam-domain-rollback failed: version bayes-dom-a3 of a\.test on .* is refused: .*not from a trusted key/);
    assert.match(await flash({ domain: 'a.test', to: 'bayes-dom-a0' }), /spam-domain-rollback failed: .*learnt on the global model line bayes-other-line.* remove the domain&#39;s model instead/);
    assert.equal((await modelRecords(5)).length, 5, 'none of the refused, unconfirmed or failed requests wrote to the model topic');

    // Confirmed, no version chosen: the version the current one replaced, its original signed bytes with the rollback header.
    assert.match(await flash({ domain: 'a.test', to: '' }), /rolled back a\.test: bayes-dom-a2 → bayes-dom-a1/);
    const rolled = (await modelRecords(6)).filter((r) => r.key === 'domain:a.test').at(-1)!;
    assert.deepEqual(rolled.value, a1.value, 'the very bytes (and signature) published for bayes-dom-a1');
    assert.ok(rolled.headers?.[ROLLBACK_HEADER], 'marked as a rollback for the learner');
    // Remove: a tombstone with the rollback header (the learner drops the domain too).
    assert.match(await flash({ domain: 'b.test' }, '/spam-model/domain/remove'), /removed the model of b\.test \(bayes-dom-b1;/);
    const all = await modelRecords(7);
    assert.equal(all.length, 7);
    const tomb = all.filter((r) => r.key === 'domain:b.test').at(-1)!;
    assert.equal(tomb.value.length, 0, 'a tombstone');
    assert.ok(tomb.headers?.[ROLLBACK_HEADER], 'marked for the learner');
    await eventually(async () => {
      const r = await alice.req('GET', '/spam-model');
      return r.body.includes('<td>a.test</td><td>bayes-dom-a1') && !r.body.includes('<td>b.test</td>') ? r : undefined;
    }, 20000, 'a.test back at bayes-dom-a1, b.test gone');

    const events = (await audits(19)).filter((e) => e.action.startsWith('spam-domain-'));
    assert.deepEqual(events.map((e) => [e.action, e.actor, e.targets, e.outcome.replace(/:.*/s, '')]), [
      ['spam-domain-rollback', 'alice', ['nope.test'], 'error'],
      ['spam-domain-remove', 'alice', ['nope.test'], 'error'],
      ['spam-domain-rollback', 'alice', ['a.test'], 'error'],
      ['spam-domain-rollback', 'alice', ['a.test'], 'error'],
      ['spam-domain-rollback', 'alice', ['a.test'], 'ok'],
      ['spam-domain-remove', 'alice', ['b.test'], 'ok'],
    ], 'every confirmed request by alice, failed or not; nothing from the refused ones');
    assert.equal(events[4]!.detail, 'to=previous (bayes-dom-a1) from=bayes-dom-a2');
    assert.equal(events[5]!.detail, 'version=bayes-dom-b1');
    const after = await svc.metrics.getSingleMetricAsString('scop_console_actions_total');
    assert.match(after, /action="spam-domain-rollback",outcome="ok"[^}]*} 1/);
    assert.match(after, /action="spam-domain-rollback",outcome="error"[^}]*} 3/);
    assert.match(after, /action="spam-domain-remove",outcome="ok"[^}]*} 1/);
  });

  it('logout ends the session', async () => {
    const page = await alice.req('GET', '/history');
    await alice.req('POST', '/logout', { csrf: Client.csrf(page.body) });
    assert.equal((await alice.req('GET', '/history')).status, 303);
  });

  it('rebuild by replay: refused while the console runs; after a stop, empty tables and a restart give the same history back; logins survive the restart', async () => {
    const kept = new Client();
    assert.equal((await kept.login('alice', PASSWORD)).status, 303);
    const keptCsrf = Client.csrf((await kept.req('GET', '/history')).body);
    const before = (await consoleSvc.store.search({ limit: 500 })).rows.map((r) => r.id).sort();
    assert.ok(before.length >= 4);
    await assert.rejects(rebuildHistory(svc.kafka, consoleSvc.store, groupPrefix), /the console is running/);
    await consoleSvc.stop();
    const { SqliteHistoryStore } = await import('./store-sqlite.ts');
    const store = new SqliteHistoryStore(join(dir, 'console', 'history.db'));
    assert.ok((await rebuildHistory(svc.kafka, store, groupPrefix)).includes(`${groupPrefix}-history-decided`), 'the groups are deleted');
    assert.equal(await store.countMessages(), 0);
    await store.close();
    consoleSvc = await start();
    await eventually(async () => {
      const now = (await consoleSvc.store.search({ limit: 500 })).rows.map((r) => r.id).sort();
      return now.length === before.length ? now : undefined;
    }, 60000, 'the history replayed from the topics');
    assert.deepEqual((await consoleSvc.store.search({ limit: 500 })).rows.map((r) => r.id).sort(), before);
    assert.match((await kept.req('GET', '/dead-letters')).body, /bad magic byte/, 'still logged in after the restart; dead letters replayed too');
    // The CSRF token from before the restart is still the session's; logout removes the stored session.
    assert.equal((await kept.req('POST', '/logout', { csrf: keptCsrf })).headers.location, '/login');
    assert.equal((await kept.req('GET', '/history')).status, 303);
  });

  it('an operator removed from the users file is logged out at the next request', async () => {
    const file = join(dir, 'console', 'users');
    await addOperator(file, 'bob', PASSWORD);
    const bob = new Client();
    assert.equal((await bob.login('bob', PASSWORD)).status, 303);
    assert.equal((await bob.req('GET', '/history')).status, 200);
    assert.ok(removeOperator(file, 'bob'));
    assert.equal((await bob.req('GET', '/history')).status, 303);
    await addOperator(file, 'bob', PASSWORD);
    assert.equal((await bob.req('GET', '/history')).status, 303, 'the session was deleted, not just refused');
  });

  it('a viewer (read-only operator) sees every page without a write form; each write is refused (403), audited and counted, and writes nothing; a role change holds at the next request', async () => {
    const file = join(dir, 'console', 'users');
    await addOperator(file, 'vera', PASSWORD, 'viewer');
    const vera = new Client();
    assert.equal((await vera.login('vera', PASSWORD)).status, 303);
    const history = await vera.req('GET', '/history');
    assert.equal(history.status, 200);
    assert.match(history.body, /vera \(read-only\)/);
    const messageLink = /href="(\/message\/[^"]+)"/.exec(history.body)?.[1];
    assert.ok(messageLink, 'the history lists messages');
    const pages = ['/quarantine', '/dead-letters', '/spam-model', '/firewall', messageLink];
    for (const path of pages) {
      const page = await vera.req('GET', path);
      assert.equal(page.status, 200, path);
      const writeForms = [...page.body.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]).filter((a) => a !== '/logout');
      assert.deepEqual(writeForms, [], `${path}: no write form`);
    }
    const csrf = Client.csrf(history.body);
    const blocksBefore = (await readTopic(svc.kafka, t.blocklist, 0, { settleMs: 300 })).length;
    const feedbackBefore = (await readTopic(svc.kafka, t.feedback, 0, { settleMs: 300 })).length;
    const writes: [string, Record<string, string>][] = [
      ['/firewall/block', { prefix: '192.0.2.0/24', reason: 'viewer' }],
      ['/quarantine', { do: 'spam', id: messageLink.slice('/message/'.length) }],
      ['/spam-model/rollback', { version: 'bayes-0', confirm: 'yes' }],
      ['/dead-letters/redrive', { stage: 'mime', reason: 'x' }],
    ];
    for (const [path, form] of writes) {
      const r = await vera.req('POST', path, { csrf, ...form });
      assert.equal(r.status, 403, path);
      assert.match(r.body, /vera is a read-only operator \(role viewer\).*scop console users role vera operator/s, path);
    }
    assert.equal((await readTopic(svc.kafka, t.blocklist, 0, { settleMs: 300 })).length, blocksBefore, 'no block written');
    assert.equal((await readTopic(svc.kafka, t.feedback, 0, { settleMs: 300 })).length, feedbackBefore, 'no label written');
    const denied = await eventually(async () => {
      const events = await Promise.all((await readTopic(svc.kafka, t.audit, 0, { settleMs: 300 })).map((r) => svc.codec.decodeAs<AuditEvent>(r.value, 'AuditEvent')));
      const mine = events.filter((e) => e.action === 'write-denied' && e.actor === 'vera');
      return mine.length === writes.length ? mine : undefined;
    }, 20000, 'four write-denied audit events');
    assert.deepEqual(denied.map((e) => e.targets), writes.map(([p]) => [p]));
    assert.ok(denied.every((e) => e.outcome === 'error: read-only operator'));
    assert.match(await svc.metrics.getSingleMetricAsString('scop_console_actions_total'), /action="write-denied",outcome="error"[^}]*} 4/);

    // The role is read at each request: made an operator, the same session sees the forms.
    assert.ok(setOperatorRole(file, 'vera', 'operator'));
    const firewall = await vera.req('GET', '/firewall');
    assert.match(firewall.body, /action="\/firewall\/block"/);
    assert.doesNotMatch(firewall.body, /read-only/);
    assert.ok(setOperatorRole(file, 'vera', 'viewer'));
    assert.doesNotMatch((await vera.req('GET', '/firewall')).body, /action="\/firewall\/block"/);
    // A viewer may log out.
    assert.equal((await vera.req('POST', '/logout', { csrf })).headers.location, '/login');
  });

  it('the users file is looked up once per request, for a page and for a write (role and removal checked from the one lookup)', async () => {
    await addOperator(join(dir, 'console', 'users'), 'carol', PASSWORD);
    const carol = new Client();
    assert.equal((await carol.login('carol', PASSWORD)).status, 303);
    const lookups = mock.method(CredentialsView.prototype, 'current');
    try {
      const page = await carol.req('GET', '/firewall');
      assert.match(page.body, /action="\/firewall\/block"/, "an operator's page, with its write forms");
      assert.equal(lookups.mock.callCount(), 1, 'a page');
      const refused = await carol.req('POST', '/firewall/block', { csrf: Client.csrf(page.body), prefix: 'not a prefix' });
      assert.equal(refused.headers.location, '/firewall', 'the write got past the role check to the form check');
      assert.equal(lookups.mock.callCount(), 2, 'a write');
    } finally {
      lookups.mock.restore();
    }
  });

});

