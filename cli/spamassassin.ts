/**
 * SpamAssassin side by side (`scop spam eval --loco` runs it): Debian's `spamassassin` with its shipped
 * rules, local tests only (-L: no DNS, no network), no Bayes, no auto-learning, no user config. A
 * private `spamd` on loopback does the work (one Perl start instead of one per message) and `spamc -c`
 * asks it for each message's score. SpamAssassin scores ~10 messages/s per core, so it runs on a
 * deterministic sample of each held-out corpus (every k-th message, at most SA_SAMPLE per class), and
 * its scores are cached under .data/spam-sa/.
 *
 * Install: `apt-get install spamassassin spamd spamc` (not needed by any test: the LOCO test skips SA).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const SA_CACHE_DIR = '.data/spam-sa';
/** Messages per class and corpus that SpamAssassin scores. */
export const SA_SAMPLE = 200;

export function spamAssassinInstalled(): boolean {
  return existsSync('/usr/sbin/spamd') && existsSync('/usr/bin/spamc');
}

/** Every k-th message of each class, at most `perClass` of each: the same sample every run. */
export function sampleIndices(labels: readonly string[], perClass = SA_SAMPLE): number[] {
  const out: number[] = [];
  for (const label of new Set(labels)) {
    const idx = labels.flatMap((l, i) => (l === label ? [i] : []));
    const step = Math.max(1, Math.ceil(idx.length / perClass));
    for (let j = 0; j < idx.length; j += step) out.push(idx[j]!);
  }
  return out.sort((a, b) => a - b);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface SpamAssassinRunner {
  /** SpamAssassin's score of one raw message. */
  score(raw: Buffer): Promise<number>;
  stop(): Promise<void>;
}

/** Starts a private spamd on loopback: shipped rules, -L (local tests only), Bayes and auto-learn off. */
export async function startSpamAssassin(children = 2): Promise<SpamAssassinRunner> {
  const dir = join(SA_CACHE_DIR, 'site');
  mkdirSync(dir, { recursive: true });
  // Debian's site config (plugin .pre files) plus our overrides; no network tests, no Bayes.
  const site = '/etc/spamassassin';
  for (const f of ['init.pre', 'v310.pre', 'v312.pre', 'v320.pre', 'v330.pre', 'v340.pre', 'v341.pre', 'v342.pre', 'v343.pre', 'v400.pre', 'v401.pre']) {
    if (existsSync(join(site, f))) writeFileSync(join(dir, f), readFileSync(join(site, f)));
  }
  writeFileSync(join(dir, 'local.cf'), 'use_bayes 0\nbayes_auto_learn 0\nuse_auto_whitelist 0\nskip_rbl_checks 1\ndns_available no\nuse_razor2 0\nuse_pyzor 0\n');
  const port = await freePort();
  const child: ChildProcess = spawn('/usr/sbin/spamd', ['-L', `--listen=127.0.0.1:${port}`, `--max-children=${children}`, '--min-children=1', '--nouser-config', `--siteconfigpath=${dir}`, '--username=nobody', '--syslog=stderr', '-q', '-x'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`spamd exited (${child.exitCode}): ${log}`);
    if (/server started on/i.test(log)) break;
    if (Date.now() - started > 120_000) { child.kill(); throw new Error(`spamd did not start in 120 s: ${log}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    score: (raw) => new Promise((resolve, reject) => {
      const c = spawn('/usr/bin/spamc', ['-d', '127.0.0.1', '-p', String(port), '-c', '-s', String(16 * 1024 * 1024), '-t', '120'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      c.on('error', reject);
      c.on('close', () => {
        const m = /^(-?[\d.]+)\//.exec(out.trim());
        if (m) resolve(Number(m[1])); else reject(new Error(`spamc gave "${out.trim()}"`));
      });
      c.stdin.on('error', () => undefined);
      c.stdin.end(raw);
    }),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

/**
 * SpamAssassin's scores for the messages at `indices` of a corpus, cached per corpus in
 * .data/spam-sa/<corpus>.json (message id → score).
 */
export async function spamAssassinScores(corpus: string, messages: { id: string; raw: () => Buffer }[], indices: number[], runner: () => Promise<SpamAssassinRunner>, onProgress?: (done: number, total: number) => void): Promise<Map<string, number>> {
  mkdirSync(SA_CACHE_DIR, { recursive: true });
  const file = join(SA_CACHE_DIR, `${corpus}.json`);
  const cache = new Map<string, number>(existsSync(file) ? Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>) : []);
  const todo = indices.filter((i) => !cache.has(messages[i]!.id));
  if (todo.length > 0) {
    const sa = await runner();
    let done = indices.length - todo.length;
    let next = 0;
    const save = () => writeFileSync(file, JSON.stringify(Object.fromEntries(cache)));
    try {
      await Promise.all([0, 1].map(async () => {
        while (next < todo.length) {
          const m = messages[todo[next++]!]!;
          cache.set(m.id, await sa.score(m.raw()));
          if (++done % 50 === 0) save();
          onProgress?.(done, indices.length);
        }
      }));
    } finally {
      save();
    }
  }
  return new Map(indices.map((i) => [messages[i]!.id, cache.get(messages[i]!.id)!]));
}
