/**
 * The history view in PostgreSQL (HISTORY_DATABASE_URL): the same tables and search semantics as
 * the SQLite store. Subject/From and reasons are searched through generated tsvector columns with
 * GIN indexes ('simple' configuration: words, no stemming, like FTS5's unicode61); addresses and
 * IPs are compared byte-wise (COLLATE "C"), so prefix ranges use the b-tree indexes.
 */
import pg from 'pg';
import {
  addressFilter, addressKey, clampLimit, ipFilter, normalizeFilter, searchInWindows, words, type MessageSummary,
  deadLetterFromRow, deliveryFromRow, sessionFromRow, summaryFromRow, type DeadLetterRow, type DeliveryRow, type HistoryStore, type MessageRow, type SearchFilter, type SearchResult, type StoredSession,
} from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS history_messages (
  id text PRIMARY KEY,
  received_at bigint NOT NULL,
  direction text NOT NULL,
  mail_from text COLLATE "C" NOT NULL,
  mail_from_domain text COLLATE "C" NOT NULL,
  rcpt_to text NOT NULL,
  from_header text NOT NULL,
  subject text NOT NULL,
  client_ip text COLLATE "C" NOT NULL,
  action text NOT NULL,
  reasons text NOT NULL,
  spam_probability double precision,
  size integer NOT NULL,
  held boolean NOT NULL DEFAULT false,
  detail text NOT NULL,
  text_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', subject || ' ' || from_header)) STORED,
  reasons_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', reasons)) STORED
);
CREATE INDEX IF NOT EXISTS history_messages_received ON history_messages (received_at);
CREATE INDEX IF NOT EXISTS history_messages_from ON history_messages (mail_from, received_at);
CREATE INDEX IF NOT EXISTS history_messages_from_domain ON history_messages (mail_from_domain, received_at);
CREATE INDEX IF NOT EXISTS history_messages_ip ON history_messages (client_ip, received_at);
CREATE INDEX IF NOT EXISTS history_messages_action ON history_messages (action, received_at);
CREATE INDEX IF NOT EXISTS history_messages_held ON history_messages (received_at) WHERE held;
CREATE INDEX IF NOT EXISTS history_messages_text ON history_messages USING gin (text_tsv);
CREATE INDEX IF NOT EXISTS history_messages_reasons ON history_messages USING gin (reasons_tsv);
CREATE TABLE IF NOT EXISTS history_recipients (
  message_id text NOT NULL,
  address text COLLATE "C" NOT NULL,
  domain text COLLATE "C" NOT NULL,
  received_at bigint NOT NULL,
  PRIMARY KEY (message_id, address)
);
CREATE INDEX IF NOT EXISTS history_recipients_address ON history_recipients (address, received_at);
CREATE INDEX IF NOT EXISTS history_recipients_domain ON history_recipients (domain, received_at);
CREATE TABLE IF NOT EXISTS history_held (id text PRIMARY KEY, held boolean NOT NULL);
CREATE TABLE IF NOT EXISTS history_deliveries (
  record_id text NOT NULL,
  recipient text NOT NULL,
  status text NOT NULL,
  at bigint NOT NULL,
  attempts integer NOT NULL,
  next_hop text NOT NULL,
  reply text,
  PRIMARY KEY (record_id, recipient)
);
CREATE TABLE IF NOT EXISTS history_dead_letters (
  dl_partition integer NOT NULL,
  dl_offset text NOT NULL,
  stage text NOT NULL,
  reason text NOT NULL,
  error text NOT NULL,
  record_id text,
  source_topic text NOT NULL,
  source_partition integer NOT NULL,
  source_offset bigint NOT NULL,
  failed_at bigint NOT NULL,
  redriven_at bigint,
  redriven_by text,
  PRIMARY KEY (dl_partition, dl_offset)
);
CREATE INDEX IF NOT EXISTS history_dead_letters_stage ON history_dead_letters (stage, reason, failed_at);
CREATE TABLE IF NOT EXISTS console_sessions (key text PRIMARY KEY, operator text NOT NULL, created bigint NOT NULL, seen bigint NOT NULL);
`;

const SUMMARY_COLUMNS = 'm.id, m.received_at, m.direction, m.mail_from, m.rcpt_to, m.from_header, m.subject, m.client_ip, m.action, m.reasons, m.spam_probability, m.size, m.held';

type Row = Record<string, unknown>;

export class PgHistoryStore implements HistoryStore {
  readonly kind = 'postgresql' as const;
  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string): Promise<PgHistoryStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    // An idle client whose server went away (restart, failover) reports it here; the next query reconnects.
    pool.on('error', () => {});
    // Schema creation from concurrent console instances: one at a time.
    const c = await pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock(781234)');
      await c.query(SCHEMA);
      await c.query('SELECT pg_advisory_unlock(781234)');
    } finally {
      c.release();
    }
    return new PgHistoryStore(pool);
  }

  /** Runs `work` in one transaction on a pooled connection: committed, or rolled back and the error thrown again. */
  private async transaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const r = await work(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  async upsertMessage(m: MessageRow): Promise<void> {
    await this.bulk([m]);
  }

  /** Upserts rows in one transaction, as two statements over arrays (unnest): one round trip per table, whatever the batch size. */
  async bulk(batch: MessageRow[]): Promise<void> {
    const rows = [...new Map(batch.map((m) => [m.id, m])).values()]; // ON CONFLICT cannot touch one row twice
    if (rows.length === 0) return;
    const col = <T>(f: (m: MessageRow) => T) => rows.map(f);
    const from = rows.map((m) => addressKey(m.mailFrom));
    const rcpts = rows.flatMap((m) => [...new Set(m.rcptTo.map((r) => addressKey(r).address))].map((address) => ({ id: m.id, address, domain: addressKey(address).domain, at: m.receivedAt })));
    await this.transaction(async (c) => {
      await c.query(`INSERT INTO history_messages (id, received_at, direction, mail_from, mail_from_domain, rcpt_to, from_header, subject, client_ip, action, reasons, spam_probability, size, held, detail)
        SELECT t.id, t.received_at, t.direction, t.mail_from, t.mail_from_domain, t.rcpt_to, t.from_header, t.subject, t.client_ip, t.action, t.reasons, t.spam_probability, t.size,
               COALESCE(h.held, false), t.detail
        FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::float8[], $13::int[], $14::text[])
          AS t(id, received_at, direction, mail_from, mail_from_domain, rcpt_to, from_header, subject, client_ip, action, reasons, spam_probability, size, detail)
        LEFT JOIN history_held h ON h.id = t.id
        ON CONFLICT (id) DO UPDATE SET received_at = excluded.received_at, direction = excluded.direction, mail_from = excluded.mail_from, mail_from_domain = excluded.mail_from_domain,
          rcpt_to = excluded.rcpt_to, from_header = excluded.from_header, subject = excluded.subject, client_ip = excluded.client_ip, action = excluded.action,
          reasons = excluded.reasons, spam_probability = excluded.spam_probability, size = excluded.size, held = excluded.held, detail = excluded.detail`,
      [col((m) => m.id), col((m) => m.receivedAt), col((m) => m.direction), from.map((f) => f.address), from.map((f) => f.domain), col((m) => m.rcptTo.join(' ')), col((m) => m.fromHeader),
        col((m) => m.subject), col((m) => m.clientIp), col((m) => m.action), col((m) => m.reasons.join('\n')), col((m) => m.spamProbability), col((m) => m.size), col((m) => m.detail)]);
      // A re-decided record may have lost recipients: its rows are rewritten.
      await c.query('DELETE FROM history_recipients WHERE message_id = ANY($1::text[])', [col((m) => m.id)]);
      if (rcpts.length) {
        await c.query(`INSERT INTO history_recipients (message_id, address, domain, received_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])`,
          [rcpts.map((r) => r.id), rcpts.map((r) => r.address), rcpts.map((r) => r.domain), rcpts.map((r) => r.at)]);
      }
    });
  }

  async setHeld(id: string, held: boolean): Promise<void> {
    await this.pool.query('INSERT INTO history_held (id, held) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET held = excluded.held', [id, held]);
    await this.pool.query('UPDATE history_messages SET held = $2 WHERE id = $1', [id, held]);
  }

  async upsertDelivery(d: DeliveryRow): Promise<void> {
    await this.pool.query(`INSERT INTO history_deliveries (record_id, recipient, status, at, attempts, next_hop, reply) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (record_id, recipient) DO UPDATE SET status = excluded.status, at = excluded.at, attempts = excluded.attempts, next_hop = excluded.next_hop, reply = excluded.reply`,
    [d.recordId, d.recipient.toLowerCase(), d.status, d.at, d.attempts, d.nextHop, d.reply]);
  }

  async upsertDeadLetter(d: DeadLetterRow): Promise<void> {
    await this.pool.query(`INSERT INTO history_dead_letters (dl_partition, dl_offset, stage, reason, error, record_id, source_topic, source_partition, source_offset, failed_at, redriven_at, redriven_by)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (dl_partition, dl_offset) DO NOTHING`,
    [d.partition, d.offset, d.stage, d.reason, d.error, d.recordId, d.sourceTopic, d.sourcePartition, d.sourceOffset, d.failedAt, d.redrivenAt, d.redrivenBy]);
  }

  async markRedriven(keys: { partition: number; offset: string }[], by: string, at: number): Promise<void> {
    if (keys.length === 0) return;
    await this.pool.query(`UPDATE history_dead_letters SET redriven_at = $1, redriven_by = $2
      WHERE (dl_partition, dl_offset) IN (SELECT * FROM unnest($3::int[], $4::text[]))`, [at, by, keys.map((k) => k.partition), keys.map((k) => k.offset)]);
  }

  async search(filter: SearchFilter): Promise<SearchResult> {
    const f = normalizeFilter(filter);
    const limit = clampLimit(f.limit);
    // GIN gives its matches in no order: the heap fetch of every match (37,000 for a common symbol
    // at a million messages, over a second) is bounded by searching the newest days first — unless
    // an exact address or IP already narrows the rows to few (then one query is cheapest).
    const selective = [f.sender, f.recipient].some((v) => v?.includes('@')) || (f.clientIp !== undefined && f.clientIp.trim() !== '' && 'exact' in ipFilter(f.clientIp));
    if (!selective && (words(f.subject ?? '').length || words(f.symbol ?? '').length)) {
      return searchInWindows(f, limit, async () => {
        const r = (await this.pool.query('SELECT min(received_at) AS oldest, max(received_at) AS newest FROM history_messages')).rows[0] as Row | undefined;
        return r?.newest === null || r?.newest === undefined ? null : { oldest: Number(r.oldest), newest: Number(r.newest) };
      }, (w) => this.query(w, limit));
    }
    const rows = await this.query(f, limit);
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }

  /** One query, newest first, up to limit + 1 rows (the extra one says whether there are more). */
  private async query(f: SearchFilter, limit: number): Promise<MessageSummary[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => { args.push(v); return `$${args.length}`; };
    let from = 'history_messages m';
    const byRecipient = Boolean(f.recipient?.trim());
    if (byRecipient) {
      const a = addressFilter(f.recipient!);
      from = 'history_recipients r JOIN history_messages m ON m.id = r.message_id';
      where.push('address' in a ? `r.address = ${arg(a.address)}` : `r.domain = ${arg(a.domain)}`);
    }
    if (f.sender?.trim()) {
      const a = addressFilter(f.sender);
      where.push('address' in a ? `m.mail_from = ${arg(a.address)}` : `m.mail_from_domain = ${arg(a.domain)}`);
    }
    if (f.clientIp?.trim()) {
      const ip = ipFilter(f.clientIp);
      if ('exact' in ip) where.push(`m.client_ip = ${arg(ip.exact)}`);
      else where.push(`m.client_ip >= ${arg(ip.prefix)} AND m.client_ip < ${arg(`${ip.prefix}\u{10FFFF}`)}`);
    }
    const subjectWords = words(f.subject ?? '');
    if (subjectWords.length) where.push(`m.text_tsv @@ to_tsquery('simple', ${arg(subjectWords.map((w) => `'${w}'`).join(' & '))})`);
    const symbolWords = words(f.symbol ?? '');
    if (symbolWords.length) where.push(`m.reasons_tsv @@ to_tsquery('simple', ${arg(symbolWords.map((w) => `'${w}'`).join(' & '))})`);
    if (f.action) where.push(`m.action = ${arg(f.action)}`);
    if (f.held !== undefined) where.push(`m.held = ${arg(f.held)}`);
    const recv = byRecipient ? 'r.received_at' : 'm.received_at';
    if (f.from !== undefined) where.push(`${recv} >= ${arg(f.from)}`);
    if (f.to !== undefined) where.push(`${recv} <= ${arg(f.to)}`);
    if (f.before !== undefined) where.push(`${recv} < ${arg(f.before)}`);
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${recv} DESC LIMIT ${arg(limit + 1)}`;
    return (await this.pool.query(sql, args)).rows.map(summaryFromRow);
  }

  async get(id: string): Promise<(MessageRow & { held: boolean }) | null> {
    const r = (await this.pool.query(`SELECT ${SUMMARY_COLUMNS}, m.detail FROM history_messages m WHERE m.id = $1`, [id])).rows[0] as Row | undefined;
    return r ? { ...summaryFromRow(r), detail: String(r.detail) } : null;
  }

  async deliveries(id: string): Promise<DeliveryRow[]> {
    return (await this.pool.query('SELECT * FROM history_deliveries WHERE record_id = $1 ORDER BY at, recipient', [id])).rows.map(deliveryFromRow);
  }

  async deadLetters(f: { stage?: string; reason?: string; pending?: boolean; limit?: number }): Promise<DeadLetterRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.stage) { args.push(f.stage); where.push(`stage = $${args.length}`); }
    if (f.reason) { args.push(f.reason); where.push(`reason = $${args.length}`); }
    if (f.pending) where.push('redriven_at IS NULL');
    args.push(clampLimit(f.limit));
    return (await this.pool.query(`SELECT * FROM history_dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY failed_at DESC LIMIT $${args.length}`, args)).rows.map(deadLetterFromRow);
  }

  async deadLetterCounts(): Promise<{ stage: string; reason: string; pending: number; total: number }[]> {
    return (await this.pool.query('SELECT stage, reason, COUNT(*) FILTER (WHERE redriven_at IS NULL) AS pending, COUNT(*) AS total FROM history_dead_letters GROUP BY stage, reason ORDER BY stage, reason')).rows
      .map((r: Row) => ({ stage: String(r.stage), reason: String(r.reason), pending: Number(r.pending), total: Number(r.total) }));
  }

  async prune(before: number): Promise<number> {
    return this.transaction(async (c) => {
      await c.query('DELETE FROM history_deliveries WHERE record_id IN (SELECT id FROM history_messages WHERE received_at < $1)', [before]);
      await c.query('DELETE FROM history_held WHERE id IN (SELECT id FROM history_messages WHERE received_at < $1)', [before]);
      await c.query('DELETE FROM history_recipients WHERE received_at < $1', [before]);
      const r = await c.query('DELETE FROM history_messages WHERE received_at < $1', [before]);
      await c.query('DELETE FROM history_dead_letters WHERE failed_at < $1', [before]);
      return r.rowCount ?? 0;
    });
  }

  async putSession(x: StoredSession): Promise<void> {
    await this.pool.query('INSERT INTO console_sessions (key, operator, created, seen) VALUES ($1, $2, $3, $4)', [x.key, x.user, x.created, x.seen]);
  }

  async getSession(key: string): Promise<StoredSession | null> {
    const r = (await this.pool.query('SELECT key, operator, created, seen FROM console_sessions WHERE key = $1', [key])).rows[0] as Row | undefined;
    return r ? sessionFromRow(r) : null;
  }

  async touchSession(key: string, seen: number): Promise<void> {
    await this.pool.query('UPDATE console_sessions SET seen = $1 WHERE key = $2', [seen, key]);
  }

  async deleteSession(key: string): Promise<void> {
    await this.pool.query('DELETE FROM console_sessions WHERE key = $1', [key]);
  }

  async pruneSessions(createdBefore: number, seenBefore: number): Promise<number> {
    return (await this.pool.query('DELETE FROM console_sessions WHERE created < $1 OR seen < $2', [createdBefore, seenBefore])).rowCount ?? 0;
  }

  async countMessages(): Promise<number> {
    return Number((await this.pool.query('SELECT COUNT(*) AS n FROM history_messages')).rows[0].n);
  }

  async clear(): Promise<void> {
    await this.pool.query('TRUNCATE history_messages, history_recipients, history_held, history_deliveries, history_dead_letters');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
