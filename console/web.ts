/**
 * The console's web layer, hand-written on node:http(s) because it is small and every line of it is
 * security: sessions (random 256-bit ids in a `__Host-` cookie: Secure, HttpOnly, SameSite=Strict,
 * idle and absolute expiry; kept hashed in the history database), CSRF (a per-session token in every form, compared in constant time,
 * plus an Origin check on every POST), a strict Content-Security-Policy (no script at all; styles
 * from our own origin), no caching, bounded request bodies, and a limit on failed logins per
 * client address. Pages are server-rendered HTML with every value escaped (console/pages.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionStore } from './store.ts';

export const SESSION_COOKIE = '__Host-scop-console';
export const LOGIN_COOKIE = '__Host-scop-login';
const MAX_BODY = 256 * 1024;
const IDLE_MS = 30 * 60 * 1000;

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on our own form posts, which the Origin check needs.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
  'Cache-Control': 'no-store',
};

export interface Session { id: string; user: string; csrf: string; created: number; seen: number }

/** A session id as the store keeps it: a database reader cannot use it as a cookie, nor derive the CSRF token. */
export const sessionKey = (id: string) => createHash('sha256').update('scop-console-session\0').update(id).digest('hex');
/** The session's CSRF token, derived from its id (so nothing but the hashed id is stored). */
const csrfOf = (id: string) => createHash('sha256').update('scop-console-csrf\0').update(id).digest('base64url');
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
/** `seen` is written back at most this often: not one database write per page. */
const TOUCH_MS = 60 * 1000;
const SWEEP_MS = 60 * 1000;

/**
 * Sessions in the history database (SessionStore), so a console restart keeps everyone logged in
 * and several instances on one PostgreSQL share them. Ids are 256 random bits, stored hashed;
 * idle (30 min) and absolute (CONSOLE_SESSION_HOURS) expiry are checked on every request, and
 * expired rows are swept at most once a minute.
 */
export class Sessions {
  private lastSweep = 0;
  constructor(private readonly store: SessionStore, private readonly maxAgeMs: number, private readonly idleMs = IDLE_MS, private readonly now: () => number = Date.now) {}

  async create(user: string): Promise<Session> {
    await this.sweep();
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    await this.store.putSession({ key: sessionKey(id), user, created: t, seen: t });
    return { id, user, csrf: csrfOf(id), created: t, seen: t };
  }

  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || !SESSION_ID.test(id)) return undefined;
    const key = sessionKey(id);
    const s = await this.store.getSession(key);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.created > this.maxAgeMs || now - s.seen > this.idleMs) { await this.store.deleteSession(key); return undefined; }
    if (now - s.seen >= TOUCH_MS) await this.store.touchSession(key, now);
    return { id, user: s.user, csrf: csrfOf(id), created: s.created, seen: now };
  }

  async end(id: string | undefined): Promise<void> {
    if (id && SESSION_ID.test(id)) await this.store.deleteSession(sessionKey(id));
  }

  /** Removes expired sessions (at most once a minute). */
  async sweep(): Promise<number> {
    const now = this.now();
    if (now - this.lastSweep < SWEEP_MS) return 0;
    this.lastSweep = now;
    return this.store.pruneSessions(now - this.maxAgeMs, now - this.idleMs);
  }
}

/** Failed logins per client address in the last minute. */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(private readonly perMinute: number) {}

  blocked(addr: string): boolean {
    const now = Date.now();
    const recent = (this.failures.get(addr) ?? []).filter((t) => now - t < 60000);
    if (recent.length) this.failures.set(addr, recent); else this.failures.delete(addr);
    return recent.length >= this.perMinute;
  }

  fail(addr: string): void {
    if (this.failures.size > 100000) this.failures.clear(); // a flood of addresses must not grow memory
    this.failures.set(addr, [...(this.failures.get(addr) ?? []), Date.now()]);
  }
}

export function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').slice(0, 8192).split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export const setCookie = (name: string, value: string, maxAgeS: number) => `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;

export const sameToken = (a: string | undefined | null, b: string | undefined | null) => {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** An application/x-www-form-urlencoded body, at most 256 KiB. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'forms only');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * A POST must come from one of our own pages: its Origin (or, without one, its Referer) names this
 * console. Browsers send Origin on every cross-origin POST, so a forged form fails here even
 * before the token check.
 */
export function sameOrigin(req: IncomingMessage, scheme: 'http' | 'https'): boolean {
  const host = req.headers.host;
  if (!host) return false;
  const origin = req.headers.origin ?? (req.headers.referer ? (() => { try { return new URL(req.headers.referer!).origin; } catch { return 'invalid'; } })() : undefined);
  return origin === `${scheme}://${host}`;
}

export function send(res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', ...headers });
  res.end(body);
}

export function redirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location, ...headers });
  res.end();
}
