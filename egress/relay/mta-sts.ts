/**
 * MTA-STS (RFC 8461) for outbound delivery: the recipient domain's policy, kept in memory until its
 * max_age, and the decision per MX host.
 *
 * mailauth's helpers do the parts that are pure: `resolvePolicy` (the `_mta-sts` TXT id through our
 * resolver), `parsePolicy` and `validateMx`. Its `fetchPolicy`/`getPolicy` are not used: the fetch
 * is pinned to port 443 and the system CA store (still so in mailauth 7), so it cannot be pointed
 * at a test server or a private CA. The HTTPS fetch below is
 * ~40 lines of node:https: no redirects, 200 + text/plain only, 64 KiB at most, certificate
 * checked against mta-sts.<domain>.
 */
import { request } from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { parsePolicy, resolvePolicy, validateMx } from 'mailauth/lib/mta-sts.js';
import type { Logger } from '../../runtime/log.ts';
import { addressesOf, asciiDomain, type Dns } from './mx.ts';

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  id: string;
  mode: StsMode;
  mx: string[];
  maxAge: number;
  /** ms since epoch */
  expiresAt: number;
}

export interface StsLookup {
  policy: StsPolicy | null;
  /** none: the domain publishes no policy (or it could not be had and none is cached: RFC 8461 §5 "as though no MTA-STS"). */
  source: 'none' | 'cached' | 'fetched' | 'unavailable';
  error?: string;
}

/** RFC 8461 §4.1: a pattern is a host name or `*.` + domain, where `*` stands for exactly one label. */
export function mxMatches(mx: string, policy: Pick<StsPolicy, 'mode' | 'mx'>): boolean {
  const host = asciiDomain(mx);
  // mailauth 7 lets "*." stand for exactly one label (4.x matched any depth).
  return validateMx(host, { mode: policy.mode, mx: policy.mx }).valid;
}

export interface PolicyFetchOptions { dns: Dns; ca: string[]; timeoutMs: number }

/** GET the policy over HTTPS, connecting to the address our resolver gives for the URL's host. */
export async function fetchPolicyText(url: string, o: PolicyFetchOptions): Promise<string> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  let address = host;
  if (!isIP(host)) {
    const a = await addressesOf(host, o.dns);
    if (!a.addresses.length) throw Object.assign(new Error(`${host}: no address (${a.error})`), { code: 'ENOTFOUND' });
    address = a.addresses[0]!;
  }
  return new Promise<string>((ok, fail) => {
    const req = request({
      host: address, port: u.port || 443, path: `${u.pathname}${u.search}`, method: 'GET',
      servername: isIP(host) ? undefined : host, headers: { host: u.host, accept: 'text/plain' },
      ca: [...rootCertificates, ...o.ca], rejectUnauthorized: true, timeout: o.timeoutMs, agent: false,
    }, (res) => {
      const type = String(res.headers['content-type'] ?? '');
      const status = res.statusCode ?? 0;
      if (status !== 200) { res.resume(); return fail(new Error(`HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`)); }
      if (!/^text\/plain\s*(;|$)/i.test(type)) { res.resume(); return fail(new Error(`Content-Type ${type || 'missing'}, not text/plain`)); }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) { req.destroy(new Error('policy larger than 64 KiB')); return; }
        chunks.push(c);
      });
      res.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

export interface MtaStsOptions extends PolicyFetchOptions {
  urlTemplate: string;
  log: Logger;
  now?: () => number;
  /** After a failed fetch with nothing cached, do not try again for this long (ms). */
  retryAfterFailureMs?: number;
}

/** The policy cache (in memory, per process) and the RFC 8461 §5 rules for using it. */
export class MtaStsPolicies {
  private readonly cache = new Map<string, StsPolicy>();
  private readonly failedUntil = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: MtaStsOptions) {
    this.now = o.now ?? Date.now;
  }

  cached(domain: string): StsPolicy | undefined {
    const p = this.cache.get(asciiDomain(domain));
    return p && p.expiresAt > this.now() ? p : undefined;
  }

  async lookup(domain: string): Promise<StsLookup> {
    const d = asciiDomain(domain);
    const cached = this.cached(d);
    let id: string | false;
    try {
      id = await resolvePolicy(d, { resolver: async (name: string, type: string) => (type === 'TXT' ? this.o.dns.resolveTxt(name) : []) });
    } catch (e) {
      // DNS trouble: a fresh cached policy still applies; without one, deliver as though there were none.
      const error = `_mta-sts.${d} TXT: ${(e as { code?: string }).code ?? (e as Error).message}`;
      return cached ? { policy: cached, source: 'cached', error } : { policy: null, source: 'unavailable', error };
    }
    // A withdrawn TXT record does not cancel a cached policy before its max_age (RFC 8461 §10.2).
    if (!id) return cached ? { policy: cached, source: 'cached' } : { policy: null, source: 'none' };
    if (cached && cached.id === id) return { policy: cached, source: 'cached' };
    if ((this.failedUntil.get(d) ?? 0) > this.now() && !cached) return { policy: null, source: 'unavailable', error: 'recent policy fetch failed; not retried yet' };
    const url = this.o.urlTemplate.replaceAll('{domain}', d);
    try {
      const p = parsePolicy(await fetchPolicyText(url, this.o));
      const policy: StsPolicy = { id, mode: p.mode, mx: p.mx ?? [], maxAge: p.maxAge ?? 0, expiresAt: this.now() + (p.maxAge ?? 0) * 1000 };
      this.cache.set(d, policy);
      this.failedUntil.delete(d);
      this.o.log.info({ domain: d, id, mode: policy.mode, mx: policy.mx, maxAge: policy.maxAge }, 'MTA-STS policy fetched');
      return { policy, source: 'fetched' };
    } catch (e) {
      const error = `${url}: ${(e as Error).message}`;
      this.failedUntil.set(d, this.now() + (this.o.retryAfterFailureMs ?? 60000));
      this.o.log.warn({ domain: d, id, error, cached: Boolean(cached) }, 'MTA-STS policy fetch failed');
      return cached ? { policy: cached, source: 'cached', error } : { policy: null, source: 'unavailable', error };
    }
  }
}
