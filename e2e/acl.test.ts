/**
 * The Kafka ACLs of SECURITY.md, tested: a broker of our own with SASL/SCRAM and the KRaft
 * authorizer (nothing allowed that no ACL allows), one principal per service with exactly the ACLs
 * of infra/kafka/acls.ts, and every service run under its principal with the production topic and
 * group names (`scop start`'s wiring, cli/services.ts).
 *
 *  - allowed what it must: a message sent to the MX listener goes ingress → mime → auth → spam →
 *    firewall → decision (→ quarantine, released by the operator's principal) → egress into the
 *    Maildir; a submission is signed by dkim-sign onto mail.outbound.signed; scop's registry runs
 *    on its `_schemas` topic under its own principal;
 *  - refused what it must not: every principal writing any topic outside its list (e.g. the spam
 *    stage writing mail.outbound.raw, the egress writing spam.model) is refused by the broker, and
 *    reading sensitive topics outside its list (the egress reading unsigned outbound mail) too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { defaultQuarantineTopics, listHeld, releaseHeld } from '../runtime/operator/quarantine.ts';
import { SERVICES, SYMBOL_CATALOG } from '../cli/services.ts';
import { registerSchemas } from '../cli/start.ts';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { ACCESS, aclBindings, applyAcls } from '../infra/kafka/acls.ts';
import { startLocalKafka, type LocalKafka } from '../infra/kafka/broker.ts';
import { freePort } from '../infra/ports.ts';
import { startRegistry, type RunningRegistry } from '../infra/registry/start-registry.ts';
import { addUser } from '../ingress/users.ts';
import { swaks } from '../ingress/testkit.ts';
import { generateKey } from '../processors/dkim-sign/keys.ts';
import { createKafkaClient, type KafkaClient, type KafkaSettings } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';
import type { RunningService, SymbolsContext } from '../runtime/service.ts';
import { readTopic } from '../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import { allTopics, applyTopics, TOPICS, type TopicKey } from '../runtime/topics.ts';
import type { MailRecord } from '../schemas/types.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dir = join(ROOT, '.data', 'e2e', uniqueName('acl'));
const skip = existsSync('/usr/bin/swaks') ? false : 'needs swaks';
const passwords: Record<string, string> = Object.fromEntries(['admin', ...ACCESS.map((a) => a.principal)].map((u) => [u, randomBytes(12).toString('hex')]));
const dns = new TestDnsServer();
let broker: LocalKafka;
let registry: RunningRegistry;
const running: RunningService[] = [];
const clients: KafkaClient[] = [];
let ports: { mx: number; submission: number };

const settingsFor = (principal: string): KafkaSettings => ({
  brokers: [broker.bootstrap], clientId: principal,
  sasl: { mechanism: 'scram-sha-512', username: principal, password: passwords[principal]! },
});
const clientFor = (principal: string) => {
  const c = createKafkaClient(settingsFor(principal));
  clients.push(c);
  return c;
};
const isAuthError = (e: unknown) => /not authorized|authorization failed/i.test(String((e as Error)?.message ?? e)) || /AUTHORIZATION_FAILED/.test(String((e as { type?: string })?.type));

before(async () => {
  if (skip) return;
  mkdirSync(dir, { recursive: true });
  broker = await startLocalKafka({ dataDir: join(dir, 'kafka'), port: await freePort(), controllerPort: await freePort(), heap: '384m', sasl: { users: passwords } });
  const admin = createKafkaClient({ brokers: [broker.bootstrap], clientId: 'acl-admin', sasl: broker.adminSasl }).admin();
  await admin.connect();
  // Production names, one partition each (fewer transactional producers to start; the ACLs are the same).
  await applyTopics(admin, allTopics().map((t) => ({ ...t, partitions: 1 })));
  await applyAcls(admin, aclBindings());
  await admin.disconnect();

  // ACLs reach the broker's authorizer through the metadata log: wait until one is in force.
  registry = await eventually(async () => startRegistry({ host: '127.0.0.1', port: 0, kafka: settingsFor('scop-registry'), topic: '_schemas' }).catch(() => undefined), 30000, 'the registry under its principal');
  await registerSchemas(new RecordCodec({ url: registry.url }));

  await dns.start();
  ports = { mx: await freePort(), submission: await freePort() };
  const dkimDir = join(dir, 'dkim');
  mkdirSync(join(dkimDir, 'acl.test'), { recursive: true });
  writeFileSync(join(dkimDir, 'acl.test', 'e1.pem'), generateKey('ed25519').pem, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    INGRESS_HOSTNAME: 'mx.acl.test', INGRESS_MX_PORT: String(ports.mx), INGRESS_SUBMISSION_PORT: String(ports.submission), INGRESS_REVERSE_DNS: 'false', INGRESS_LOCAL_DOMAINS: 'acl.test',
    DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '300', DNS_RETRIES: '0', AUTH_SERVID: 'mx.acl.test',
    EGRESS_MAILDIR: join(dir, 'maildir'), EGRESS_HOSTNAME: 'mx.acl.test', EGRESS_DNS_SERVERS: `127.0.0.1:${dns.port}`, EGRESS_DNS_TIMEOUT_MS: '300', EGRESS_RETRY_DELAYS: '3600,3600,3600',
    DKIM_KEY_DIR: dkimDir, DKIM_SENDERS: '{"alice@acl.test":["acl.test"]}',
    MATRIX_HOMESERVER_URL: '',
    CONSOLE_PORT: String(await freePort()),
  };
  await addUser(join(dir, 'scop', 'ingress', 'users'), 'alice@acl.test', 'correct horse battery');
  // Each service under its own principal, as `scop start` wires it (cli/services.ts), in its start order.
  for (const def of SERVICES) {
    const principal = `scop-${def.name}`;
    assert.ok(passwords[principal], `${principal} is in the ACL table`);
    const ctx: SymbolsContext = {
      kafka: clientFor(principal), kafkaSettings: settingsFor(principal), registry: { url: registry.url }, codec: new RecordCodec({ url: registry.url }),
      log: loggerFor(`acl-${def.name}`), metrics: new Registry(), env, dataDir: join(dir, 'scop'), symbols: SYMBOL_CATALOG,
    };
    running.push(await def.start(ctx));
  }
});

after(async () => {
  if (skip) return;
  for (const r of running.reverse()) await r.stop().catch(() => {});
  for (const c of clients) c.sever();
  await registry?.close();
  await dns.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('every service under its own principal', { skip }, () => {
  test('allowed what it must: inbound mail through every stage to the Maildir (released by the operator if held), a submission signed', { timeout: 240000 }, async () => {
    const codec = new RecordCodec({ url: registry.url });
    const reader = createKafkaClient({ brokers: [broker.bootstrap], clientId: 'acl-reader', sasl: broker.adminSasl });
    clients.push(reader);
    const inbound = await swaks(['--server', `127.0.0.1:${ports.mx}`, '--from', 'carol@example.net', '--to', 'bob@acl.test', '--header', 'Subject: lunch', '--body', 'Lunch tomorrow at noon? Carol']);
    assert.equal(inbound.code, 0, inbound.out);
    const [decided] = await readTopic(reader, TOPICS.inboundDecided.name, 1, { settleMs: 0, timeoutMs: 150000 });
    const record = await codec.decodeAs<MailRecord>(decided!.value, 'MailRecord');
    assert.equal(record.envelope.id, inbound.recordId);
    assert.ok(record.mime && record.auth && record.spam && record.firewall && record.decision, 'every stage added its section');
    if (!['deliver', 'junk'].includes(record.decision.action)) {
      // Held: the operator's principal may read the quarantine and release it to the egress.
      const operator = { kafka: clientFor('scop-operator'), codec };
      const topics = defaultQuarantineTopics();
      const held = await eventually(async () => (await listHeld(operator.kafka, codec, topics)).find((h) => h.record.envelope.id === inbound.recordId), 60000, 'the held message');
      await releaseHeld(operator.kafka, codec, topics, held, 'operator');
    }
    const box = join(dir, 'maildir', 'bob@acl.test');
    await eventually(() => (['new', '.Junk/new'].some((d) => existsSync(join(box, d)) && readdirSync(join(box, d)).some((f) => f.includes(inbound.recordId!))) ? true : undefined), 60000, 'the inbound message in the Maildir');

    const sub = await swaks(['--server', `127.0.0.1:${ports.submission}`, '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@acl.test', '--auth-password', 'correct horse battery', '--from', 'alice@acl.test', '--to', 'dave@example.net', '--header', 'From: alice@acl.test']);
    assert.equal(sub.code, 0, sub.out);
    const signed = await readTopic(reader, TOPICS.outboundSigned.name, 1, { settleMs: 0, timeoutMs: 120000 });
    const out = await codec.decodeAs<MailRecord>(signed[0]!.value, 'MailRecord');
    assert.equal(out.envelope.id, sub.recordId);
    assert.deepEqual(out.dkimSign!.signatures.map((s) => s.domain), ['acl.test']);
  });

  test('refused what it must not: writes outside each principal\'s list', { timeout: 180000 }, async () => {
    const topics = Object.keys(TOPICS) as TopicKey[];
    const checked: string[] = [];
    await Promise.all(ACCESS.map(async (a) => {
      const producer = clientFor(a.principal).producer();
      await producer.connect();
      try {
        for (const k of topics.filter((t) => !a.write.includes(t))) {
          const err = await producer.send({ topic: TOPICS[k].name, acks: -1, messages: [{ key: 'acl-test', value: Buffer.from('forged') }] }).then(() => null, (e: unknown) => e);
          assert.ok(err && isAuthError(err), `${a.principal} could write ${TOPICS[k].name}: ${String(err)}`);
          checked.push(`${a.principal} ✗ ${TOPICS[k].name}`);
        }
      } finally {
        await producer.disconnect();
      }
    }));
    // The examples of the threat model, among them:
    for (const must of ['scop-spam ✗ mail.outbound.raw', 'scop-egress ✗ spam.model', 'scop-egress ✗ mail.outbound.raw', 'scop-spam ✗ spam.model', 'scop-mime ✗ mail.delivery.requests', 'scop-decision ✗ mail.outbound.signed', 'scop-matrix-notifier ✗ firewall.blocklist', 'scop-ingress ✗ mail.outbound.signed']) {
      assert.ok(checked.includes(must), must);
    }
    assert.equal(checked.length, ACCESS.reduce((n, a) => n + topics.length - a.write.length, 0), 'every principal × every topic outside its list');
  });

  test('refused what it must not: reading sensitive topics outside its list', { timeout: 120000 }, async () => {
    // (The egress reads both raw topics: later records refer to the raw there, MailRecord.rawRef.)
    const cases: [string, TopicKey][] = [['scop-decision', 'inboundRaw'], ['scop-spam', 'outboundRaw'], ['scop-matrix-notifier', 'inboundRaw'], ['scop-dkim-sign', 'inboundRaw'], ['scop-ingress', 'quarantine'], ['scop-mime', 'spamFeedback']];
    await Promise.all(cases.map(async ([principal, k]) => {
      const consumer = clientFor(principal).consumer({ groupId: `${principal}-acl-probe-${randomBytes(3).toString('hex')}` });
      try {
        let onCrash!: (e: unknown) => void;
        const crashed = new Promise<unknown>((ok) => { onCrash = ok; });
        const err = await consumer.run({
          topics: [TOPICS[k].name], fromBeginning: true, onCrash,
          eachBatch: async (b) => { if (b.records.length) throw new Error(`${principal} read a record of ${TOPICS[k].name}`); },
        }).then(() => Promise.race([crashed, new Promise((ok) => setTimeout(() => ok(null), 30000))]), (e: unknown) => e);
        assert.ok(err && isAuthError(err), `${principal} could read ${TOPICS[k].name}: ${String(err)}`);
      } finally {
        await consumer.stop().catch(() => {});
      }
    }));
  });
});
