/**
 * The stage's DNS: a stub resolver that asks the operator's servers (DNS_SERVERS) over UDP, falls
 * back to TCP on truncation, retries with server rotation, and keeps a bounded cache that honours
 * record TTLs and caches negative answers for the SOA's negative TTL (RFC 2308).
 *
 * Hand-written on dns-packet (wire format only) because node:dns (c-ares) reports no TTL for TXT/MX
 * and no SOA for negative answers, so it cannot cache correctly, and no maintained npm resolver
 * offers that with operator-set servers, timeout and retries.
 *
 * Answers are shaped like node:dns `resolve()` (what mailauth expects); failures are Errors with
 * node:dns codes: ENOTFOUND (NXDOMAIN), ENODATA (no record of that type), ETIMEOUT, ESERVFAIL,
 * EREFUSED, EBADRESP. A timeout never becomes an empty answer.
 */
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP, connect } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DnsServer } from '../../runtime/config.ts';

export type RrType = 'A' | 'AAAA' | 'TXT' | 'MX' | 'PTR' | 'CNAME' | 'NS';
export interface MxRecord { exchange: string; priority: number }
/** node:dns `resolve()` shapes: string[] for A/AAAA/PTR/CNAME/NS, string[][] for TXT, MxRecord[] for MX. */
export type RrValue = string[] | string[][] | MxRecord[];


export interface DnsOptions {
  servers: DnsServer[];
  /** Per attempt. */
  timeoutMs: number;
  /** Further attempts after the first (each goes to the next server). */
  retries: number;
  /** Cache entries kept at most (least recently used go first); 0 disables the cache. */
  cacheSize: number;
  /** Upper bound for any cached TTL, seconds. */
  maxTtl: number;
}

/**
 * A negative or failed answer, thrown to mailauth as node:dns would. Built without a stack trace: it
 * is an answer, not a fault (NXDOMAIN and NODATA are routine: SPF of a HELO name, `_dmarc.` of a
 * subdomain…), its code and message say everything (dead letters keep only the message), and
 * capturing the stack through the stage's async frames was ~8 % of the auth stage's CPU on the e2e
 * bench's messages (bench/README.md, "CPU per message of the fused inbound process").
 */
export class DnsError extends Error {
  constructor(readonly code: string, readonly hostname: string, readonly rrtype: string, detail?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(`${rrtype} ${hostname}: ${code}${detail ? ` (${detail})` : ''}`);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'DnsError';
  }
}


interface Answer { value?: RrValue; code?: string; ttl: number }

const RCODE_ERRORS: Record<string, string> = { NXDOMAIN: 'ENOTFOUND', SERVFAIL: 'ESERVFAIL', REFUSED: 'EREFUSED', FORMERR: 'EFORMERR', NOTIMP: 'ENOTIMP' };

/** A name that cannot exist in DNS (RFC 1035 2.3.4): answered as NXDOMAIN without a query. */
export function invalidDnsName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return true;
  return n.split('.').some((l) => l.length === 0 || Buffer.byteLength(l) > 63);
}

function txtString(b: Buffer | string): string {
  if (typeof b === 'string') return b;
  const s = b.toString('utf8');
  // Not valid UTF-8: keep the bytes visible as Latin-1 (SPF then refuses non-ASCII records).
  return s.includes('\uFFFD') ? b.toString('latin1') : s;
}

function shape(type: RrType, answers: dnsPacket.Answer[]): { value: RrValue; ttl: number } {
  const rrs = answers.filter((a) => a.type === type);
  const ttl = rrs.reduce((m, a) => Math.min(m, (a as { ttl?: number }).ttl ?? 0), Number.POSITIVE_INFINITY);
  const data = rrs.map((a) => (a as { data: unknown }).data);
  let value: RrValue;
  switch (type) {
    case 'TXT': value = data.map((d) => (Array.isArray(d) ? d : [d]).map((x) => txtString(x as Buffer | string))); break;
    case 'MX': value = data.map((d) => ({ exchange: String((d as { exchange: string }).exchange).replace(/\.$/, ''), priority: (d as { preference: number }).preference })); break;
    default: value = data.map((d) => String(d).replace(/\.$/, ''));
  }
  return { value, ttl: Number.isFinite(ttl) ? ttl : 0 };
}

/** RFC 2308 §5: negative TTL = min(SOA TTL, SOA MINIMUM); no SOA → not cached. */
function negativeTtl(res: dnsPacket.Packet): number {
  const soa = (res.authorities ?? []).find((a) => a.type === 'SOA') as (dnsPacket.Answer & { ttl?: number; data: { minimum: number } }) | undefined;
  return soa ? Math.min(soa.ttl ?? 0, soa.data.minimum) : 0;
}

export interface DnsStats {
  /** Lookups asked of the resolver (cache hits included). */
  lookups: number;
  /** Lookups answered from the cache. */
  cacheHits: number;
  /** Queries sent to a server (attempts, so a retry counts again). */
  queries: number;
  timeouts: number;
}

export const emptyStats = (): DnsStats => ({ lookups: 0, cacheHits: 0, queries: 0, timeouts: 0 });

/** A resolver function as mailauth wants it: (name, type) → node:dns-shaped answer or a DnsError. */
export type ResolveFn = (name: string, rrtype: string) => Promise<RrValue>;

export class DnsResolver {
  private readonly cache = new Map<string, Answer & { expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<Answer>>();
  /** Process-wide counters (for metrics). */
  readonly totals = emptyStats();
  private next = 0;

  constructor(readonly options: DnsOptions) {
    if (options.servers.length === 0) throw new Error('no DNS servers configured');
  }

  get cacheEntries(): number {
    return this.cache.size;
  }

  clearCache(): void {
    this.cache.clear();
  }

  /** A resolver function counting into `stats` (one per message), aborted by `signal`. */
  forMessage(stats: DnsStats, signal?: AbortSignal): ResolveFn {
    return (name, rrtype) => this.resolve(name, rrtype as RrType, stats, signal);
  }

  async resolve(name: string, type: RrType, stats: DnsStats = emptyStats(), signal?: AbortSignal): Promise<RrValue> {
    const qname = name.replace(/\.$/, '').toLowerCase();
    stats.lookups++;
    this.totals.lookups++;
    if (invalidDnsName(qname)) throw new DnsError('ENOTFOUND', name, type, 'not a valid DNS name');
    const key = `${type} ${qname}`;
    let answer: Answer | undefined = this.fromCache(key);
    if (answer) {
      stats.cacheHits++;
      this.totals.cacheHits++;
    } else {
      let pending = this.inflight.get(key);
      if (!pending) {
        pending = this.query(qname, type, stats, signal).finally(() => this.inflight.delete(key));
        this.inflight.set(key, pending);
      } else {
        stats.cacheHits++;
        this.totals.cacheHits++;
      }
      answer = await pending;
      this.store(key, answer);
    }
    if (answer.code) throw new DnsError(answer.code, name, type);
    return answer.value!;
  }

  private fromCache(key: string): Answer | undefined {
    const hit = this.cache.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= Date.now()) {
      this.cache.delete(key);
      return undefined;
    }
    // LRU: re-insert to move it to the young end.
    this.cache.delete(key);
    this.cache.set(key, hit);
    return hit;
  }

  private store(key: string, answer: Answer): void {
    const { cacheSize, maxTtl } = this.options;
    // Timeouts and server failures are not cached: the next message asks again.
    if (cacheSize <= 0 || answer.ttl <= 0 || (answer.code && answer.code !== 'ENOTFOUND' && answer.code !== 'ENODATA')) return;
    this.cache.delete(key);
    this.cache.set(key, { ...answer, expiresAt: Date.now() + Math.min(answer.ttl, maxTtl) * 1000 });
    while (this.cache.size > cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }

  private async query(qname: string, type: RrType, stats: DnsStats, signal?: AbortSignal): Promise<Answer> {
    const { servers, retries } = this.options;
    let last = 'ETIMEOUT';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (signal?.aborted) return { code: 'ETIMEOUT', ttl: 0 };
      const server = servers[(this.next++) % servers.length]!;
      stats.queries++;
      this.totals.queries++;
      let res: dnsPacket.Packet;
      try {
        res = await this.exchange(server, qname, type, 'udp', signal);
        if ((res.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) res = await this.exchange(server, qname, type, 'tcp', signal);
      } catch (e) {
        last = (e as { code?: string }).code ?? 'ETIMEOUT';
        if (last === 'ETIMEOUT') {
          stats.timeouts++;
          this.totals.timeouts++;
        }
        continue;
      }
      const rcode = (res as { rcode?: string }).rcode ?? 'NOERROR';
      if (rcode === 'NOERROR') {
        const { value, ttl } = shape(type, res.answers ?? []);
        if ((value as unknown[]).length === 0) return { code: 'ENODATA', ttl: negativeTtl(res) };
        return { value, ttl };
      }
      if (rcode === 'NXDOMAIN') return { code: 'ENOTFOUND', ttl: negativeTtl(res) };
      // SERVFAIL / REFUSED from this server: another server may answer.
      last = RCODE_ERRORS[rcode] ?? 'EBADRESP';
    }
    return { code: last, ttl: 0 };
  }

  private exchange(server: DnsServer, qname: string, type: RrType, proto: 'udp' | 'tcp', signal?: AbortSignal): Promise<dnsPacket.Packet> {
    const id = randomInt(0, 65536);
    const packet = dnsPacket.encode({
      type: 'query', id, flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name: qname, class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as unknown as dnsPacket.Answer],
    });
    const matches = (res: dnsPacket.Packet) => res.id === id && res.type === 'response'
      && (res.questions ?? []).some((q) => q.name.toLowerCase() === qname && q.type === type);
    return new Promise((resolve, reject) => {
      let done = false;
      let cleanup = () => {};
      const finish = (err: Error | null, res?: dnsPacket.Packet) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        cleanup();
        if (err) reject(err); else resolve(res!);
      };
      const timeout = () => finish(Object.assign(new Error('DNS timeout'), { code: 'ETIMEOUT' }));
      const onAbort = () => timeout();
      const timer = setTimeout(timeout, this.options.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (proto === 'udp') {
        const sock = createSocket(isIP(server.host) === 6 ? 'udp6' : 'udp4');
        cleanup = () => sock.close();
        sock.on('error', (e) => finish(Object.assign(e, { code: 'ECONNREFUSED' })));
        sock.on('message', (msg, rinfo) => {
          if (rinfo.port !== server.port) return;
          let res: dnsPacket.Packet;
          try { res = dnsPacket.decode(msg); } catch { return; /* garbage: keep waiting */ }
          if (matches(res)) finish(null, res);
        });
        sock.send(packet, server.port, server.host, (e) => { if (e) finish(e); });
      } else {
        const sock = connect({ host: server.host, port: server.port });
        cleanup = () => sock.destroy();
        let buf = Buffer.alloc(0);
        sock.on('error', (e) => finish(Object.assign(e, { code: 'ECONNREFUSED' })));
        sock.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            let res: dnsPacket.Packet;
            try { res = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))); } catch { return finish(Object.assign(new Error('bad DNS response'), { code: 'EBADRESP' })); }
            if (matches(res)) finish(null, res); else finish(Object.assign(new Error('mismatched DNS response'), { code: 'EBADRESP' }));
          }
        });
        const len = Buffer.alloc(2);
        len.writeUInt16BE(packet.length);
        sock.write(Buffer.concat([len, packet]));
      }
    });
  }
}
