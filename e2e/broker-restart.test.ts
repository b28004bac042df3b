/**
 * No silent stalls: every inbound stage runs as `scop run <service>` (its own process, as `scop
 * start` runs it) against a broker of this test's own. Mail flows; the broker is stopped gracefully
 * (SIGTERM) for about 10 s and started again. Every stage must resume by itself — no process
 * restarted by anyone — every message must be delivered, each stage's output must hold every
 * message exactly once, and every service's /healthz must tell the truth throughout: 503 while the
 * broker is away, 200 once the mail flows again.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { startLocalKafka, type LocalKafka } from '../infra/kafka/broker.ts';
import { freePort } from '../infra/ports.ts';
import { createKafkaClient, type KafkaSettings } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { produce, readTopic, testMailRecord } from '../runtime/stage-testing.ts';
import { eventually, testKafka, testRegistry, uniqueName } from '../runtime/testing.ts';
import { applyTopics, TOPICS } from '../runtime/topics.ts';
import type { DeliveryStatus, MailRecord } from '../schemas/types.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'cli', 'main.ts');
const SERVICES = ['egress', 'decision', 'firewall', 'spam', 'auth', 'mime'] as const;
const log = loggerFor('broker-restart-test');

const dir = join(ROOT, '.data', 'e2e', uniqueName('broker-restart'));
const dns = new TestDnsServer();
let broker: LocalKafka;
let brokerOpts: { dataDir: string; port: number; controllerPort: number };
let settings: KafkaSettings;
const children = new Map<string, { child: ChildProcess; metrics: string; exited: boolean }>();

before(async () => {
  mkdirSync(dir, { recursive: true });
  await dns.start();
  brokerOpts = { dataDir: join(dir, 'kafka'), port: await freePort(), controllerPort: await freePort() };
  broker = await startLocalKafka(brokerOpts);
  settings = { ...testKafka('broker-restart'), brokers: [broker.bootstrap] };
  const admin = createKafkaClient(settings).admin();
  await admin.connect();
  await applyTopics(admin);
  await admin.disconnect();
});

after(async () => {
  for (const c of children.values()) if (!c.exited) c.child.kill('SIGTERM');
  await Promise.all([...children.values()].map((c) => c.exited ? undefined : new Promise((r) => c.child.once('exit', r))));
  await broker?.stop();
  await dns.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startService(name: string): Promise<void> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: broker.bootstrap, SCHEMA_REGISTRY_URL: testRegistry().url, SCOP_DATA_DIR: join(dir, 'scop'),
    [`${name.toUpperCase().replace(/-/g, '_')}_METRICS_PORT`]: String(port),
    DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '500', DNS_RETRIES: '0',
    SCOP_STALL_TIMEOUT_MS: '10000', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    // Every message is delivered (spam to the Junk folder): the test counts deliveries.
    DECISION_SPAM_ACTION: 'junk', DECISION_REPUTATION_QUARANTINE: 'off',
  };
  const child = fork(MAIN, ['run', name], { cwd: ROOT, env, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const entry = { child, metrics: `127.0.0.1:${port}`, exited: false };
  child.once('exit', (code, signal) => { entry.exited = true; log.warn({ name, code, signal }, 'service exited'); });
  children.set(name, entry);
  await new Promise<void>((ok, fail) => {
    child.on('message', (m: { type?: string }) => { if (m?.type === 'ready') ok(); });
    child.once('exit', (code) => fail(new Error(`${name} exited during start-up (${code})`)));
  });
}

async function healthz(name: string): Promise<number> {
  try {
    const res = await fetch(`http://${children.get(name)!.metrics}/healthz`, { signal: AbortSignal.timeout(3000) });
    await res.text();
    return res.status;
  } catch {
    return 0; // no answer counts as not ready
  }
}

/** The record ids with a `delivered` outcome on mail.delivery.log so far. */
async function deliveredIds(): Promise<Set<string>> {
  const codec = new RecordCodec(testRegistry());
  const kafka = createKafkaClient({ ...settings, clientId: 'broker-restart-reader' });
  const got = await readTopic(kafka, TOPICS.deliveryLog.name, 1, { settleMs: 2000, timeoutMs: 5000 }).catch(() => []);
  const ids = new Set<string>();
  for (const r of got) {
    const s = await codec.decodeAs<DeliveryStatus>(r.value, 'DeliveryStatus');
    if (s.status === 'delivered') ids.add(s.recordId);
  }
  return ids;
}

test('a graceful broker stop of ~10 s while mail flows: every stage resumes by itself, nothing is lost, /healthz tells the truth', { timeout: 600000 }, async () => {
  // Downstream first, as scop start does.
  for (const name of SERVICES) await startService(name);
  const kafka = createKafkaClient({ ...settings, clientId: 'broker-restart-producer' });
  const codec = new RecordCodec(testRegistry());
  const mail = (n: number, tag: string) => Array.from({ length: n }, (_, i) => testMailRecord(
    `From: a${i}@sender.test\r\nTo: rcpt@example.net\r\nSubject: ${tag} ${i}\r\nMessage-ID: <${tag}-${i}@test>\r\n\r\nHello ${i}, lunch tomorrow?\r\n`,
    { clientIp: `198.51.${(i * 7) % 250}.10`, rcptTo: ['rcpt@example.net'] },
  ));
  const first = mail(60, 'before');
  const second = mail(40, 'after');
  const all = [...first, ...second];

  // Health, every 500 ms, for every service, from now to the end.
  const samples: { at: number; name: string; status: number }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const at = Date.now();
      await Promise.all(SERVICES.map(async (name) => samples.push({ at, name, status: await healthz(name) })));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  try {
    await eventually(async () => ((await Promise.all(SERVICES.map(healthz))).every((s) => s === 200) ? true : undefined), 120000, 'every service ready');
    await produce(kafka, codec, TOPICS.inboundRaw.name, 'MailRecord', first.map((record) => ({ record })));
    // Mail in flight through the stages: stop the broker once the first deliveries are done.
    await eventually(async () => ((await deliveredIds()).size > 0 ? true : undefined), 180000, 'the first deliveries');
    const stoppedAt = Date.now();
    await broker.stop(); // SIGTERM: graceful
    log.warn('broker stopped');
    await new Promise((r) => setTimeout(r, 10000));
    broker = await startLocalKafka(brokerOpts);
    const restartedAt = Date.now();
    log.warn({ downMs: restartedAt - stoppedAt }, 'broker started again');
    await produce(kafka, codec, TOPICS.inboundRaw.name, 'MailRecord', second.map((record) => ({ record })));

    const want = new Set(all.map((r) => r.envelope.id));
    await eventually(async () => {
      const got = await deliveredIds();
      return [...want].every((id) => got.has(id)) ? true : undefined;
    }, 300000, `all ${all.length} messages delivered`);
    await eventually(async () => ((await Promise.all(SERVICES.map(healthz))).every((s) => s === 200) ? true : undefined), 120000, 'every service ready again');

    for (const [name, c] of children) assert.equal(c.exited, false, `${name} kept running: nobody restarted it`);
    // Each stage wrote every message exactly once (read_committed).
    for (const topic of [TOPICS.inboundParsed.name, TOPICS.inboundAuthenticated.name, TOPICS.inboundScored.name, TOPICS.inboundScreened.name, TOPICS.inboundDecided.name]) {
      const out = await readTopic(kafka, topic, all.length, { settleMs: 1000, timeoutMs: 30000 });
      const ids = await Promise.all(out.map(async (r) => (await codec.decodeAs<MailRecord>(r.value, 'MailRecord')).envelope.id));
      assert.equal(ids.length, new Set(ids).size, `${topic}: no duplicates`);
      assert.deepEqual(new Set(ids), want, `${topic}: every message`);
    }
    // /healthz told the truth: not ready while the broker was away, ready before and after.
    const settle = 15000;
    for (const name of SERVICES) {
      const mine = samples.filter((s) => s.name === name);
      const during = mine.filter((s) => s.at >= stoppedAt && s.at <= restartedAt + settle);
      assert.ok(during.some((s) => s.status === 503), `${name}: /healthz said not ready while the broker was away (${during.map((s) => s.status).join(',')})`);
      assert.ok(mine.filter((s) => s.at < stoppedAt).some((s) => s.status === 200), `${name}: ready before`);
      assert.equal(mine.at(-1)?.status, 200, `${name}: ready after`);
    }
  } finally {
    polling = false;
    await poller;
  }
});
