/**
 * The history view in embedded SQLite (node:sqlite, WAL): the default, nothing to set up. Subject,
 * From and reasons are searched through an FTS5 index kept in step by triggers; addresses, client
 * IPs and actions through b-tree indexes. Row ids follow receive order (see SLOTS), so every index
 * and FTS5 hand a search its newest matches first.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import {
  addressFilter, addressKey, clampLimit, ipFilter, normalizeFilter, words,
  deadLetterFromRow, deliveryFromRow, sessionFromRow, summaryFromRow, type DeadLetterRow, type DeliveryRow, type HistoryStore, type MessageRow, type SearchFilter, type SearchResult, type StoredSession,
} from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  received_at INTEGER NOT NULL,
  direction TEXT NOT NULL,
  mail_from TEXT NOT NULL,
  mail_from_domain TEXT NOT NULL,
  rcpt_to TEXT NOT NULL,
  from_header TEXT NOT NULL,
  subject TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  action TEXT NOT NULL,
  reasons TEXT NOT NULL,
  spam_probability REAL,
  size INTEGER NOT NULL,
  held INTEGER NOT NULL DEFAULT 0,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_from ON messages (mail_from);
CREATE INDEX IF NOT EXISTS messages_from_domain ON messages (mail_from_domain);
CREATE INDEX IF NOT EXISTS messages_ip ON messages (client_ip);
CREATE INDEX IF NOT EXISTS messages_action ON messages (action);
CREATE INDEX IF NOT EXISTS messages_held ON messages (held) WHERE held = 1;
CREATE TABLE IF NOT EXISTS recipients (
  message_rowid INTEGER NOT NULL,
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  PRIMARY KEY (message_rowid, address)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_address ON recipients (address);
CREATE INDEX IF NOT EXISTS recipients_domain ON recipients (domain);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(subject, from_header, reasons, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS messages_ai AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, subject, from_header, reasons) VALUES (new.rowid, new.subject, new.from_header, new.reasons);
END;
CREATE TRIGGER IF NOT EXISTS messages_ad AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, subject, from_header, reasons) VALUES ('delete', old.rowid, old.subject, old.from_header, old.reasons);
  DELETE FROM recipients WHERE message_rowid = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS messages_au AFTER UPDATE OF subject, from_header, reasons ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, subject, from_header, reasons) VALUES ('delete', old.rowid, old.subject, old.from_header, old.reasons);
  INSERT INTO messages_fts(rowid, subject, from_header, reasons) VALUES (new.rowid, new.subject, new.from_header, new.reasons);
END;
CREATE TABLE IF NOT EXISTS deliveries (
  record_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  status TEXT NOT NULL,
  at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_hop TEXT NOT NULL,
  reply TEXT,
  PRIMARY KEY (record_id, recipient)
);
CREATE TABLE IF NOT EXISTS dead_letters (
  partition INTEGER NOT NULL,
  offset TEXT NOT NULL,
  stage TEXT NOT NULL,
  reason TEXT NOT NULL,
  error TEXT NOT NULL,
  record_id TEXT,
  source_topic TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset INTEGER NOT NULL,
  failed_at INTEGER NOT NULL,
  redriven_at INTEGER,
  redriven_by TEXT,
  PRIMARY KEY (partition, offset)
);
CREATE INDEX IF NOT EXISTS dead_letters_stage ON dead_letters (stage, reason, failed_at);
CREATE TABLE IF NOT EXISTS held (id TEXT PRIMARY KEY, held INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS console_sessions (key TEXT PRIMARY KEY, operator TEXT NOT NULL, created INTEGER NOT NULL, seen INTEGER NOT NULL);
`;

/**
 * Rows are numbered in receive order: rowid = receivedAt × 1024 + a 10-bit hash of the id (the next
 * free number on a collision). "Newest first" is then descending rowid, the order every index (and
 * FTS5's doclists) already keeps, so a search reads its newest matches first and stops at the page
 * size instead of sorting every match. Exact in a double until the year 2248.
 */
const SLOTS = 1024;
function slotOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  return (h >>> 0) % SLOTS;
}

/** FTS5 query: every word as a quoted string, all required. */
const ftsQuery = (ws: string[]) => ws.map((w) => `"${w.replace(/"/g, '""')}"`).join(' ');

/** Up to this many candidate messages, an exact address or IP drives a full-text search (≈ 30 µs a probe). */
const PROBE_CANDIDATES = 3000;

const SUMMARY_COLUMNS = 'm.id, m.received_at, m.direction, m.mail_from, m.rcpt_to, m.from_header, m.subject, m.client_ip, m.action, m.reasons, m.spam_probability, m.size, m.held';

type Row = Record<string, SQLInputValue>;

export class SqliteHistoryStore implements HistoryStore {
  readonly kind = 'sqlite' as const;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new DatabaseSync(file);
    // A 64 MiB page cache and memory-mapped reads: with a million rows the indexes outgrow SQLite's 2 MiB default.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456; PRAGMA analysis_limit = 1000;');
    this.db.exec(SCHEMA);
  }

  /** Prepared once per SQL text. */
  private st(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  async upsertMessage(m: MessageRow): Promise<void> {
    await this.bulk([m]);
  }

  /** Upserts rows in one transaction (the history consumer writes one; the benchmark loads many). */
  async bulk(rows: MessageRow[]): Promise<void> {
    this.db.exec('BEGIN');
    try {
      for (const m of rows) this.write(m);
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  private write(m: MessageRow): void {
    const from = addressKey(m.mailFrom);
    let rowid = (this.st('SELECT rowid FROM messages WHERE id = ?').get(m.id) as { rowid: number } | undefined)?.rowid;
    if (rowid === undefined) {
      rowid = m.receivedAt * SLOTS + slotOf(m.id);
      while (this.st('SELECT 1 FROM messages WHERE rowid = ?').get(rowid)) rowid++;
    }
    // held lives in its own table too: a quarantine tombstone may arrive before or after the record.
    this.st(`INSERT INTO messages (rowid, id, received_at, direction, mail_from, mail_from_domain, rcpt_to, from_header, subject, client_ip, action, reasons, spam_probability, size, held, detail)
      VALUES (?15, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, COALESCE((SELECT held FROM held WHERE id = ?1), 0), ?14)
      ON CONFLICT (id) DO UPDATE SET received_at = excluded.received_at, direction = excluded.direction, mail_from = excluded.mail_from, mail_from_domain = excluded.mail_from_domain,
        rcpt_to = excluded.rcpt_to, from_header = excluded.from_header, subject = excluded.subject, client_ip = excluded.client_ip, action = excluded.action,
        reasons = excluded.reasons, spam_probability = excluded.spam_probability, size = excluded.size, held = excluded.held, detail = excluded.detail`)
      .run(m.id, m.receivedAt, m.direction, from.address, from.domain, m.rcptTo.join(' '), m.fromHeader, m.subject, m.clientIp, m.action, m.reasons.join('\n'), m.spamProbability, m.size, m.detail, rowid);
    // A re-decided record may have lost recipients: its rows are rewritten.
    this.st('DELETE FROM recipients WHERE message_rowid = ?').run(rowid);
    const ins = this.st('INSERT OR REPLACE INTO recipients (message_rowid, address, domain) VALUES (?, ?, ?)');
    for (const r of new Set(m.rcptTo)) { const k = addressKey(r); ins.run(rowid, k.address, k.domain); }
  }

  async setHeld(id: string, held: boolean): Promise<void> {
    this.st('INSERT INTO held (id, held) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET held = excluded.held').run(id, held ? 1 : 0);
    this.st('UPDATE messages SET held = ? WHERE id = ?').run(held ? 1 : 0, id);
  }

  async upsertDelivery(d: DeliveryRow): Promise<void> {
    this.st(`INSERT INTO deliveries (record_id, recipient, status, at, attempts, next_hop, reply) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (record_id, recipient) DO UPDATE SET status = excluded.status, at = excluded.at, attempts = excluded.attempts, next_hop = excluded.next_hop, reply = excluded.reply`)
      .run(d.recordId, d.recipient.toLowerCase(), d.status, d.at, d.attempts, d.nextHop, d.reply);
  }

  async upsertDeadLetter(d: DeadLetterRow): Promise<void> {
    this.st(`INSERT INTO dead_letters (partition, offset, stage, reason, error, record_id, source_topic, source_partition, source_offset, failed_at, redriven_at, redriven_by)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (partition, offset) DO NOTHING`)
      .run(d.partition, d.offset, d.stage, d.reason, d.error, d.recordId, d.sourceTopic, d.sourcePartition, d.sourceOffset, d.failedAt, d.redrivenAt, d.redrivenBy);
  }

  async markRedriven(keys: { partition: number; offset: string }[], by: string, at: number): Promise<void> {
    const st = this.st('UPDATE dead_letters SET redriven_at = ?, redriven_by = ? WHERE partition = ? AND offset = ?');
    for (const k of keys) st.run(at, by, k.partition, k.offset);
  }

  async search(filter: SearchFilter): Promise<SearchResult> {
    const f = normalizeFilter(filter);
    const limit = clampLimit(f.limit);
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    // The table that drives the search decides the order column; every one is in rowid (= receive) order.
    let from = 'messages m';
    let order = 'm.rowid';
    const fts: string[] = [];
    const subjectWords = words(f.subject ?? '');
    if (subjectWords.length) fts.push(`{subject from_header} : ${ftsQuery(subjectWords)}`);
    const symbolWords = words(f.symbol ?? '');
    if (symbolWords.length) fts.push(`reasons : ${ftsQuery(symbolWords)}`);
    const match = fts.map((x) => `(${x})`).join(' AND ');
    // With an exact address or IP that only a few messages have, those few drive and each is
    // checked against the full-text index by rowid (a seek): a common word they rarely contain would
    // otherwise be read to the end of its doclist (0.64 s at a million messages).
    const probe = fts.length > 0 && this.fewCandidates(f);
    if (fts.length && !probe) {
      // CROSS JOIN keeps the full-text index as the outer loop, read newest first: the other order
      // (e.g. every message of a recipient domain, each probing FTS5 with a MATCH) runs the full-text
      // query once per candidate row and took seconds at a million messages.
      from = 'messages_fts CROSS JOIN messages m ON m.rowid = messages_fts.rowid';
      order = 'messages_fts.rowid';
      where.push('messages_fts MATCH ?');
      args.push(match);
    }
    if (f.recipient?.trim()) {
      const a = addressFilter(f.recipient);
      from += `${fts.length && !probe ? ' CROSS' : ''} JOIN recipients r ON r.message_rowid = m.rowid`;
      if (!fts.length || probe) order = 'r.message_rowid';
      if ('address' in a) { where.push('r.address = ?'); args.push(a.address); } else { where.push('r.domain = ?'); args.push(a.domain); }
    }
    if (f.sender?.trim()) {
      const a = addressFilter(f.sender);
      if ('address' in a) { where.push('m.mail_from = ?'); args.push(a.address); } else { where.push('m.mail_from_domain = ?'); args.push(a.domain); }
    }
    if (f.clientIp?.trim()) {
      const ip = ipFilter(f.clientIp);
      if ('exact' in ip) { where.push('m.client_ip = ?'); args.push(ip.exact); } else { where.push('m.client_ip >= ? AND m.client_ip < ?'); args.push(ip.prefix, `${ip.prefix}\u{10FFFF}`); }
    }
    if (f.action) { where.push('m.action = ?'); args.push(f.action); }
    if (f.held !== undefined) { where.push(f.held ? 'm.held = 1' : 'm.held = 0'); }
    // Last, so the cheap terms reject a row before its full-text probe.
    if (probe) {
      where.push('EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND messages_fts.rowid = m.rowid)');
      args.push(match);
    }
    if (f.from !== undefined) { where.push(`${order} >= ?`); args.push(f.from * SLOTS); }
    if (f.to !== undefined) { where.push(`${order} <= ?`); args.push(f.to * SLOTS + SLOTS - 1); }
    if (f.before !== undefined) { where.push(`${order} < ?`); args.push(f.before * SLOTS); }
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} DESC LIMIT ?`;
    const rows = (this.st(sql).all(...args, limit + 1) as Row[]).map(summaryFromRow);
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }

  /** Whether an exact recipient, sender or client IP in `f` has at most PROBE_CANDIDATES messages (an index-only count, bounded). */
  private fewCandidates(f: SearchFilter): boolean {
    const bounded = (sql: string, v: string) => Number((this.st(`SELECT count(*) AS n FROM (${sql} LIMIT ${PROBE_CANDIDATES + 1})`).get(v) as Row).n) <= PROBE_CANDIDATES;
    const r = f.recipient?.trim() ? addressFilter(f.recipient) : undefined;
    if (r && 'address' in r && bounded('SELECT 1 FROM recipients WHERE address = ?', r.address)) return true;
    const sdr = f.sender?.trim() ? addressFilter(f.sender) : undefined;
    if (sdr && 'address' in sdr && bounded('SELECT 1 FROM messages WHERE mail_from = ?', sdr.address)) return true;
    const ip = f.clientIp?.trim() ? ipFilter(f.clientIp) : undefined;
    return ip !== undefined && 'exact' in ip && bounded('SELECT 1 FROM messages WHERE client_ip = ?', ip.exact);
  }

  async get(id: string): Promise<(MessageRow & { held: boolean }) | null> {
    const r = this.st(`SELECT ${SUMMARY_COLUMNS}, m.detail FROM messages m WHERE m.id = ?`).get(id) as Row | undefined;
    return r ? { ...summaryFromRow(r), detail: String(r.detail) } : null;
  }

  async deliveries(id: string): Promise<DeliveryRow[]> {
    return (this.st('SELECT * FROM deliveries WHERE record_id = ? ORDER BY at, recipient').all(id) as Row[]).map(deliveryFromRow);
  }

  async deadLetters(f: { stage?: string; reason?: string; pending?: boolean; limit?: number }): Promise<DeadLetterRow[]> {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (f.stage) { where.push('stage = ?'); args.push(f.stage); }
    if (f.reason) { where.push('reason = ?'); args.push(f.reason); }
    if (f.pending) where.push('redriven_at IS NULL');
    return (this.st(`SELECT * FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY failed_at DESC LIMIT ?`).all(...args, clampLimit(f.limit)) as Row[]).map(deadLetterFromRow);
  }

  async deadLetterCounts(): Promise<{ stage: string; reason: string; pending: number; total: number }[]> {
    return (this.st('SELECT stage, reason, SUM(redriven_at IS NULL) AS pending, COUNT(*) AS total FROM dead_letters GROUP BY stage, reason ORDER BY stage, reason').all() as Row[])
      .map((r) => ({ stage: String(r.stage), reason: String(r.reason), pending: Number(r.pending), total: Number(r.total) }));
  }

  async prune(before: number): Promise<number> {
    this.db.exec('BEGIN');
    try {
      const upTo = before * SLOTS; // rowid order is receive order
      this.st('DELETE FROM deliveries WHERE record_id IN (SELECT id FROM messages WHERE rowid < ?)').run(upTo);
      this.st('DELETE FROM held WHERE id IN (SELECT id FROM messages WHERE rowid < ?)').run(upTo);
      const r = this.st('DELETE FROM messages WHERE rowid < ?').run(upTo);
      this.st('DELETE FROM dead_letters WHERE failed_at < ?').run(before);
      this.db.exec('COMMIT');
      // Planner statistics for the indexes, refreshed when stale (bounded by analysis_limit).
      this.db.exec('PRAGMA optimize');
      this.mergeFullText();
      return Number(r.changes);
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  async putSession(x: StoredSession): Promise<void> {
    this.st('INSERT INTO console_sessions (key, operator, created, seen) VALUES (?, ?, ?, ?)').run(x.key, x.user, x.created, x.seen);
  }

  async getSession(key: string): Promise<StoredSession | null> {
    const r = this.st('SELECT key, operator, created, seen FROM console_sessions WHERE key = ?').get(key) as Row | undefined;
    return r ? sessionFromRow(r) : null;
  }

  async touchSession(key: string, seen: number): Promise<void> {
    this.st('UPDATE console_sessions SET seen = ? WHERE key = ?').run(seen, key);
  }

  async deleteSession(key: string): Promise<void> {
    this.st('DELETE FROM console_sessions WHERE key = ?').run(key);
  }

  async pruneSessions(createdBefore: number, seenBefore: number): Promise<number> {
    return Number(this.st('DELETE FROM console_sessions WHERE created < ? OR seen < ?').run(createdBefore, seenBefore).changes);
  }

  /**
   * Merges the full-text index's segments a bounded step at a time (FTS5 'merge', at most `pages`
   * leaf pages; negative: any level with more than one segment). A million messages written one
   * transaction at a time leave ~22,000 pages in many segments, and a rowid probe then visits them
   * all (0.9 ms instead of 0.1 ms); the retention sweep calls this every minute. Returns whether the
   * step did any work (false: the index is merged).
   */
  mergeFullText(pages = 500): boolean {
    const before = Number((this.st('SELECT total_changes() AS n').get() as Row).n);
    this.st("INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', ?)").run(-pages);
    return Number((this.st('SELECT total_changes() AS n').get() as Row).n) - before >= 2;
  }

  async countMessages(): Promise<number> {
    return Number((this.st('SELECT COUNT(*) AS n FROM messages').get() as Row).n);
  }

  async clear(): Promise<void> {
    this.db.exec("DELETE FROM messages; DELETE FROM recipients; DELETE FROM deliveries; DELETE FROM dead_letters; DELETE FROM held; INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');");
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
