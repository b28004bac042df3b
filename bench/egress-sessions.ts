/**
 * Egress delivery paths, each against its baseline in the same run:
 *   1. SMTP to one next hop (an smtp-server on loopback, as the tests use), 64 deliveries at once:
 *      baseline one session per message (EGRESS_SESSION_IDLE_MS=0, the former behaviour) vs the
 *      session pool (20 sessions, up to 100 messages each).
 *   2. Maildir: baseline one write batch per message (a folder fsync each) vs one writer shared
 *      by 64 deliveries at once (the folder fsync once per batch).
 *   3. The in-doubt bound (EGRESS_MAX_IN_DOUBT: transactions past their "." at once per process)
 *      against the pool without it, same run: to a loopback next hop (64 at once over 20
 *      sessions), and through a proxy that delays every packet 25 ms each way (a 50 ms-RTT MX;
 *      64 at once over 20 and over 64 sessions). Prints msg/s, the ratio to the unbounded run,
 *      CPU ms per message (sender and receiver share this process), the mean time in doubt and
 *      the most in doubt at once.
 * Prints messages per second and the ratio. Run: `npm run bench -- egress-sessions [messages]`
 * (`IN_DOUBT_ONLY=1`: part 3 only).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { Registry, type Histogram } from 'prom-client';
import { InDoubtGate, inDoubtMetrics } from '../egress/relay/in-doubt.ts';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { testMailRecord } from '../runtime/stage-testing.ts';
import { withTrace } from '../egress/relay/headers.ts';
import { deliverMaildir, MaildirWriter } from '../egress/relay/maildir.ts';
import { SmtpPool } from '../egress/relay/smtp-pool.ts';
import { ScriptedSmtp } from '../egress/relay/testing.ts';
import type { SmtpTarget } from '../egress/relay/transport.ts';

const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = 64;
const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40).replace(/(.{70})/g, '$1\r\n');
const records = Array.from({ length: N }, (_, i) => testMailRecord(`From: a@example.org\r\nTo: bob@example.net\r\nSubject: bench ${i}\r\n\r\n${body}\r\n`, { rcptTo: ['bob@example.net'] }));

/** Runs `one(i)` for i < n with CONCURRENCY at once; messages per second. */
async function rate(one: (i: number) => Promise<void>, n = N): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await one(next++);
  }));
  return n / ((performance.now() - t0) / 1000);
}

const smtp = new ScriptedSmtp();
await smtp.start();
const target: SmtpTarget = { host: '127.0.0.1', port: smtp.port, name: 'bench.test', starttls: 'off', tls: {}, timeoutMs: 30000 };
const sendAll = (pool: SmtpPool, to: SmtpTarget, n = N) => rate(async (i) => {
  const message = withTrace(records[i]!, { hostname: 'bench.test', protocol: 'SMTP', junk: false });
  const res = await pool.send(to, { from: 'a@example.org', recipients: ['bob@example.net'], use8BitMime: true, recordId: records[i]!.envelope.id }, message);
  if (res.outcomes[0]!.kind !== 'delivered') throw new Error(res.outcomes[0]!.reply);
}, n);
const smtpRun = async (pool: SmtpPool) => {
  const before = smtp.connections;
  const r = await sendAll(pool, target);
  pool.close();
  return { rate: r, sessions: smtp.connections - before };
};
if (!process.env.IN_DOUBT_ONLY) {
  const single = await smtpRun(new SmtpPool({ maxPerDestination: CONCURRENCY, maxMessages: 1, idleMs: 0 }));
  const pooled = await smtpRun(new SmtpPool({ maxPerDestination: 20, maxMessages: 100, idleMs: 5000 }));
  console.log(`SMTP, ${N} messages, ${CONCURRENCY} at once: one session per message ${single.rate.toFixed(0)} msg/s (${single.sessions} sessions); pooled ${pooled.rate.toFixed(0)} msg/s (${pooled.sessions} sessions) = ${(pooled.rate / single.rate).toFixed(2)}x`);

  // On the data folder's file system, not /tmp (often tmpfs, where fsync costs nothing).
  mkdirSync('.data', { recursive: true });
  const dir = mkdtempSync(join('.data', 'bench-maildir-'));
  try {
    const perMessage = await rate(async (i) => { await deliverMaildir(join(dir, 'a'), 'bench.test', records[i]!, ['bob@example.net'], false); });
    const writer = new MaildirWriter(join(dir, 'b'), 'bench.test');
    const batched = await rate(async (i) => { await writer.deliver(records[i]!, ['bob@example.net'], false); });
    console.log(`Maildir, ${N} messages, ${CONCURRENCY} at once: a folder fsync per message ${perMessage.toFixed(0)} msg/s; one per batch ${batched.toFixed(0)} msg/s = ${(batched / perMessage).toFixed(2)}x`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A TCP proxy to `port` that holds every chunk `oneWayMs` in each direction: a next hop 2 × oneWayMs away. */
async function delayProxy(port: number, oneWayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket) => {
    // Timers of one duration fire in the order they were set: the byte order is kept.
    from.on('data', (chunk) => setTimeout(() => { if (!to.destroyed) to.write(chunk); }, oneWayMs));
    from.on('end', () => setTimeout(() => to.end(), oneWayMs));
    from.on('error', () => to.destroy());
  };
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((ok) => { for (const s of sockets) s.destroy(); server.close(() => ok()); }),
  };
}

/** One pooled run with an in-doubt bound (`max`): msg/s, CPU ms per message, mean seconds in doubt, most in doubt at once. */
async function boundRun(to: SmtpTarget, sessions: number, max: number, n: number) {
  const registry = new Registry();
  const gate = new InDoubtGate({ max, metrics: inDoubtMetrics(registry) });
  const pool = new SmtpPool({ maxPerDestination: sessions, maxMessages: 100, idleMs: 5000 });
  const cpu0 = process.cpuUsage();
  const r = await sendAll(pool, { ...to, inDoubt: gate }, n);
  const cpu = process.cpuUsage(cpu0);
  pool.close();
  const h = (await (registry.getSingleMetric('scop_egress_in_doubt_seconds') as Histogram).get()).values;
  const sum = h.find((v) => v.metricName?.endsWith('_sum'))!.value;
  const count = h.find((v) => v.metricName?.endsWith('_count'))!.value;
  return { rate: r, cpuMs: (cpu.user + cpu.system) / 1000 / n, doubtMs: (1000 * sum) / count, peak: gate.peak };
}

const BOUNDS = [1000, 32, 16, 8, 4, 2, 1];
async function boundTable(label: string, to: SmtpTarget, sessions: number, n: number): Promise<void> {
  const rows: string[] = [];
  // Warm-up (JIT, sessions): the first run of a process would otherwise be the slow baseline.
  await boundRun(to, sessions, 1000, Math.min(n, 300));
  let base = 0;
  for (const max of BOUNDS) {
    const r = await boundRun(to, sessions, max, n);
    base ||= r.rate;
    rows.push(`  EGRESS_MAX_IN_DOUBT=${max === 1000 ? 'none' : max}: ${r.rate.toFixed(0)} msg/s = ${(r.rate / base).toFixed(2)}x, ${r.cpuMs.toFixed(2)} CPU ms/msg, in doubt ${r.doubtMs.toFixed(2)} ms mean, at most ${r.peak} at once`);
  }
  console.log(`${label}, ${n} messages, ${CONCURRENCY} at once over ${sessions} sessions:\n${rows.join('\n')}`);
}

await boundTable('In-doubt bound, loopback next hop', target, 20, N);
const proxy = await delayProxy(smtp.port, 25);
const far: SmtpTarget = { ...target, port: proxy.port };
const nFar = Math.max(64, Math.floor(N / 5));
await boundTable('In-doubt bound, next hop 50 ms away', far, 20, nFar);
await boundTable('In-doubt bound, next hop 50 ms away', far, 64, nFar);
await proxy.close();
await smtp.stop();
