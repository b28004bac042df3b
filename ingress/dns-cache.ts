/**
 * The ingress's DNS for its pre-queue checks (DNSBL, SPF, the client's reverse name and its forward
 * confirmation): node:dns's c-ares resolver (it runs on the event loop, not on libuv's thread pool,
 * so lookups never queue behind password hashing or file I/O) with a bounded cache in front and one
 * query in flight per name and type.
 *
 * Caching: A answers for their TTL (c-ares reports it for A/AAAA), clamped to [60 s, 1 h] like
 * postscreen's DNSBL cache; other types and negative answers (NXDOMAIN, NODATA — "not listed",
 * the common DNSBL answer) for 5 minutes, as c-ares gives no SOA to take a negative TTL from.
 * Failures (timeout, SERVFAIL) are cached for 10 s so a dead list is not asked once per client.
 * The cache keeps the `size` most recently used entries.
 */
import { Resolver } from 'node:dns/promises';
import type { Counter } from 'prom-client';

const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 3_600_000;
const NEGATIVE_TTL_MS = 300_000;
const FAILURE_TTL_MS = 10_000;
const DEFAULT_TTL_MS = 300_000;

export type RrType = 'A' | 'AAAA' | 'TXT' | 'MX' | 'PTR' | 'CNAME' | 'NS';

interface Entry { expires: number; value?: unknown; error?: Error & { code?: string } }

export interface DnsCacheOptions {
  /** "ip:port" / "[v6]:port" resolvers; undefined: the system's (/etc/resolv.conf). */
  servers?: string[];
  timeoutMs: number;
  /** Entries kept at most. */
  size: number;
  /** Counts lookups by result: hit, miss, error. */
  queries?: Counter<'result'>;
}

const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsCache {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: DnsCacheOptions) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs, tries: 1 });
    if (opts.servers?.length) this.resolver.setServers(opts.servers);
  }

  get size(): number {
    return this.cache.size;
  }

  /** Like dns.promises.resolve(name, type): errors carry node:dns codes (ENOTFOUND, ENODATA, ETIMEOUT…). */
  resolve(name: string, type: RrType): Promise<unknown> {
    const key = `${type} ${name.toLowerCase()}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) {
      // Re-inserting keeps the Map in least-recently-used order.
      this.cache.delete(key);
      this.cache.set(key, hit);
      this.opts.queries?.inc({ result: 'hit' });
      return hit.error ? Promise.reject(hit.error) : Promise.resolve(hit.value);
    }
    const running = this.inFlight.get(key);
    if (running) {
      this.opts.queries?.inc({ result: 'hit' });
      return running;
    }
    this.opts.queries?.inc({ result: 'miss' });
    const query = this.query(name, type).then(
      ({ value, ttlMs }) => {
        this.store(key, { expires: Date.now() + ttlMs, value });
        return value;
      },
      (e: Error & { code?: string }) => {
        if (!NEGATIVE.has(e.code ?? '')) this.opts.queries?.inc({ result: 'error' });
        this.store(key, { expires: Date.now() + (NEGATIVE.has(e.code ?? '') ? NEGATIVE_TTL_MS : FAILURE_TTL_MS), error: e });
        throw e;
      },
    ).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, query);
    return query;
  }

  /** A records of `name`; [] when the name does not exist or has none. Throws on failures. */
  a(name: string): Promise<string[]> {
    return this.addresses(name, 'A');
  }

  /** A or AAAA records of `name`; [] when the name does not exist or has none of that type. Throws on failures. */
  async addresses(name: string, type: 'A' | 'AAAA'): Promise<string[]> {
    try {
      return (await this.resolve(name, type)) as string[];
    } catch (e) {
      if (NEGATIVE.has((e as { code?: string }).code ?? '')) return [];
      throw e;
    }
  }

  private async query(name: string, type: RrType): Promise<{ value: unknown; ttlMs: number }> {
    if (type === 'A' || type === 'AAAA') {
      const records = type === 'A' ? await this.resolver.resolve4(name, { ttl: true }) : await this.resolver.resolve6(name, { ttl: true });
      const ttl = Math.min(...records.map((r) => r.ttl)) * 1000;
      return { value: records.map((r) => r.address), ttlMs: Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, Number.isFinite(ttl) ? ttl : DEFAULT_TTL_MS)) };
    }
    return { value: await this.resolver.resolve(name, type), ttlMs: DEFAULT_TTL_MS };
  }

  private store(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.opts.size) this.cache.delete(this.cache.keys().next().value!);
  }
}
