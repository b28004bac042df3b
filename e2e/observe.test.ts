/**
 * What operators look at, end to end on the real stack: `scop start` (its own Kafka with the JMX
 * exporter, registry, every service and the console) in a fresh data dir, a real Prometheus
 * (Debian's) scraping it with the generated config, and Debian's Chromium driven by playwright-core.
 *
 *  1. the console in a browser: log in, find a message sent through SMTP by its subject, open its
 *     page, release a quarantined message and see it delivered (console and Maildir), mark one as
 *     spam and see the label on spam.feedback, roll the spam model back to the version a newer one
 *     replaced (confirmed) and see it in use again; screenshots under .data/screenshots/;
 *  2. every query of every panel of every dashboard returns data from Prometheus (no error, at least
 *     one finite value), the alert rules evaluate without error, and the dead letter we caused fires
 *     ScopDeadLetters;
 *  3. the overview dashboard rendered from Prometheus's data into .data/screenshots/overview.png.
 *
 * Traffic comes in two waves a few scrapes apart, so rates and histogram quantiles see increases.
 */
import { INBOUND_CHAIN } from '../runtime/topology.ts';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { freePort } from '../infra/ports.ts';
import { prometheusAvailable, startLocalPrometheus, type LocalPrometheus } from '../infra/prometheus.ts';
import { addUser } from '../ingress/users.ts';
import { generateKey } from '../processors/dkim-sign/keys.ts';
import { createKafkaClient } from '../runtime/kafka.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { TOPICS } from '../runtime/topics.ts';
import { SERVICES } from '../cli/services.ts';
import { targetsFromReadyLine } from '../cli/observe.ts';
import { addOperator } from '../console/users.ts';
import { rulesFile } from '../observability/alerts.ts';
import { DASHBOARDS, OVERVIEW } from '../observability/dashboards.ts';
import { queriesOf } from '../observability/panels.ts';
import { prometheusConfig, toYaml } from '../observability/prometheus.ts';
import { queryRange } from '../observability/prom-api.ts';
import { dashboardData, dashboardHtml } from '../observability/render.ts';
import type { SpamFeedback } from '../schemas/types.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'cli', 'main.ts');
const CHROMIUM = process.env.SCOP_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, '.data', 'screenshots');
const skip = !prometheusAvailable() ? 'needs Debian\'s prometheus package (infra/debian-packages.txt)' : !existsSync('/usr/bin/swaks') ? 'needs swaks' : false;
const noBrowser = skip || (!existsSync(CHROMIUM) ? 'needs Debian\'s chromium package (infra/debian-packages.txt)' : false);

const dir = join(ROOT, '.data', 'e2e', uniqueName('observe'));
const OPERATOR = { name: 'ops', password: 'observe e2e operator password' };
const dns = new TestDnsServer();
let scop: ChildProcess | undefined;
let prom: LocalPrometheus | undefined;
let endpoints: Record<string, string> = {};
let readyLine = '';
let registryUrl = '';
const t0 = Date.now();
const tag = uniqueName('obs');
/** Subjects and the record ids the ingress gave them. */
const sent = new Map<string, string>();

const rawMessage = (subject: string, body: string, attachment?: string) => Buffer.from([
  'From: Carol <carol@example.com>', 'To: bob@example.net', `Subject: ${subject}`, `Message-ID: <${uniqueName('m')}@example.com>`, 'Date: Sun, 06 Dec 2026 10:00:00 +0000', 'MIME-Version: 1.0',
  ...(attachment
    ? ['Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain; charset=utf-8', '', body, '--b1', `Content-Type: application/octet-stream; name="${attachment}"`, `Content-Disposition: attachment; filename="${attachment}"`, 'Content-Transfer-Encoding: base64', '', Buffer.from('MZ\x90\x00 not really a program').toString('base64'), '--b1--']
    : ['Content-Type: text/plain; charset=utf-8', '', body]),
  '',
].join('\r\n'));

async function swaks(args: string[], data?: Buffer): Promise<string> {
  const file = join(dir, `${uniqueName('msg')}.eml`);
  if (data) writeFileSync(file, data);
  const r = await run('swaks', ['--server', '127.0.0.1', '--timeout', '30', ...args, ...(data ? ['--data', `@${file}`] : [])], { maxBuffer: 4 * 1024 * 1024 }).catch((e: { stdout: string; stderr: string }) => ({ stdout: e.stdout, stderr: e.stderr }));
  return r.stdout + r.stderr;
}

const idFrom = (out: string) => /250[ -].*?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(out)?.[1];

async function sendInbound(subject: string, body: string, attachment?: string): Promise<string> {
  const out = await swaks(['--port', endpoints['smtp-mx']!.split(':')[1]!, '--helo', 'client.example.com', '--from', 'carol@example.com', '--to', 'bob@example.net'], rawMessage(subject, body, attachment));
  const id = idFrom(out);
  assert.ok(id, `accepted: ${out.slice(-400)}`);
  sent.set(subject, id);
  return id;
}

async function sendOutbound(subject: string): Promise<void> {
  const out = await swaks(['--port', endpoints['smtp-submission']!.split(':')[1]!, '--tls', '--auth', 'PLAIN', '--auth-user', 'alice@example.com', '--auth-password', 'alice password 1',
    '--helo', 'laptop.example.com', '--from', 'alice@example.com', '--to', 'someone@nowhere.example', '--header', `Subject: ${subject}`, '--body', 'outbound test']);
  assert.ok(idFrom(out), `submission accepted: ${out.slice(-600)}`);
}

/** One SMTP session with a malformed HELO: the ingress answers 501 to MAIL FROM (a counted rejection). */
async function badHelo(): Promise<void> {
  const [host, port] = endpoints['smtp-mx']!.split(':');
  await new Promise<void>((ok, fail) => {
    const s = connect(Number(port), host);
    let buf = '';
    let step = 0;
    s.on('data', (d) => {
      buf += d;
      if (step === 0 && /^220 /m.test(buf)) { step = 1; s.write('EHLO -bad-\r\n'); }
      // The ingress checks the HELO argument when the transaction starts.
      if (step === 1 && /^250 /m.test(buf)) { step = 2; s.write('MAIL FROM:<carol@example.com>\r\n'); }
      if (/^5\d\d /m.test(buf)) { s.end('QUIT\r\n'); ok(); }
    });
    s.on('error', fail);
    setTimeout(() => fail(new Error(`no 5xx to a bad HELO: ${buf}`)), 10000).unref();
  });
}

async function wave(n: number): Promise<void> {
  for (let i = 0; i < 3; i++) await sendInbound(`${tag} hello ${n}.${i}`, `Hi Bob, this is message ${n}.${i}. Lunch tomorrow?`);
  // Over SPAM_INLINE_MAX_CHARS (32 KiB): tokenized in the spam stage's worker pool (the CPU pool panels).
  await sendInbound(`${tag} newsletter ${n}`, Array.from({ length: 4000 }, (_, i) => `item ${i} of the long newsletter`).join(' '));
  await sendInbound(`${tag} invoice ${n}`, 'Please open the attached invoice.', 'invoice.pdf.exe');
  await sendOutbound(`${tag} outbound ${n}`);
  await badHelo();
  // A record no stage can decode: the first reader of mail.inbound.raw (the fused chain, or the MIME stage alone) dead-letters it (decode-error).
  const producer = createKafkaClient({ brokers: [endpoints.kafka!], clientId: 'observe-test' }).producer();
  await producer.connect();
  await producer.send({ topic: TOPICS.inboundRaw.name, acks: -1, messages: [{ key: `garbage-${n}`, value: Buffer.from('not an avro record') }] });
  await producer.disconnect();
}

const maildirFiles = () => {
  const root = join(dir, 'maildir');
  const out: string[] = [];
  const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) { if (e.isDirectory()) walk(join(d, e.name)); else out.push(join(d, e.name)); } };
  if (existsSync(root)) walk(root);
  return out;
};
const delivered = (subject: string) => maildirFiles().some((f) => readFileSync(f, 'latin1').includes(`Subject: ${subject}`));

before(async () => {
  if (skip) return;
  mkdirSync(dir, { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  await dns.start(await freePort());
  dns.add('example.com', { type: 'TXT', data: 'v=spf1 ip4:127.0.0.0/8 -all' });
  dns.add('_dmarc.example.com', { type: 'TXT', data: 'v=DMARC1; p=none' });
  const key = generateKey('ed25519');
  mkdirSync(join(dir, 'dkim', 'example.com'), { recursive: true });
  writeFileSync(join(dir, 'dkim', 'example.com', 's1.pem'), key.pem, { mode: 0o600 });
  await addUser(join(dir, 'ingress', 'users'), 'alice@example.com', 'alice password 1');
  await addOperator(join(dir, 'console', 'users'), OPERATOR.name, OPERATOR.password);

  const env: NodeJS.ProcessEnv = {
    ...process.env, SCOP_DATA_DIR: dir, SCOP_LOCAL_REGISTRY: 'scop', LOG_LEVEL: 'warn',
    SCOP_KAFKA_PORT: String(await freePort()), SCOP_KAFKA_CONTROLLER_PORT: String(await freePort()), SCOP_KAFKA_METRICS_PORT: String(await freePort()), SCOP_REGISTRY_PORT: String(await freePort()),
    INGRESS_MX_PORT: String(await freePort()), INGRESS_SUBMISSION_PORT: String(await freePort()), INGRESS_REVERSE_DNS: 'false', INGRESS_USERS_FILE: join(dir, 'ingress', 'users'),
    DNS_SERVERS: dns.address, EGRESS_DNS_SERVERS: dns.address, DKIM_KEY_DIR: join(dir, 'dkim'), CONSOLE_PORT: String(await freePort()),
  };
  delete env.KAFKA_BROKERS;
  delete env.SCHEMA_REGISTRY_URL;
  for (const s of SERVICES) env[s.metricsPortEnv] = String(await freePort());
  env.START_METRICS_PORT = String(await freePort()); // scop start's own /metrics (restarts)
  const log = createWriteStream(join(dir, 'scop-start.log'));
  scop = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  scop.stderr!.pipe(log);
  readyLine = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`scop start: no ready line within 480 s (see ${join(dir, 'scop-start.log')})`)), 480000);
    scop!.stdout!.on('data', (d: Buffer) => {
      log.write(d);
      if (registryUrl) return;
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('ready '));
      const url = /SCHEMA_REGISTRY_URL=(\S+)/.exec(out)?.[1];
      if (line && url) { clearTimeout(timer); registryUrl = url; out = ''; ok(line); }
    });
    scop!.once('exit', (c) => fail(new Error(`scop start exited (${c}) before ready (see ${join(dir, 'scop-start.log')})`)));
  });
  endpoints = Object.fromEntries(readyLine.slice(6).trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
  prom = await startLocalPrometheus({
    dir: join(dir, 'prometheus'), port: await freePort(),
    config: toYaml(prometheusConfig(targetsFromReadyLine(readyLine), { scrapeInterval: '2s' })),
    files: { 'alerts.yml': toYaml(rulesFile()) },
  });
  await wave(1);
  await new Promise((r) => setTimeout(r, 10000)); // a few scrapes between the waves
  await wave(2);
  await eventually(() => (delivered(`${tag} hello 2.2`) ? true : undefined), 120000, 'the second wave delivered to the Maildir');
});

after(async () => {
  await prom?.stop();
  if (scop && scop.exitCode === null) {
    const exited = new Promise((r) => scop!.once('exit', r));
    scop.kill('SIGINT');
    const t = setTimeout(() => scop!.kill('SIGKILL'), 60000);
    await exited;
    clearTimeout(t);
  }
  await dns.stop();
  if (!process.env.SCOP_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

test('the console in a real browser: log in, find a message by subject, release one from quarantine and see it delivered, mark one as spam, roll the spam model back', { skip: noBrowser, timeout: 300000 }, async () => {
  const { chromium } = await import('playwright-core');
  const profile = join(dir, 'chromium-profile');
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    const base = `https://${endpoints.console}`;
    const csp: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });

    await page.goto(`${base}/history`);
    assert.match(page.url(), /\/login$/, 'not logged in: the login page');
    await page.getByLabel('Operator').fill(OPERATOR.name);
    await page.getByLabel('Password').fill('wrong password, on purpose');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong name or password.').waitFor();
    await page.getByLabel('Operator').fill(OPERATOR.name);
    await page.getByLabel('Password').fill(OPERATOR.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/history/);
    await page.screenshot({ path: join(SHOTS, 'console-history.png') });

    // Find a message sent through SMTP by its subject, open its page.
    const subject = `${tag} hello 1.1`;
    await eventually(async () => {
      await page.goto(`${base}/history`);
      await page.getByLabel('Subject / From words').fill(subject);
      await page.getByRole('button', { name: 'Search' }).click();
      return (await page.getByRole('link', { name: subject }).count()) === 1 ? true : undefined;
    }, 60000, 'the message in the history search');
    await page.getByRole('link', { name: subject }).click();
    await page.getByRole('heading', { name: subject }).waitFor();
    const text = await page.locator('main').innerText();
    assert.match(text, new RegExp(sent.get(subject)!), 'the record id');
    assert.match(text, /MAIL FROM\s+<carol@example\.com>/);
    assert.match(text, /Lunch tomorrow\?/, 'the text preview');
    assert.match(text, /auth|spam|firewall/, 'stage sections');
    await eventually(async () => { await page.reload(); return /delivered/.test(await page.locator('#delivery').innerText()) ? true : undefined; }, 60000, 'its delivery outcome');
    await page.screenshot({ path: join(SHOTS, 'console-message.png'), fullPage: true });

    // Release the first wave's quarantined invoice and see it delivered.
    const invoice = `${tag} invoice 1`;
    await page.goto(`${base}/quarantine`);
    await eventually(async () => { await page.reload(); return (await page.getByRole('link', { name: invoice }).count()) ? true : undefined; }, 60000, 'the invoice held in quarantine');
    await page.screenshot({ path: join(SHOTS, 'console-quarantine.png'), fullPage: true });
    await page.getByLabel(`select ${invoice}`).check();
    await page.getByRole('button', { name: 'Release selected' }).click();
    await page.getByText('released 1 message(s)').waitFor();
    await eventually(() => (delivered(invoice) ? true : undefined), 60000, 'the released invoice in the Maildir');
    await page.goto(`${base}/message/${sent.get(invoice)}`);
    await eventually(async () => { await page.reload(); return /delivered/.test(await page.locator('#delivery').innerText()) ? true : undefined; }, 60000, 'the release\'s delivery on the message page');
    assert.match(await page.locator('#decision').innerText(), /MIME_DOUBLE_EXTENSION\{invoice\.pdf\.exe\}/, 'the reason it was held: the symbol');
    await page.screenshot({ path: join(SHOTS, 'console-message-released.png'), fullPage: true });

    // Mark the second invoice as spam: the label is on spam.feedback.
    const spam = `${tag} invoice 2`;
    await page.goto(`${base}/quarantine`);
    await eventually(async () => { await page.reload(); return (await page.getByRole('link', { name: spam }).count()) ? true : undefined; }, 60000, 'the second invoice held');
    await page.getByLabel(`select ${spam}`).check();
    await page.getByRole('button', { name: 'Mark spam' }).click();
    await page.getByText('marked 1 message(s) spam').waitFor();
    const kafka = createKafkaClient({ brokers: [endpoints.kafka!], clientId: 'observe-test' });
    const codec = new RecordCodec({ url: registryUrl });
    const label = await eventually(async () => {
      const { readCompactedTopic } = await import('../runtime/compacted-topic.ts');
      const { loggerFor } = await import('../runtime/log.ts');
      const latest = await readCompactedTopic(kafka, TOPICS.spamFeedback.name, loggerFor('observe-test'));
      const v = latest.get(sent.get(spam)!);
      return v ? codec.decodeAs<SpamFeedback>(v, 'SpamFeedback') : undefined;
    }, 30000, 'the label on spam.feedback');
    assert.equal(label.label, 'spam');
    assert.equal(label.source, `console:${OPERATOR.name}`);
    await page.goto(`${base}/message/${sent.get(spam)}`);
    await eventually(async () => { await page.reload(); return /Label on spam\.feedback\s+spam/.test(await page.locator('main').innerText()) ? true : undefined; }, 30000, 'the label on the message page');

    // Spam model rollback: a second version (signed with the stack's key) replaces the default model;
    // the model page rolls back to the default one, confirmed, and it is in use again.
    const { loadModelKeys } = await import('../runtime/model-signature.ts');
    const { publishModel } = await import('../processors/spam/model-topic.ts');
    const { train } = await import('../processors/spam/evaluate.ts');
    const next = train(Array.from({ length: 40 }, (_, i) => ({ tokens: [`t${i % 9}`, i % 2 ? 'prize' : 'minutes'], label: i % 2 ? 'spam' as const : 'ham' as const }))).toData({ source: 'observe-test', trainedAt: Date.now() });
    await publishModel(kafka, codec, next, loadModelKeys({ env: {}, dataDir: dir, needSigning: true }).signing!);
    const inUse = (version: string) => page.locator('tbody tr', { hasText: version }).filter({ hasText: 'in use' });
    await page.goto(`${base}/spam-model`);
    await eventually(async () => { await page.reload(); return (await inUse(next.version).count()) ? true : undefined; }, 60000, 'the new version in use');
    const older = page.locator('tbody tr').filter({ has: page.getByRole('button', { name: 'Roll back to this version' }) }).first();
    const previous = (await older.locator('td').first().innerText()).trim();
    await older.getByLabel('I am sure').check();
    await older.getByRole('button', { name: 'Roll back to this version' }).click();
    await page.getByText(`→ ${previous}`).waitFor();
    await eventually(async () => { await page.reload(); return (await inUse(previous).count()) ? true : undefined; }, 60000, 'the earlier version in use again');
    await page.screenshot({ path: join(SHOTS, 'console-spam-model.png'), fullPage: true });
    assert.deepEqual(csp, [], 'no Content-Security-Policy violation on any page');
  } finally {
    await browser.close();
  }
});

/** Logs in over HTTPS and runs two searches a few seconds apart (the console's search-time panel). */
async function consoleSearches(): Promise<void> {
  const [host, port] = endpoints.console!.split(':');
  const call = (method: string, path: string, cookie: string, form?: Record<string, string>) => new Promise<{ status: number; cookies: string[]; body: string }>((ok, fail) => {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const r = request({ host, port, path, method, rejectUnauthorized: false, headers: { Cookie: cookie, ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', Origin: `https://${endpoints.console}` } : {}) } }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => ok({ status: res.statusCode!, cookies: [res.headers['set-cookie'] ?? []].flat().map((c) => c.split(';')[0]!), body: b }));
    });
    r.on('error', fail);
    r.end(body);
  });
  const form = await call('GET', '/login', '');
  const login = await call('POST', '/login', form.cookies.join('; '), { csrf: /name="csrf" value="([^"]+)"/.exec(form.body)![1]!, user: OPERATOR.name, password: OPERATOR.password });
  const session = login.cookies.find((c) => c.startsWith('__Host-scop-console='))!;
  assert.ok(session, 'logged in');
  await call('GET', `/history?subject=${encodeURIComponent(tag)}`, session);
  await new Promise((r) => setTimeout(r, 5000));
  await call('GET', `/history?sender=example.com`, session);
}

/** Dashboards whose queries need a component this test does not run: the query must work and its metrics exist. */
const FUSED_MEMBERS = new Set((process.env.SCOP_INBOUND ?? 'fused') === 'fused' ? INBOUND_CHAIN.members.map((m) => `scop-${m}`) : []);
const FIRST_READER = FUSED_MEMBERS.size ? 'inbound' : 'mime';
const NOT_RUN: Record<string, string> = {
  'scop-matrix-notifier': 'the Matrix notifier is disabled without MATRIX_HOMESERVER_URL (egress/matrix tests run it against a real Synapse)',
};

/**
 * Metrics that move only on an event this stack never has: their panels' queries must run without
 * error, and show data in a deployment where the event happens.
 */
const EVENT_ONLY: Record<string, string> = {
  scop_egress_in_doubt_seconds: 'the egress delivers to a Maildir here and the outbound domain does not exist: no SMTP "." is ever in doubt (egress/relay tests measure it)',
  scop_egress_in_doubt_wait_seconds: 'as scop_egress_in_doubt_seconds',
  scop_spam_learner_label_to_model_seconds: 'one console label is too few for the learner to publish a version (SPAM_LEARNER_PUBLISH_LABELS)',
};

test('every panel query of every dashboard returns data from the real Prometheus; the alert rules evaluate, and a dead letter fires ScopDeadLetters', { skip, timeout: 300000 }, async () => {
  await consoleSearches();
  // Let Prometheus scrape what the waves and searches did, and evaluate the rules a few times.
  await new Promise((r) => setTimeout(r, 8000));
  const names = new Set(((await (await fetch(`${prom!.url}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data);
  const failures: string[] = [];
  let checked = 0;
  let eventOnly = 0;
  for (const d of DASHBOARDS) {
    for (const q of queriesOf(d)) {
      checked++;
      const r = await queryRange(prom!.url, q.expr, { start: t0, end: Date.now(), stepS: 2, rateInterval: '30s' });
      if (!r.ok) { failures.push(`${q.where}: query error ${r.error} — ${q.expr}`); continue; }
      // Fused (SCOP_INBOUND's default) the chain's members run inside scop-inbound: their stage panels have
      // data, their process panels (component="mime", …) have none — the inbound dashboard shows that process.
      const memberProcess = FUSED_MEMBERS.has(d.uid) && /component="/.test(q.expr);
      if ((NOT_RUN[d.uid] && /scop_stage_/.test(q.expr)) || memberProcess) {
        const missing = [...q.expr.matchAll(/\b(scop_[a-z_]+?)(?:_bucket)?\b/g)].map((m) => m[1]!).filter((n) => !names.has(n) && !names.has(`${n}_bucket`));
        if (missing.length) failures.push(`${q.where}: no metric ${missing.join(', ')}`);
        continue;
      }
      const metrics = [...q.expr.matchAll(/\b(scop_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!);
      if (metrics.length && metrics.every((m) => EVENT_ONLY[m])) { eventOnly++; continue; }
      const finite = r.series.some((s) => s.points.some(([, v]) => Number.isFinite(v)));
      if (!finite) failures.push(`${q.where}: ${r.series.length ? 'only NaN' : 'no data'} — ${q.expr}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${checked} panel queries failed`);
  console.log(`# ${checked - eventOnly} panel queries of ${DASHBOARDS.length} dashboards returned data; ${eventOnly} event-only queries (${Object.keys(EVENT_ONLY).join(', ')}) ran without error`);

  const rules = (await (await fetch(`${prom!.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
  const all = rules.data.groups.flatMap((g) => g.rules);
  assert.equal(all.length, rulesFile().groups[0]!.rules.length);
  for (const r of all) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
  const alerts = await eventually(async () => {
    const a = (await (await fetch(`${prom!.url}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
    // The first reader of mail.inbound.raw dead-letters it: the fused chain, or the MIME stage run alone.
    return a.data.alerts.find((x) => x.labels.alertname === 'ScopDeadLetters' && x.labels.stage === FIRST_READER && x.labels.reason === 'decode-error' && x.state === 'firing');
  }, 30000, `ScopDeadLetters firing for ${FIRST_READER}`);
  assert.ok(alerts);
  // scop start's series name the service they are about (ScopServiceRestarting groups by it), not the scrape target.
  const supervised = (await (await fetch(`${prom!.url}/api/v1/query?query=${encodeURIComponent('scop_supervisor_service_up')}`)).json()) as { data: { result: { metric: Record<string, string> }[] } };
  const named = supervised.data.result.map((r) => r.metric.service);
  assert.ok(named.includes('ingress') && !named.includes('start'), `scop_supervisor_service_up by service: ${named.join(', ')}`);
  const down = (await (await fetch(`${prom!.url}/api/v1/query?query=${encodeURIComponent('up{job=~"scop-.*"} == 0')}`)).json()) as { data: { result: unknown[] } };
  assert.deepEqual(down.data.result, [], 'every target is up');
});

test('the overview dashboard rendered from Prometheus into a PNG', { skip: noBrowser, timeout: 120000 }, async () => {
  const { chromium } = await import('playwright-core');
  const end = Date.now();
  const rows = await dashboardData(prom!.url, OVERVIEW, { start: t0 + 30000, end, stepS: 2, rateInterval: '30s' });
  const html = dashboardHtml(OVERVIEW, rows, `rendered from a real Prometheus scraping \`scop start\` during e2e/observe.test.ts (${new Date(end).toISOString().slice(0, 16)}Z)`);
  writeFileSync(join(SHOTS, 'overview.html'), html);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.setContent(html);
    await page.waitForSelector('body[data-rendered="yes"]');
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  assert.ok(rows.flatMap((r) => r.panels).every((p) => p.series.length > 0), 'every overview panel has a series');
});
