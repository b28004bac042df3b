/**
 * The console's web layer, hand-written on node:http(s) because it is small and every line of it is
 * security: sessions (random 256-bit ids in a `__Host-` cookie: Secure, HttpOnly, SameSite=Strict,
 * idle and absolute expiry), CSRF (a per-session token in every form, compared in constant time,
 * plus an Origin check on every POST), a strict Content-Security-Policy (no script at all; styles
 * from our own origin), no caching, bounded request bodies, and a limit on failed logins per
 * client address. Pages are server-rendered HTML with every value escaped (console/pages.ts).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

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

export class Sessions {
  private readonly byId = new Map<string, Session>();
  constructor(private readonly maxAgeMs: number) {}

  create(user: string): Session {
    this.sweep();
    const s: Session = { id: randomBytes(32).toString('base64url'), user, csrf: randomBytes(32).toString('base64url'), created: Date.now(), seen: Date.now() };
    this.byId.set(s.id, s);
    return s;
  }

  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const now = Date.now();
    if (now - s.created > this.maxAgeMs || now - s.seen > IDLE_MS) { this.byId.delete(id); return undefined; }
    s.seen = now;
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.byId.delete(id);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.byId) if (now - s.created > this.maxAgeMs || now - s.seen > IDLE_MS) this.byId.delete(id);
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
