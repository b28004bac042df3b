/**
 * The console's history search over a large history (default 1,000,000 messages): loads synthetic
 * but realistically skewed rows (Zipf-like senders, domains, subject words; 30 days; 85% deliver)
 * into the SQLite store — and the PostgreSQL store with --pg, on a throwaway loopback cluster —
 * then times each kind of search the console offers (median and worst of several runs; each
 * returns one page of 100). The baseline, measured in the same run, is the same subject search
 * done as an unindexed scan (LIKE '%word%' over every row), what a naive history would do.
 *
 *   npm run bench -- history-search [--rows 1000000] [--pg | --pg-only] [--runs 7] [--keep <dir>]
 *
 * --keep <dir>: the databases live in <dir> and stay there; a later run with the same --keep and
 * --rows searches them again without loading (a million rows take long to load on a small box).
 *
 * Target: every search under 200 ms at 1 M rows.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { freePort } from '../infra/ports.ts';
import { postgresAvailable, startLocalPostgres } from '../infra/postgres.ts';
import { PgHistoryStore } from '../console/store-pg.ts';
import { SqliteHistoryStore } from '../console/store-sqlite.ts';
import type { HistoryStore, MessageRow, SearchFilter } from '../console/store.ts';

const arg = (name: string, def: number) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? Number(process.argv[i + 1]) : def; };
const ROWS = arg('rows', 1_000_000);
const RUNS = arg('runs', 7);
const PG = process.argv.includes('--pg') || process.argv.includes('--pg-only');
const SQLITE = !process.argv.includes('--pg-only');
const KEEP = (() => { const i = process.argv.indexOf('--keep'); return i >= 0 ? process.argv[i + 1] : undefined; })();
const DAY = 86400000;
const END = Date.UTC(2026, 11, 1);

/** Deterministic PRNG (mulberry32), so every run loads the same history. */
function rng(seed: number) {
  return () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
let rand = rng(42);
/** Zipf-like pick in [0, n): a few values are very common, most are rare. */
const zipf = (n: number) => Math.min(n - 1, Math.floor(n * rand() ** 3));

const WORDS = Array.from({ length: 3000 }, (_, i) => `w${i.toString(36)}${'abcdefghij'[i % 10]}`);
const DOMAINS = Array.from({ length: 5000 }, (_, i) => `d${i}.example`);
const RCPT_DOMAINS = Array.from({ length: 200 }, (_, i) => `r${i}.example.net`);

function row(i: number): MessageRow {
  const action = rand() < 0.85 ? 'deliver' : rand() < 0.66 ? 'junk' : rand() < 0.8 ? 'quarantine' : 'reject';
  const domain = DOMAINS[zipf(DOMAINS.length)]!;
  const sender = `u${zipf(20)}@${domain}`;
  const rcpt = `user${zipf(250)}@${RCPT_DOMAINS[zipf(RCPT_DOMAINS.length)]}`;
  const subject = Array.from({ length: 3 + Math.floor(rand() * 6) }, () => WORDS[zipf(WORDS.length)]).join(' ');
  const reasons = action === 'deliver' ? [] : [`${action}: ${['spam verdict (spam probability 0.990, model m1)', 'dmarc=fail (policy reject for x)', 'dangerous attachment a.exe [executable]', 'client prefix 203.0.113.0/24 reputation 9.0 >= 8'][Math.floor(rand() * 4)]}`];
  return {
    id: `msg-${i.toString(36).padStart(8, '0')}`, receivedAt: END - Math.floor(rand() * 30 * DAY), direction: 'inbound', mailFrom: sender, rcptTo: [rcpt],
    fromHeader: `Sender ${zipf(1000)} <${sender}>`, subject, clientIp: `198.${zipf(60)}.${zipf(250)}.${Math.floor(rand() * 250)}`,
    action, reasons, spamProbability: rand(), size: 1000 + Math.floor(rand() * 50000),
    detail: JSON.stringify({ pad: 'x'.repeat(400) }),
  };
}

async function load(store: HistoryStore & { bulk(rows: MessageRow[]): Promise<void> }): Promise<number> {
  rand = rng(42); // every store gets the same rows
  const t0 = performance.now();
  const BATCH = 5000;
  for (let i = 0; i < ROWS; i += BATCH) {
    await store.bulk(Array.from({ length: Math.min(BATCH, ROWS - i) }, (_, k) => row(i + k)));
    if ((i / BATCH) % 20 === 0) process.stderr.write(`\r  loaded ${i + BATCH} / ${ROWS}`);
  }
  process.stderr.write('\n');
  return (performance.now() - t0) / 1000;
}

/** Loads the rows, unless a kept database (--keep) already holds them all. */
async function loadUnlessKept(name: string, store: HistoryStore & { bulk(rows: MessageRow[]): Promise<void> }): Promise<void> {
  const have = await store.countMessages();
  if (KEEP && have === ROWS) { console.log(`${name}: ${ROWS.toLocaleString('en')} rows kept in ${dir}`); return; }
  if (have) await store.clear();
  console.log(`${name}: loading ${ROWS.toLocaleString('en')} rows…`);
  const s = await load(store);
  console.log(`  loaded in ${s.toFixed(1)} s (${Math.round(ROWS / s).toLocaleString('en')} rows/s)`);
}

const QUERIES: [string, SearchFilter][] = [
  ['latest page, no filter', {}],
  ['sender address', { sender: `u3@${DOMAINS[40]}` }],
  ['sender domain (large)', { sender: DOMAINS[0]! }],
  ['sender domain (rare)', { sender: DOMAINS[4000]! }],
  ['recipient address', { recipient: `user7@${RCPT_DOMAINS[3]}` }],
  ['recipient domain', { recipient: RCPT_DOMAINS[1]! }],
  ['subject, common word', { subject: WORDS[2]! }],
  ['subject, rare word', { subject: WORDS[2900]! }],
  ['subject, two words', { subject: `${WORDS[5]} ${WORDS[9]}` }],
  ['subject, no match', { subject: 'zzzznotaword' }],
  ['client IP exact', { clientIp: '198.0.0.17' }],
  ['client IP prefix', { clientIp: '198.3.' }],
  ['action + 1 day', { action: 'quarantine', from: END - 3 * DAY, to: END - 2 * DAY }],
  ['symbol words', { symbol: 'dmarc fail' }],
  // Adversarial: a selective address with a very common word its messages rarely contain.
  ['recipient address + common word', { recipient: `user7@${RCPT_DOMAINS[3]}`, subject: WORDS[0]! }],
  ['sender address + common word', { sender: `u3@${DOMAINS[40]}`, subject: WORDS[1]! }],
  ['client IP exact + symbol words', { clientIp: '198.0.0.17', symbol: 'dmarc fail' }],
  ['recipient domain + subject word + 7 days', { recipient: RCPT_DOMAINS[0]!, subject: WORDS[1]!, from: END - 7 * DAY, to: END }],
  ['sender domain + action, 30 days', { sender: DOMAINS[1]!, action: 'junk', from: END - 30 * DAY }],
];

async function time(f: () => Promise<unknown>): Promise<{ median: number; worst: number }> {
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) { const t0 = performance.now(); await f(); ms.push(performance.now() - t0); }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, worst: ms.at(-1)! };
}

async function report(name: string, store: HistoryStore, baselineMs: number): Promise<number> {
  console.log(`\n${name}: ${ROWS.toLocaleString('en')} messages; each search returns one page (100), ${RUNS} runs`);
  console.log(`  ${'search'.padEnd(44)} ${'rows'.padStart(5)} ${'median ms'.padStart(10)} ${'worst ms'.padStart(9)} ${'× baseline'.padStart(10)}`);
  let worst = 0;
  for (const [label, f] of QUERIES) {
    const rows = (await store.search({ ...f, limit: 100 })).rows.length;
    const t = await time(() => store.search({ ...f, limit: 100 }));
    worst = Math.max(worst, t.worst);
    console.log(`  ${label.padEnd(44)} ${String(rows).padStart(5)} ${t.median.toFixed(1).padStart(10)} ${t.worst.toFixed(1).padStart(9)} ${(t.median / baselineMs).toFixed(4).padStart(10)}`);
  }
  console.log(`  worst of all searches: ${worst.toFixed(1)} ms (target < 200 ms); baseline (unindexed LIKE scan of every subject): ${baselineMs.toFixed(0)} ms`);
  return worst;
}

const dir = KEEP ? resolve(KEEP) : mkdtempSync(join(tmpdir(), 'scop-history-bench-'));
mkdirSync(dir, { recursive: true });
chmodSync(dir, 0o755); // PostgreSQL runs as its own user (infra/postgres.ts) and must reach its folder inside
try {
  const file = join(dir, `history-${ROWS}.db`);
  let worst = 0;
  if (SQLITE) {
  const sqlite = new SqliteHistoryStore(file);
  await loadUnlessKept('SQLite', sqlite);
  // What the console's retention sweep does a step a minute: merge the full-text index's segments.
  const m0 = performance.now();
  let steps = 0;
  let longest = 0;
  for (let more = true; more; steps++) { const t = performance.now(); more = sqlite.mergeFullText(); longest = Math.max(longest, performance.now() - t); }
  console.log(`  full-text merge: ${steps} step(s) in ${((performance.now() - m0) / 1000).toFixed(1)} s, the longest ${longest.toFixed(0)} ms`);
  // Baseline: the same subject search as an unindexed scan, in the same database and run.
  const raw = new DatabaseSync(file);
  const scan = raw.prepare("SELECT id FROM messages WHERE subject LIKE ? ORDER BY received_at DESC LIMIT 100");
  const baseline = await time(async () => scan.all(`%${WORDS[2900]}%`));
  raw.close();
  worst = await report('SQLite (node:sqlite, FTS5)', sqlite, baseline.median);
  await sqlite.close();
  }

  if (PG) {
    if (!postgresAvailable()) throw new Error('--pg needs Debian\'s postgresql package');
    const server = await startLocalPostgres({ dir: join(dir, `pg-${ROWS}`), port: await freePort(), keep: KEEP !== undefined });
    try {
      const pg = await PgHistoryStore.open(server.url);
      await loadUnlessKept('PostgreSQL', pg);
      const c = new (await import('pg')).default.Client({ connectionString: server.url });
      await c.connect();
      await c.query('ANALYZE');
      const pgBaseline = await time(() => c.query("SELECT id FROM history_messages WHERE subject LIKE $1 ORDER BY received_at DESC LIMIT 100", [`%${WORDS[2900]}%`]));
      await c.end();
      worst = Math.max(worst, await report('PostgreSQL (tsvector + GIN)', pg, pgBaseline.median));
      await pg.close();
    } finally {
      await server.stop();
    }
  }
  console.log(`\n${worst < 200 ? 'OK' : 'OVER TARGET'}: worst search ${worst.toFixed(1)} ms at ${ROWS.toLocaleString('en')} messages`);
} finally {
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
}
