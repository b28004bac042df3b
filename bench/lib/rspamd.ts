/**
 * Rspamd from Debian's package (`apt-get install rspamd`), started beside the pipeline for issue 15's
 * bar: scop's delivered/s against Rspamd's scan rate on the same box, same messages, same run.
 *
 * Configuration: Debian's /etc/rspamd with a private LOCAL_CONFDIR, RUNDIR, DBDIR and LOGDIR under the
 * given folder (nothing in /etc is changed; DBDIR keeps the compiled Hyperscan cache between runs, so
 * only the first start is slow). Only loopback: the normal worker and the controller on free
 * 127.0.0.1 ports, the proxy and the fuzzy storage off. DNS goes to the bench's own loopback DNS server
 * (the same one scop's auth stage asks), which knows no names: SPF, DKIM, DMARC and ARC run and get
 * NXDOMAIN quickly, like scop's; remote maps (maps.rspamd.com) resolve to nothing and their built-in
 * fallbacks load. Off, because they only query outside services scop has no counterpart for: rbl
 * (DNSBLs and SURBL), fuzzy_check, asn, emails, rspamd_update, dcc, clickhouse, elastic, metric_exporter.
 * Everything else of Debian's defaults is on (regexp/SpamAssassin-style rules, MIME checks, phishing,
 * hfilter, multimap, chartable, …). Bayes: a private redis-server on loopback (no persistence) when
 * Debian's redis-server is installed, trained with `rspamc learn_spam/learn_ham` before the timed scan;
 * without it Rspamd scans without Bayes and the bench says so. Redis-backed modules that are not the
 * classifier (ratelimit, greylist, neural, history, replies, reputation) stay off: no global redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../infra/ports.ts';

export const RSPAMD = '/usr/bin/rspamd';
export const RSPAMC = '/usr/bin/rspamc';
const REDIS = '/usr/bin/redis-server';
const OFF = ['rbl', 'fuzzy_check', 'asn', 'emails', 'rspamd_update', 'dcc', 'clickhouse', 'elastic', 'metric_exporter'];

/** Why Rspamd cannot run here, or undefined when it can. */
export function rspamdMissing(): string | undefined {
  const missing = [RSPAMD, RSPAMC].filter((b) => !existsSync(b));
  return missing.length ? `${missing.join(' and ')} not found: apt-get install -y rspamd (Debian's package) to compare against Rspamd` : undefined;
}

export interface RunningRspamd {
  normal: string;
  controller: string;
  /** Root pids of what was started by name (rspamd's main process, redis-server), for the CPU/RSS probe. */
  processes: Record<string, number[]>;
  bayes: boolean;
  stop(): Promise<void>;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill('SIGTERM');
  await new Promise((r) => { const t = setTimeout(() => { c.kill('SIGKILL'); r(null); }, 10000); c.once('exit', () => { clearTimeout(t); r(null); }); });
}

/** Resolves when something accepts a TCP connection on host:port, or fails after timeoutMs. */
async function waitForPort(port: number, timeoutMs: number, what: string, died: () => string | undefined): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => { const s = connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
    if (ok) return;
    const why = died();
    if (why) throw new Error(`${what} exited during start: ${why}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startRspamd(dir: string, dnsAddress: string): Promise<RunningRspamd> {
  for (const d of ['local.d', 'override.d', 'run', 'db', 'log', 'redis']) mkdirSync(join(dir, d), { recursive: true });
  const [normalPort, controllerPort] = [await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  const stop = async () => { for (const c of children.reverse()) await stopChild(c); };
  try {
    let bayes = false;
    if (existsSync(REDIS)) {
      const redisPort = await freePort();
      const redis = spawn(REDIS, ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', join(dir, 'redis'), '--protected-mode', 'yes'], { stdio: 'ignore' });
      children.push(redis);
      await waitForPort(redisPort, 15000, 'redis-server', () => (redis.exitCode !== null ? `code ${redis.exitCode}` : undefined));
      // min_learns: Bayes votes once it has learned this many of each class. The bench teaches 50 of
      // each; Rspamd skips a few (too few tokens), hence the margin.
      writeFileSync(join(dir, 'local.d', 'classifier-bayes.conf'), `servers = "127.0.0.1:${redisPort}";\nmin_learns = 30;\nautolearn = false;\n`);
      bayes = true;
    } else {
      writeFileSync(join(dir, 'local.d', 'classifier-bayes.conf'), '');
    }
    const files: Record<string, string> = {
      'override.d/worker-normal.inc': `bind_socket = "127.0.0.1:${normalPort}";\n`,
      // The controller takes learn_spam/learn_ham; 127.0.0.1 is in its default secure_ip.
      'override.d/worker-controller.inc': `bind_socket = "127.0.0.1:${controllerPort}";\n`,
      'override.d/worker-proxy.inc': 'enabled = false;\n',
      'override.d/worker-fuzzy.inc': 'enabled = false;\n',
      'local.d/options.inc': `dns { nameserver = ["${dnsAddress}"]; timeout = 0.5s; retransmits = 0; }\n`,
      'override.d/logging.inc': `type = "file";\nfilename = "${join(dir, 'log', 'rspamd.log')}";\nlevel = "error";\n`,
      ...Object.fromEntries(OFF.map((m) => [`override.d/${m}.conf`, 'enabled = false;\n'])),
    };
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    const vars = { LOCAL_CONFDIR: dir, RUNDIR: join(dir, 'run'), DBDIR: join(dir, 'db'), LOGDIR: join(dir, 'log') };
    // -u/-g root with -i: this box runs everything as root; the workers then run as root too (loopback only).
    const userArgs = process.getuid?.() === 0 ? ['-u', 'root', '-g', 'root', '-i'] : [];
    const main = spawn(RSPAMD, ['-f', ...userArgs, '-c', '/etc/rspamd/rspamd.conf', ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}=${v}`])], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(main);
    let err = '';
    main.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    // The first start compiles Hyperscan databases into DBDIR (tens of seconds on a loaded box).
    await waitForPort(normalPort, 180_000, 'rspamd', () => (main.exitCode !== null ? `code ${main.exitCode}: ${err}` : undefined));
    await waitForPort(controllerPort, 60_000, 'rspamd controller', () => (main.exitCode !== null ? `code ${main.exitCode}: ${err}` : undefined));
    const processes: Record<string, number[]> = { rspamd: [main.pid!] };
    if (bayes) processes.redis = [children[0]!.pid!];
    return { normal: `127.0.0.1:${normalPort}`, controller: `127.0.0.1:${controllerPort}`, processes, bayes, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Envelope given to Rspamd with each message: the same sender and recipient smtp-source gives scop's ingress. */
export interface ScanEnvelope { ip: string; helo: string; from: string; rcpt: string }

/** Runs `rspamc <command>` over these files (one process); resolves with its exit, fails on a non-zero exit. */
function rspamc(host: string, args: string[], files: string[]): Promise<{ out: string }> {
  return new Promise((ok, fail) => {
    const c = spawn(RSPAMC, ['-h', host, '-t', '30', ...args, ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 4_000_000) out = out.slice(-2_000_000); });
    c.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    c.once('exit', (code) => (code === 0 ? ok({ out }) : fail(new Error(`rspamc ${args[0] ?? ''} exited ${code}: ${err}`))));
  });
}

/** Teaches Bayes these spam and ham files through the controller (so BAYES_* symbols run in the scan). */
export async function trainBayes(r: RunningRspamd, spam: string[], ham: string[]): Promise<void> {
  await rspamc(r.controller, ['learn_spam'], spam);
  await rspamc(r.controller, ['learn_ham'], ham);
}

/**
 * Scans `files` (a file may repeat) with `parallel` rspamc processes, each taking an equal share, and
 * returns the wall time, the number of results Rspamd returned (a result block per file) and how many of
 * them carry a Bayes symbol (proof that the classifier ran, not only loaded).
 */
export async function scanParallel(r: RunningRspamd, files: string[], env: ScanEnvelope, parallel = 4): Promise<{ ms: number; scanned: number; bayesVotes: number }> {
  const shares = Array.from({ length: parallel }, (_, i) => files.filter((_, j) => j % parallel === i)).filter((s) => s.length);
  const args = ['symbols', '-i', env.ip, '--helo', env.helo, '-F', env.from, '-r', env.rcpt];
  const t0 = Date.now();
  const outs = await Promise.all(shares.map((s) => rspamc(r.normal, args, s)));
  const ms = Date.now() - t0;
  const scanned = outs.reduce((n, o) => n + (o.out.match(/^Action: /gm)?.length ?? 0), 0);
  const bayesVotes = outs.reduce((n, o) => n + (o.out.match(/^Symbol: BAYES_(?:SPAM|HAM)\b/gm)?.length ?? 0), 0);
  return { ms, scanned, bayesVotes };
}
