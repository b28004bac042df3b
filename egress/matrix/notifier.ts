/**
 * The notifier's logic, independent of Kafka: route an alert to rooms, post it at once or hold it
 * for a digest, and make every post idempotent. handle() resolves when the alert is in every room
 * it goes to, which is when the sink (runtime/sink.ts) may commit its offset.
 *
 * Exactly-once on the Matrix side rests on two things (README.md has the argument):
 * - the transaction id of a post is derived from the ids of the alerts it covers, and the bot
 *   always sends as the same device, so the homeserver answers a repeated send with the first
 *   event instead of posting again (verified against Synapse, also across its restarts);
 * - every post carries the ids it covers (`dev.scop.alert_ids`); at start the notifier reads its
 *   own recent posts back, and skips alerts already posted — so a replay after a crash that groups
 *   alerts differently (a digest window cut elsewhere) still posts nothing twice.
 */
import { createHash } from 'node:crypto';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counterOn, gaugeOn } from '../../runtime/metrics.ts';
import type { Logger } from '../../runtime/log.ts';
import type { Alert } from '../../schemas/types.ts';
import { MatrixClient, MatrixClosedError, MatrixError } from './client.ts';
import { CommandListener } from './commands.ts';
import { roomsFor, type MatrixConfig } from './config.ts';
import { ALERT_IDS_KEY, alertMessage, digestMessage } from './format.ts';

/** A digest names every alert it covers; this keeps it well under Matrix's 64 KiB event limit. */
export const MAX_DIGEST_ALERTS = 400;
/** A window past its end is posted once no alert joined it for this long (a backlog read in one go stays in one digest). */
const SETTLE_MS = 1000;
const LEDGER_MAX = 200000;

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 40);
export const singleTxnId = (alertId: string) => `scop-a-${sha(alertId)}`;
export const digestTxnId = (alertIds: string[]) => `scop-d-${sha([...alertIds].sort().join('\u0000'))}`;

interface Window {
  key: string;
  roomId: string;
  end: number;
  /** The burst's first alert was posted on its own. */
  opened: boolean;
  members: Alert[];
  lastAddedAt: number;
  done: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

export interface NotifierMetrics {
  posts: Counter<'type'>;
  skipped: Counter<'reason'>;
  requests: Counter<'endpoint' | 'outcome'>;
  up: Gauge;
  enabled: Gauge;
}

export function notifierMetrics(registry: Registry): NotifierMetrics {
  return {
    posts: counterOn(registry, { name: 'scop_matrix_posts_total', help: 'Messages posted to Matrix, by type (alert, digest).', labelNames: ['type'] as const }),
    skipped: counterOn(registry, { name: 'scop_matrix_alerts_skipped_total', help: 'Alerts not posted, by reason (already-posted, unrouted).', labelNames: ['reason'] as const }),
    requests: counterOn(registry, { name: 'scop_matrix_requests_total', help: 'Client-server API calls by endpoint and outcome (ok, rate-limited, unavailable, error).', labelNames: ['endpoint', 'outcome'] as const }),
    up: gaugeOn(registry, { name: 'scop_matrix_homeserver_up', help: '1 when the last call reached the homeserver.' }),
    enabled: gaugeOn(registry, { name: 'scop_matrix_notifier_enabled', help: '1 when the Matrix notifier is configured and running.' }),
  };
}

export class Notifier {
  readonly client: MatrixClient;
  /** Resolves once logged in, rooms joined and our recent posts read back. */
  readonly ready: Promise<void>;
  /** Configured room (id or alias) → room id. */
  private readonly roomIds = new Map<string, string>();
  /** `${roomId} ${alertId}` of alerts known to be posted; insertion-ordered so the oldest go first. */
  private readonly posted = new Set<string>();
  /** Alerts handed over and not posted yet (a replay within this process waits for the same post). */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly windows = new Map<string, Window>();
  /** Per digest key: end of its last window and whether that window held a burst. */
  private readonly lastWindow = new Map<string, { end: number; burst: boolean }>();
  /** Posts go out one at a time, in order: the homeserver's rate limit applies to all of them anyway. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout | undefined;
  private commands: CommandListener | undefined;
  private readonly startedAt = Date.now();
  private readonly counts = { alone: 0, digests: 0, alreadyPosted: 0, unrouted: 0, queued: 0, lastPostAt: 0 };

  constructor(private readonly cfg: MatrixConfig, private readonly log: Logger, private readonly metrics: NotifierMetrics) {
    this.client = new MatrixClient({
      homeserverUrl: cfg.homeserverUrl, auth: cfg.auth, log, retryMaxMs: cfg.retryMaxMs,
      onOutcome: (endpoint, outcome) => {
        metrics.requests.inc({ endpoint, outcome });
        metrics.up.set(outcome === 'unavailable' ? 0 : 1);
      },
    });
    this.ready = this.start();
    this.ready.catch(() => {}); // handle() reports it
    if (cfg.digestWindowMs > 0) this.timer = setInterval(() => this.flushDue(Date.now()), Math.min(1000, Math.max(50, cfg.digestWindowMs / 4)));
  }

  /** Retries until the homeserver lets us in: a homeserver that is down or a room not yet invited to only delays alerts. */
  private async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const me = await this.client.connect();
        for (const r of this.cfg.routes) if (!this.roomIds.has(r.room)) this.roomIds.set(r.room, await this.client.join(r.room));
        let found = 0;
        for (const roomId of new Set(this.roomIds.values())) found += await this.readBack(roomId, me.userId);
        this.log.info({ userId: me.userId, deviceId: me.deviceId, rooms: Object.fromEntries(this.roomIds), alreadyPosted: found }, 'Matrix notifier ready');
        if (this.cfg.commandUsers.length > 0 && !this.client.isClosed) {
          this.commands = new CommandListener(this.client, new Set(this.roomIds.values()), new Set(this.cfg.commandUsers), () => this.status(), this.log);
          this.commands.start();
        }
        return;
      } catch (e) {
        if (e instanceof MatrixClosedError) throw e;
        // 4xx at start (wrong password, not invited): an operator must act; keep trying slowly.
        this.log.error({ err: (e as Error).message, attempt }, 'Matrix notifier cannot start yet; retrying');
        await new Promise((r) => setTimeout(r, this.cfg.retryMaxMs));
        if (this.client.isClosed) throw new MatrixClosedError('Matrix client closed');
      }
    }
  }

  /** Reads our own posts of the last dedupLookbackMs back into the ledger; returns how many alert ids it found. */
  private async readBack(roomId: string, userId: string): Promise<number> {
    if (this.cfg.dedupLookbackMs <= 0) return 0;
    const since = Date.now() - this.cfg.dedupLookbackMs;
    let from: string | undefined;
    let found = 0;
    for (let page = 0; page < 100; page++) {
      const r = await this.client.messages(roomId, { from, limit: 100, filter: { types: ['m.room.message'], senders: [userId] } });
      for (const ev of r.chunk) {
        const ids = ev.content[ALERT_IDS_KEY];
        if (ev.sender === userId && ev.origin_server_ts >= since && Array.isArray(ids)) for (const id of ids) if (typeof id === 'string') { this.remember(roomId, id); found++; }
      }
      const oldest = r.chunk[r.chunk.length - 1];
      if (!r.end || r.chunk.length === 0 || (oldest && oldest.origin_server_ts < since)) break;
      from = r.end;
    }
    return found;
  }

  private remember(roomId: string, alertId: string): void {
    this.posted.add(`${roomId} ${alertId}`);
    if (this.posted.size > LEDGER_MAX) this.posted.delete(this.posted.values().next().value!);
  }

  /** Resolves when the alert is posted (alone or in a digest) in every room it is routed to. */
  async handle(alert: Alert): Promise<void> {
    const rooms = roomsFor(this.cfg.routes, alert);
    if (rooms.length === 0) {
      this.metrics.skipped.inc({ reason: 'unrouted' });
      this.counts.unrouted++;
      return;
    }
    await this.ready;
    // An alias and an id configured for the same room must not post twice.
    await Promise.all([...new Set(rooms.map((room) => this.roomIds.get(room)!))].map((roomId) => this.deliver(alert, roomId)));
  }

  private deliver(alert: Alert, roomId: string): Promise<void> {
    const key = `${roomId} ${alert.id}`;
    if (this.posted.has(key)) {
      this.metrics.skipped.inc({ reason: 'already-posted' });
      this.counts.alreadyPosted++;
      return Promise.resolve();
    }
    const waiting = this.pending.get(key);
    if (waiting) return waiting;
    const p = this.place(alert, roomId).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private place(alert: Alert, roomId: string): Promise<void> {
    const windowMs = this.cfg.digestWindowMs;
    if (windowMs <= 0 || alert.subject === null || alert.severity === 'critical') return this.postSingle(alert, roomId);
    const key = `${roomId}\u0000${alert.kind}\u0000${alert.subject}`;
    let w = this.windows.get(key);
    // Windows run on the alerts' own time, so a backlog read after an outage is grouped as it happened.
    if (w && (alert.createdAt >= w.end || w.members.length >= MAX_DIGEST_ALERTS)) {
      this.flush(w);
      w = undefined;
    }
    if (!w) {
      const last = this.lastWindow.get(key);
      const burstGoesOn = last !== undefined && last.burst && alert.createdAt < last.end + windowMs;
      w = this.openWindow(key, roomId, alert.createdAt + windowMs, !burstGoesOn);
      // A new burst's first alert is posted at once; the rest of the window becomes one digest.
      if (!burstGoesOn) return this.postSingle(alert, roomId);
    }
    w.members.push(alert);
    w.lastAddedAt = Date.now();
    return w.done;
  }

  private openWindow(key: string, roomId: string, end: number, opened: boolean): Window {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((ok, fail) => { resolve = ok; reject = fail; });
    done.catch(() => {});
    const w: Window = { key, roomId, end, opened, members: [], lastAddedAt: 0, done, resolve, reject };
    this.windows.set(key, w);
    return w;
  }

  private flush(w: Window): void {
    if (this.windows.get(w.key) === w) this.windows.delete(w.key);
    this.lastWindow.set(w.key, { end: w.end, burst: w.members.length > 0 });
    if (w.members.length === 0) return w.resolve();
    const members = w.members;
    this.enqueue(async () => {
      const txnId = digestTxnId(members.map((a) => a.id));
      const eventId = await this.client.send(w.roomId, txnId, digestMessage(members, this.cfg.digestWindowMs, w.opened));
      for (const a of members) this.remember(w.roomId, a.id);
      this.metrics.posts.inc({ type: 'digest' });
      this.counts.digests++;
      this.log.info({ roomId: w.roomId, eventId, txnId, alerts: members.length }, 'digest posted');
    }).then(w.resolve, w.reject);
  }

  /** Posts the digests of windows that are over (by the clock) and settled. */
  flushDue(now: number): void {
    for (const w of [...this.windows.values()]) if (now >= w.end && now - w.lastAddedAt >= SETTLE_MS) this.flush(w);
    for (const [k, last] of this.lastWindow) if (now > last.end + this.cfg.digestWindowMs) this.lastWindow.delete(k);
  }

  /** At stop: post every open digest now rather than leave it to a replay. */
  flushAll(): void {
    for (const w of [...this.windows.values()]) this.flush(w);
  }

  private postSingle(alert: Alert, roomId: string): Promise<void> {
    return this.enqueue(async () => {
      const txnId = singleTxnId(alert.id);
      const eventId = await this.client.send(roomId, txnId, alertMessage(alert));
      this.remember(roomId, alert.id);
      this.metrics.posts.inc({ type: 'alert' });
      this.counts.alone++;
      this.log.info({ roomId, eventId, txnId, alertId: alert.id, kind: alert.kind, recordId: alert.recordId }, 'alert posted');
    });
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    this.counts.queued++;
    const p = this.queue.then(job).finally(() => { this.counts.queued--; this.counts.lastPostAt = Date.now(); });
    this.queue = p.catch(() => {});
    return p;
  }

  /** What `!scop status` answers. */
  status(): string {
    const c = this.counts;
    const held = [...this.windows.values()].reduce((n, w) => n + w.members.length, 0);
    const iso = (t: number) => (t ? new Date(t).toISOString() : 'never');
    return [
      `scop matrix notifier, ${this.client.userId} device ${this.client.deviceId}, up since ${iso(this.startedAt)}`,
      `posted: ${c.alone} alerts on their own, ${c.digests} digests; last post ${iso(c.lastPostAt)}`,
      `skipped: ${c.alreadyPosted} already posted, ${c.unrouted} not routed to any room`,
      `waiting: ${held} alerts in ${this.windows.size} open digest windows (${Math.round(this.cfg.digestWindowMs / 1000)} s), ${c.queued} posts queued`,
    ].join('\n');
  }

  close(): void {
    clearInterval(this.timer);
    void this.commands?.stop();
    this.client.close();
    // Windows still open are not posted; their alerts are not committed and come back on the next start.
    for (const w of this.windows.values()) w.reject(new MatrixClosedError('notifier stopped'));
    this.windows.clear();
  }
}

/** A post the homeserver refused for good (403 not in room, 400 bad event): the sink dead-letters the alert. */
export const isPermanent = (e: unknown): boolean => e instanceof MatrixError;
