/**
 * The history view: a table per kind of fact the console shows (messages, their recipients,
 * delivery outcomes, dead letters), materialized from the topics by console/history.ts. Two
 * implementations with the same semantics: embedded SQLite (node:sqlite, zero setup) and
 * PostgreSQL (HISTORY_DATABASE_URL). Every write is an upsert keyed like its topic, so a replay
 * rebuilds the same rows.
 */

export interface MessageRow {
  id: string;
  receivedAt: number;
  direction: 'inbound' | 'outbound';
  mailFrom: string;
  rcptTo: string[];
  /** The From header as text (display name and address). */
  fromHeader: string;
  subject: string;
  clientIp: string;
  /** deliver, junk, quarantine, reject; `relay` for outbound mail. */
  action: string;
  reasons: string[];
  spamProbability: number | null;
  size: number;
  /** JSON of MessageDetail (console/summary.ts). */
  detail: string;
}

export interface MessageSummary extends Omit<MessageRow, 'detail'> {
  held: boolean;
}

export interface DeliveryRow {
  recordId: string;
  recipient: string;
  status: string;
  at: number;
  attempts: number;
  nextHop: string;
  reply: string | null;
}

export interface DeadLetterRow {
  /** Where the dead letter itself is, on ops.dead-letters: what a re-drive reads back. */
  partition: number;
  offset: string;
  stage: string;
  reason: string;
  error: string;
  recordId: string | null;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  failedAt: number;
  redrivenAt: number | null;
  redrivenBy: string | null;
}

export interface SearchFilter {
  /** Address (exact), or a domain (`example.com` or `@example.com`). */
  sender?: string;
  recipient?: string;
  /** Words that must all appear in the subject or the From header. */
  subject?: string;
  /** An address, or a prefix ending in `.` or `:` (203.0.113.). */
  clientIp?: string;
  from?: number;
  to?: number;
  action?: string;
  /**
   * Words that must appear in the decision's reasons: they name every symbol that added to the
   * score (e.g. MIME_DOUBLE_EXTENSION{invoice.pdf.exe} +20), so a symbol name finds its messages.
   */
  symbol?: string;
  held?: boolean;
  /** Only messages received before this time (paging). */
  before?: number;
  limit?: number;
}

export interface SearchResult {
  rows: MessageSummary[];
  /** Whether more rows match beyond `limit`. */
  more: boolean;
}

/** A console session as stored: `key` is a hash of its id (console/web.ts sessionKey), never the id. */
export interface StoredSession { key: string; user: string; created: number; seen: number }

/** Console sessions, in the same database as the history (they survive a restart; `clear` keeps them). */
export interface SessionStore {
  putSession(s: StoredSession): Promise<void>;
  getSession(key: string): Promise<StoredSession | null>;
  touchSession(key: string, seen: number): Promise<void>;
  deleteSession(key: string): Promise<void>;
  /** Deletes sessions created before `createdBefore` or last seen before `seenBefore`; returns how many. */
  pruneSessions(createdBefore: number, seenBefore: number): Promise<number>;
}

export interface HistoryStore extends SessionStore {
  readonly kind: 'sqlite' | 'postgresql';
  upsertMessage(row: MessageRow): Promise<void>;
  setHeld(id: string, held: boolean): Promise<void>;
  upsertDelivery(row: DeliveryRow): Promise<void>;
  upsertDeadLetter(row: DeadLetterRow): Promise<void>;
  markRedriven(keys: { partition: number; offset: string }[], by: string, at: number): Promise<void>;
  search(f: SearchFilter): Promise<SearchResult>;
  get(id: string): Promise<(MessageRow & { held: boolean }) | null>;
  deliveries(id: string): Promise<DeliveryRow[]>;
  deadLetters(f: { stage?: string; reason?: string; pending?: boolean; limit?: number }): Promise<DeadLetterRow[]>;
  deadLetterCounts(): Promise<{ stage: string; reason: string; pending: number; total: number }[]>;
  /** Deletes messages (and their recipients, deliveries) received before `before`, and dead letters that failed before it. */
  prune(before: number): Promise<number>;
  countMessages(): Promise<number>;
  /** Empties every table (a rebuild by replay follows). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 100;

/** Lower-case address/domain split used by both stores. */
export function addressKey(a: string): { address: string; domain: string } {
  const address = a.trim().toLowerCase();
  const at = address.lastIndexOf('@');
  return { address, domain: at >= 0 ? address.slice(at + 1) : address };
}

/** A sender/recipient filter: `{ address }` for an exact address, `{ domain }` otherwise. */
export function addressFilter(v: string): { address: string } | { domain: string } {
  const s = v.trim().toLowerCase();
  if (s.startsWith('@')) return { domain: s.slice(1) };
  if (s.includes('@')) return { address: s };
  return { domain: s };
}

/** Words for a full-text filter: letters/digits runs, at most 8, each at most 64 characters. */
export function words(v: string): string[] {
  return (v.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 8).map((w) => w.slice(0, 64));
}

/** An exact IP, or a prefix when the value ends with `.` or `:`. */
export function ipFilter(v: string): { exact: string } | { prefix: string } {
  const s = v.trim().toLowerCase();
  return /[.:]$/.test(s) ? { prefix: s } : { exact: s };
}

const DAY_MS = 86400000;

/** Matches a single query may fetch before a search first narrows to the newest day (PostgreSQL: ~60 ms per 1,000 rows, cold). */
const CHEAP_MATCHES = 3000;

/**
 * Newest-first search through a widening time window, for an index that cannot hand out its
 * matches in time order (PostgreSQL's GIN: otherwise every match is fetched from the heap — 37,000
 * rows and over a second for a common symbol at a million messages). `run` first looks at the last
 * day before `top` (the filter's end, or the newest message). A page there is the answer. Otherwise
 * that day's match rate estimates the whole range's (`span`: oldest to newest message): few
 * matches in all (under CHEAP_MATCHES) or none that day → one query over the whole filter;
 * many → one more over the days a page needs (×1.5), then the whole filter. `run` returns up to
 * limit + 1 rows, newest first.
 */
export async function searchInWindows(f: SearchFilter, limit: number, span: () => Promise<{ oldest: number; newest: number } | null>, run: (f: SearchFilter) => Promise<MessageSummary[]>): Promise<SearchResult> {
  const all = async () => { const rows = await run(f); return { rows: rows.slice(0, limit), more: rows.length > limit }; };
  const known = f.to !== undefined || f.before !== undefined ? null : await span();
  const top = f.to ?? (f.before !== undefined ? f.before - 1 : known?.newest);
  if (top === undefined) return all();
  const bottom = f.from ?? known?.oldest ?? top - 30 * DAY_MS;
  let window = DAY_MS;
  for (let attempt = 0; attempt < 2 && top - window > bottom; attempt++) {
    const rows = await run({ ...f, from: top - window });
    if (rows.length > limit) return { rows: rows.slice(0, limit), more: true };
    if (rows.length === 0 || (rows.length * (top - bottom)) / window < CHEAP_MATCHES) break;
    window = Math.ceil((1.5 * (limit + 1) * window) / rows.length);
  }
  return all();
}

export const clampLimit = (n: number | undefined) => Math.max(1, Math.min(MAX_LIMIT, Math.floor(n ?? DEFAULT_LIMIT)));

/** Filter values as the stores take them: no control characters (PostgreSQL refuses NUL), at most 256 characters. */
export function normalizeFilter(f: SearchFilter): SearchFilter {
  const out: SearchFilter = { ...f };
  for (const k of ['sender', 'recipient', 'subject', 'clientIp', 'action', 'symbol'] as const) {
    const v = f[k];
    if (v !== undefined) out[k] = v.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 256);
  }
  return out;
}

type DbRow = Record<string, unknown>;
const nullableNumber = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const nullableString = (v: unknown) => (v === null || v === undefined ? null : String(v));

export const sessionFromRow = (r: DbRow): StoredSession => ({ key: String(r.key), user: String(r.operator), created: Number(r.created), seen: Number(r.seen) });

/** A row of the messages table (either store; column names are the same) as a summary. */
export function summaryFromRow(r: DbRow): MessageSummary {
  return {
    id: String(r.id), receivedAt: Number(r.received_at), direction: r.direction as MessageSummary['direction'],
    mailFrom: String(r.mail_from), rcptTo: String(r.rcpt_to).split(' ').filter(Boolean), fromHeader: String(r.from_header),
    subject: String(r.subject), clientIp: String(r.client_ip), action: String(r.action), reasons: String(r.reasons).split('\n').filter(Boolean),
    spamProbability: nullableNumber(r.spam_probability), size: Number(r.size), held: r.held === true || Number(r.held) === 1,
  };
}

export const deliveryFromRow = (r: DbRow): DeliveryRow => ({
  recordId: String(r.record_id), recipient: String(r.recipient), status: String(r.status), at: Number(r.at), attempts: Number(r.attempts), nextHop: String(r.next_hop), reply: nullableString(r.reply),
});

/** PostgreSQL names the coordinates dl_partition / dl_offset (offset is a reserved word there). */
export const deadLetterFromRow = (r: DbRow): DeadLetterRow => ({
  partition: Number(r.partition ?? r.dl_partition), offset: String(r.offset ?? r.dl_offset), stage: String(r.stage), reason: String(r.reason), error: String(r.error),
  recordId: nullableString(r.record_id), sourceTopic: String(r.source_topic), sourcePartition: Number(r.source_partition),
  sourceOffset: Number(r.source_offset), failedAt: Number(r.failed_at), redrivenAt: nullableNumber(r.redriven_at), redrivenBy: nullableString(r.redriven_by),
});
