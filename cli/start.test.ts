/**
 * `npm start` as a user runs it: from nothing to the `ready` line with a local Kafka and registry;
 * a service killed with SIGKILL is restarted and the pipeline delivers again; then Ctrl-C (SIGINT)
 * stops everything it started and leaves no process behind. Also the one-line config errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { createTransport } from 'nodemailer';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { freePort } from '../infra/ports.ts';
import { eventually } from '../runtime/testing.ts';
import { SERVICES } from './services.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'cli', 'main.ts');

/** Env without the test stack's settings, so `scop start` starts its own servers. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.KAFKA_BROKERS;
  delete env.SCHEMA_REGISTRY_URL;
  return env;
}

function runScop(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => { clearTimeout(t); ok({ code, stdout, stderr }); });
  });
}

const canConnect = (hostPort: string) => new Promise<boolean>((ok) => {
  const i = hostPort.lastIndexOf(':');
  const s = connect(Number(hostPort.slice(i + 1)), hostPort.slice(0, i).replace(/^\[|\]$/g, ''));
  s.once('connect', () => { s.destroy(); ok(true); });
  s.once('error', () => ok(false));
});

/** Processes whose command line mentions `marker` (our data dir): none may survive a stop. */
function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try { if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker)) pids.push(Number(d)); } catch { /* gone */ }
  }
  return pids;
}

/** The pid of `scop run <service>` forked by `parent`. */
function servicePid(parent: number, service: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(`${MAIN}\0run\0${service}\0`)) return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}

const maildirHas = (root: string, text: string): boolean => {
  if (!existsSync(root)) return false;
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && readFileSync(join(e.parentPath, e.name), 'latin1').includes(text)) return true;
  }
  return false;
};

describe('scop start', () => {
  // Generous: on a loaded 2-core box the broker and Apicurio alone took 100 s, and the nine services 3 more minutes.
  it('reaches ready with Kafka and the registry, lists every endpoint, and Ctrl-C leaves nothing running', { timeout: 600000 }, async () => {
    const dataDir = mkdtempSync(join(ROOT, '.data', 'start-test-'));
    // The authentication stage's lookups go to a local DNS server (nothing leaves loopback).
    const dns = await new TestDnsServer().start(await freePort());
    dns.add('example.com', { type: 'TXT', data: 'v=spf1 ip4:127.0.0.0/8 -all' });
    const env = cleanEnv({
      DNS_SERVERS: dns.address, EGRESS_DNS_SERVERS: dns.address, INGRESS_REVERSE_DNS: 'false',
      START_METRICS_PORT: String(await freePort()),
      // Restarts quickly enough for a test; the defaults are in the README.
      SCOP_RESTART_INITIAL_MS: '500',
      SCOP_DATA_DIR: dataDir,
      SCOP_KAFKA_PORT: String(await freePort()),
      SCOP_KAFKA_CONTROLLER_PORT: String(await freePort()),
      SCOP_KAFKA_METRICS_PORT: String(await freePort()),
      CONSOLE_PORT: String(await freePort()),
      SCOP_REGISTRY_PORT: String(await freePort()),
      INGRESS_MX_PORT: String(await freePort()),
      INGRESS_SUBMISSION_PORT: String(await freePort()),
    });
    // Every service's metrics port too, so this run never clashes with a running `npm start`.
    for (const s of SERVICES) env[s.metricsPortEnv] = String(await freePort());
    const t0 = Date.now();
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((ok) => p.on('exit', (c) => ok(c)));
    const ready = await new Promise<string>((ok, fail) => {
      const t = setTimeout(() => {
        // Stop what it started: a failed run must not leave a stack behind.
        p.kill('SIGINT');
        fail(new Error(`no ready line within 480 s; stdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-2000)}`));
      }, 480000);
      p.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('ready '));
        if (line && /SCHEMA_REGISTRY_URL=/.test(out)) { clearTimeout(t); ok(line); }
      });
      p.once('exit', (c) => fail(new Error(`scop start exited (${c}) before ready:\n${out.slice(-3000)}\n${err.slice(-2000)}`)));
    }).catch(async (e: unknown) => {
      // Not ready in time: stop what it started (Kafka, registry, services) rather than leave it running.
      if (p.exitCode === null) { p.kill('SIGINT'); await exited; }
      throw e;
    });
    const startupMs = Date.now() - t0;
    const { node, 'local-domains': localDomains, replication, ...endpoints } = Object.fromEntries(ready.slice('ready '.length).trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
    assert.equal(localDomains, 'example.net,example.test(demo)', 'without INGRESS_LOCAL_DOMAINS the MX accepts the demo domains, and says so');
    assert.equal(replication, '1/1(warning:too-few-brokers)', 'one local broker: one copy, and the ready line says so');
    // Every service runs on the Node the project pins (package.json's `node` dependency), not the machine's.
    const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.node;
    assert.equal(node, `v${pinned}`, 'the ready line names the pinned Node');
    assert.equal(process.version, `v${pinned}`, 'npm test itself runs on the pinned Node');
    // SCOP_INBOUND=fused by default: the inbound chain is one service, not five.
    assert.ok(endpoints['metrics-inbound'] && !endpoints['metrics-mime'], 'the inbound chain runs fused by default');
    const health = (await (await fetch(`http://${endpoints['metrics-inbound']}/healthz`)).json()) as { node?: string };
    assert.equal(health.node, `v${pinned}`, 'a forked service runs on the pinned Node');
    assert.equal(endpoints.kafka, `127.0.0.1:${env.SCOP_KAFKA_PORT}`);
    assert.equal(endpoints.registry, `127.0.0.1:${env.SCOP_REGISTRY_PORT}`);
    for (const [name, hp] of Object.entries(endpoints)) for (const one of hp.split(',')) assert.ok(await canConnect(one), `${name} at ${one} accepts connections`);
    const registryUrl = /SCHEMA_REGISTRY_URL=(\S+)/.exec(out)?.[1];
    assert.ok(registryUrl?.includes(endpoints.registry!), 'the registry URL is printed for SCHEMA_REGISTRY_URL');
    const subjects = (await (await fetch(`${registryUrl}/subjects`)).json()) as string[];
    assert.ok(subjects.includes('mail.inbound.raw-value'), 'schemas registered at start-up');
    assert.ok(existsSync(join(dataDir, 'kafka', 'kafka.pid')));
    assert.ok(processesMentioning(dataDir).length > 0, 'the local Kafka runs with this data dir');

    // A service killed outright comes back, the restart is counted, and mail flows through it again.
    const inboundPid = servicePid(p.pid!, 'inbound');
    assert.ok(inboundPid, 'the fused inbound service runs as a child of scop start');
    const killedAt = Date.now();
    process.kill(inboundPid, 'SIGKILL');
    const restarted = await eventually(() => { const pid = servicePid(p.pid!, 'inbound'); return pid && pid !== inboundPid ? pid : undefined; }, 60000, 'the inbound service to be restarted');
    const startMetrics = await (await fetch(`http://${endpoints['metrics-start']}/metrics`)).text();
    assert.match(startMetrics, /scop_supervisor_restarts_total\{service="inbound",reason="SIGKILL"[^}]*\} 1/);
    await eventually(async () => ((await fetch(`http://${endpoints['metrics-inbound']}/healthz`).catch(() => undefined))?.ok ? true : undefined), 240000, 'the restarted inbound service to be healthy');
    const subject = `after a SIGKILL ${Date.now()}`;
    const smtp = createTransport({ host: '127.0.0.1', port: Number(env.INGRESS_MX_PORT), secure: false, ignoreTLS: true });
    await smtp.sendMail({ envelope: { from: 'alice@example.com', to: 'bob@example.net' }, raw: `From: alice@example.com\r\nTo: bob@example.net\r\nSubject: ${subject}\r\nMessage-ID: <${Date.now()}@example.com>\r\n\r\nstill there?\r\n` });
    await eventually(() => (maildirHas(join(dataDir, 'maildir'), subject) ? true : undefined), 240000, 'delivery to the Maildir after the restart');
    console.log(`# scop start: inbound SIGKILLed, restarted as pid ${restarted}; a message sent after it was delivered ${Date.now() - killedAt} ms after the kill`);

    const beforeStop = out.length;
    p.kill('SIGINT');
    assert.equal(await exited, 0, `clean exit after Ctrl-C; stderr:\n${err.slice(-2000)}`);
    assert.doesNotMatch(out.slice(beforeStop), /exited unexpectedly/, 'Ctrl-C restarts nothing');
    assert.deepEqual(processesMentioning(dataDir), [], 'no process of this run is left');
    for (const [name, hp] of Object.entries(endpoints)) for (const one of hp.split(',')) assert.equal(await canConnect(one), false, `${name} at ${one} is closed`);
    console.log(`# scop start: ready after ${startupMs} ms`);
    await dns.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('config errors are one clear line naming the setting, with a non-zero exit', async () => {
    const bad = await runScop(['start'], { ...cleanEnv({}), KAFKA_BROKERS: 'not a broker list' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr.trim(), /^config error: KAFKA_BROKERS: must be a comma-separated list of host:port \(got "not a broker list"\) — /);
    assert.equal(bad.stderr.trim().split('\n').length, 1, 'exactly one line, no stack trace');

    // A well-formed but unreachable broker is waited for (it may be starting), with a log line per
    // attempt naming KAFKA_BROKERS, up to SCOP_KAFKA_WAIT_MS; then the same one-line error, exit 2.
    const closed = await freePort();
    const t0 = Date.now();
    const unreachable = await runScop(['start'], { ...cleanEnv({}), KAFKA_BROKERS: `127.0.0.1:${closed}`, SCOP_KAFKA_WAIT_MS: '4000' });
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr.trim(), new RegExp(`^config error: KAFKA_BROKERS: no broker at 127.0.0.1:${closed} answered a metadata request within 4000 ms of waiting`));
    assert.equal(unreachable.stderr.trim().split('\n').length, 1);
    const waits = unreachable.stdout.split('\n').filter((l) => l.includes('waiting for Kafka'));
    assert.ok(waits.length >= 2, `one log line per attempt:\n${unreachable.stdout}`);
    assert.match(waits[0]!, new RegExp(`KAFKA_BROKERS=127\\.0\\.0\\.1:${closed}`));
    assert.ok(Date.now() - t0 >= 3000, 'it waited before giving up');

    const noRegistry = await runScop(['start'], { ...cleanEnv({}), KAFKA_BROKERS: process.env.KAFKA_BROKERS!, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${closed}` });
    assert.equal(noRegistry.code, 2);
    assert.match(noRegistry.stderr.trim(), /^config error: SCHEMA_REGISTRY_URL: the schema registry at http:\/\/127\.0\.0\.1:\d+ did not answer/);

    const badPort = await runScop(['start'], { ...cleanEnv({}), SCOP_KAFKA_PORT: '99999' });
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr.trim(), /^config error: SCOP_KAFKA_PORT: .*\(got "99999"\) — a free TCP port/);
  });
});
