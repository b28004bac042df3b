/**
 * The little of the Matrix client-server API the notifier needs, over fetch: login, whoami, join,
 * send (PUT with a transaction id), and /messages to read our own posts back. Hand-written rather
 * than an SDK: matrix-bot-sdk and matrix-js-sdk pull in crypto (a native binary download or a WASM
 * build) and servers this bot never uses — see README.md.
 *
 * Every call retries what a retry can fix, until it works or the client is closed: network errors
 * and 5xx with exponential backoff (a homeserver that is down), 429 after the server's
 * retry_after_ms / Retry-After, an expired token by logging in again. Other 4xx are MatrixError.
 */
import type { Logger } from '../../runtime/log.ts';

export class MatrixError extends Error {
  override name = 'MatrixError';
  constructor(readonly status: number, readonly errcode: string, message: string) {
    super(`Matrix ${status} ${errcode}: ${message}`);
  }
}

/** The client was closed while a call waited for the homeserver. */
export class MatrixClosedError extends Error {
  override name = 'MatrixClosedError';
}

export type MatrixAuth =
  | { accessToken: string }
  /** Logs in with this fixed device id, so transaction ids de-duplicate across restarts. */
  | { user: string; password: string; deviceId: string };

export interface MatrixClientOptions {
  homeserverUrl: string;
  auth: MatrixAuth;
  log: Logger;
  /** Backoff bounds for retries (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Per-request time limit (ms). */
  requestTimeoutMs?: number;
  /** Called on every outcome, for metrics: ok, rate-limited, unavailable, error. */
  onOutcome?(endpoint: string, outcome: 'ok' | 'rate-limited' | 'unavailable' | 'error'): void;
}

export interface MatrixEvent {
  event_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  content: Record<string, unknown>;
}

export class MatrixClient {
  private token: string | undefined;
  private loggingIn: Promise<void> | undefined;
  private readonly closed = new AbortController();
  readonly baseUrl: string;
  userId: string | undefined;
  deviceId: string | undefined;

  constructor(private readonly opts: MatrixClientOptions) {
    this.baseUrl = opts.homeserverUrl.replace(/\/+$/, '');
    if ('accessToken' in opts.auth) this.token = opts.auth.accessToken;
  }

  /** Stops every retry loop; calls in progress reject with MatrixClosedError. */
  close(): void {
    this.closed.abort();
  }

  get isClosed(): boolean {
    return this.closed.signal.aborted;
  }

  /** Logs in (password auth) or checks the token, and learns our user and device id. */
  async connect(): Promise<{ userId: string; deviceId: string | undefined }> {
    if (!this.token) await this.login();
    const me = await this.call<{ user_id: string; device_id?: string }>('whoami', 'GET', '/account/whoami');
    this.userId = me.user_id;
    this.deviceId = me.device_id ?? this.deviceId;
    return { userId: this.userId, deviceId: this.deviceId };
  }

  private login(): Promise<void> {
    const auth = this.opts.auth;
    if ('accessToken' in auth) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'the access token was rejected; set a valid MATRIX_ACCESS_TOKEN');
    this.loggingIn ??= (async () => {
      const r = await this.call<{ access_token: string; user_id: string; device_id: string }>('login', 'POST', '/login', {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: auth.user },
        password: auth.password,
        device_id: auth.deviceId,
        initial_device_display_name: 'scop notifier',
      }, { anonymous: true });
      this.token = r.access_token;
      this.userId = r.user_id;
      this.deviceId = r.device_id;
      this.opts.log.info({ userId: r.user_id, deviceId: r.device_id }, 'logged in to Matrix');
    })().finally(() => { this.loggingIn = undefined; });
    return this.loggingIn;
  }

  /** Joins a room by id or alias (the bot must be invited unless the room is public); returns the room id. */
  async join(roomIdOrAlias: string): Promise<string> {
    const r = await this.call<{ room_id: string }>('join', 'POST', `/join/${encodeURIComponent(roomIdOrAlias)}`, {});
    return r.room_id;
  }

  /**
   * Sends a message event. The homeserver answers a repeated transaction id from the same device
   * with the first event's id instead of posting again; that is what makes retries safe.
   */
  async send(roomId: string, txnId: string, content: Record<string, unknown>): Promise<string> {
    const path = `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`;
    return (await this.call<{ event_id: string }>('send', 'PUT', path, content)).event_id;
  }

  /** One page of a room's timeline, newest first (dir=b) from `from` (default: now). */
  async messages(roomId: string, opts: { from?: string; limit?: number; filter?: object } = {}): Promise<{ chunk: MatrixEvent[]; end?: string }> {
    const q = new URLSearchParams({ dir: 'b', limit: String(opts.limit ?? 100) });
    if (opts.from) q.set('from', opts.from);
    if (opts.filter) q.set('filter', JSON.stringify(opts.filter));
    return this.call('messages', 'GET', `/rooms/${encodeURIComponent(roomId)}/messages?${q}`);
  }

  /** One /sync long poll (timeoutMs ≤ 20 s, under the request time limit). */
  async sync(opts: { since?: string; timeoutMs?: number; filter?: object }): Promise<{ next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: MatrixEvent[] } }> } }> {
    const q = new URLSearchParams({ timeout: String(Math.min(20000, opts.timeoutMs ?? 20000)) });
    if (opts.since) q.set('since', opts.since);
    if (opts.filter) q.set('filter', JSON.stringify(opts.filter));
    return this.call('sync', 'GET', `/sync?${q}`);
  }

  private async sleep(ms: number): Promise<void> {
    const signal = this.closed.signal;
    if (signal.aborted) throw new MatrixClosedError('Matrix client closed');
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); ok(); }, ms);
      const onAbort = () => { clearTimeout(t); fail(new MatrixClosedError('Matrix client closed')); };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** One API call with the retry policy above. */
  private async call<T>(endpoint: string, method: string, path: string, body?: unknown, opts: { anonymous?: boolean } = {}): Promise<T> {
    const minMs = this.opts.retryMinMs ?? 250;
    const maxMs = this.opts.retryMaxMs ?? 30000;
    const log = this.opts.log;
    let backoff = minMs;
    let relogged = false;
    for (let attempt = 0; ; attempt++) {
      if (this.closed.signal.aborted) throw new MatrixClosedError('Matrix client closed');
      if (!opts.anonymous && !this.token) await this.login();
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}/_matrix/client/v3${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...(opts.anonymous ? {} : { authorization: `Bearer ${this.token}` }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.any([this.closed.signal, AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30000)]),
        });
      } catch (e) {
        if (this.closed.signal.aborted) throw new MatrixClosedError('Matrix client closed');
        this.opts.onOutcome?.(endpoint, 'unavailable');
        const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
        log[attempt === 0 ? 'warn' : 'debug']({ endpoint, err: cause, attempt, retryInMs: backoff }, 'homeserver unreachable; retrying');
        await this.sleep(backoff);
        backoff = Math.min(maxMs, backoff * 2);
        continue;
      }
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try { json = text ? (JSON.parse(text) as Record<string, unknown>) : {}; } catch { /* a proxy's HTML error page */ }
      if (res.ok) {
        this.opts.onOutcome?.(endpoint, 'ok');
        return json as T;
      }
      const errcode = typeof json.errcode === 'string' ? json.errcode : 'M_UNKNOWN';
      const error = typeof json.error === 'string' ? json.error : text.slice(0, 200);
      if (res.status === 429) {
        this.opts.onOutcome?.(endpoint, 'rate-limited');
        const header = Number(res.headers.get('retry-after'));
        const waitMs = typeof json.retry_after_ms === 'number' ? json.retry_after_ms : Number.isFinite(header) && header > 0 ? header * 1000 : backoff;
        log.info({ endpoint, waitMs }, 'rate-limited by the homeserver; waiting as told');
        await this.sleep(waitMs);
        continue;
      }
      if (res.status >= 500 || res.status === 408) {
        this.opts.onOutcome?.(endpoint, 'unavailable');
        log[attempt === 0 ? 'warn' : 'debug']({ endpoint, status: res.status, errcode, attempt, retryInMs: backoff }, 'homeserver error; retrying');
        await this.sleep(backoff);
        backoff = Math.min(maxMs, backoff * 2);
        continue;
      }
      if (res.status === 401 && errcode === 'M_UNKNOWN_TOKEN' && !opts.anonymous && !('accessToken' in this.opts.auth) && !relogged) {
        log.warn({ endpoint }, 'access token no longer valid; logging in again');
        this.token = undefined;
        relogged = true;
        continue;
      }
      this.opts.onOutcome?.(endpoint, 'error');
      throw new MatrixError(res.status, errcode, error);
    }
  }
}
