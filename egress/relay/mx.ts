/**
 * Where outbound mail for a domain goes (RFC 5321 §5.1): its MX hosts in preference order (equal
 * preferences shuffled), the domain itself as implicit MX when it has no MX records but an address,
 * and a permanent refusal for a null MX (RFC 7505) or a domain that does not exist. DNS failures
 * (SERVFAIL, timeouts) are temporary: the job goes to a retry topic.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';

/** The lookups we need; node:dns/promises Resolver has them (tests may pass their own). */
export interface Dns {
  resolveMx(name: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveTxt(name: string): Promise<string[][]>;
}

export function createResolver(o: { servers?: string[]; timeoutMs: number }): Dns {
  const r = new Resolver({ timeout: o.timeoutMs, tries: 2 });
  if (o.servers?.length) r.setServers(o.servers);
  return r;
}

export interface MxHost {
  /** Host name (A-label, lower case, no trailing dot). */
  name: string;
  preference: number;
  /** The domain itself, used because it has no MX records (RFC 5321 §5.1). */
  implicit: boolean;
}

export type MxRoute =
  | { kind: 'hosts'; hosts: MxHost[] }
  /** reply: an SMTP-style line for the delivery log and the DSN; reason: its class, for metrics. */
  | { kind: 'permanent' | 'temporary'; reason: MxRouteFailure; reply: string };

export type MxRouteFailure = 'dns-temporary' | 'no-such-domain' | 'null-mx';

type DnsError = Error & { code?: string };
/** NXDOMAIN and NODATA are answers; everything else (SERVFAIL, timeout, refused…) is a failure to ask. */
const isNoData = (e: unknown) => (e as DnsError).code === 'ENODATA';
const isNxDomain = (e: unknown) => (e as DnsError).code === 'ENOTFOUND';
const codeOf = (e: unknown) => (e as DnsError).code ?? (e as Error).message;

/** The A-label form of a recipient domain (SMTPUTF8 messages may carry U-labels). */
export function asciiDomain(domain: string): string {
  const d = domain.replace(/\.$/, '').toLowerCase();
  return /[^\x00-\x7f]/.test(d) ? domainToASCII(d) || d : d;
}

/** The domain of an address (after the last @), lower case, A-label. */
export function domainOf(address: string): string {
  return asciiDomain(address.slice(address.lastIndexOf('@') + 1));
}

/** Fisher–Yates within runs of equal preference, after a stable sort by preference. */
function order(hosts: MxHost[], random: () => number): MxHost[] {
  const sorted = [...hosts].sort((a, b) => a.preference - b.preference);
  for (let start = 0; start < sorted.length;) {
    let end = start;
    while (end < sorted.length && sorted[end]!.preference === sorted[start]!.preference) end++;
    for (let i = end - 1; i > start; i--) {
      const j = start + Math.floor(random() * (i - start + 1));
      [sorted[i], sorted[j]] = [sorted[j]!, sorted[i]!];
    }
    start = end;
  }
  return sorted;
}

export async function resolveMxRoute(domain: string, dns: Dns, random: () => number = Math.random): Promise<MxRoute> {
  const d = asciiDomain(domain);
  let records: { exchange: string; priority: number }[];
  try {
    records = await dns.resolveMx(d);
  } catch (e) {
    if (isNxDomain(e)) return { kind: 'permanent', reason: 'no-such-domain', reply: `550 5.1.2 domain ${d} does not exist (NXDOMAIN)` };
    if (!isNoData(e)) return { kind: 'temporary', reason: 'dns-temporary', reply: `451 4.4.3 MX lookup for ${d} failed (${codeOf(e)})` };
    records = [];
  }
  if (records.length === 0) {
    // Implicit MX: the domain itself, if it has an address (RFC 5321 §5.1).
    const a = await addressesOf(d, dns);
    if (a.addresses.length) return { kind: 'hosts', hosts: [{ name: d, preference: 0, implicit: true }] };
    if (a.temporary) return { kind: 'temporary', reason: 'dns-temporary', reply: `451 4.4.3 address lookup for ${d} (no MX) failed (${a.error})` };
    return { kind: 'permanent', reason: 'no-such-domain', reply: `550 5.1.2 domain ${d} has no MX and no address record` };
  }
  const hosts = records.map((r) => ({ name: r.exchange.replace(/\.$/, '').toLowerCase(), preference: r.priority, implicit: false }));
  const real = hosts.filter((h) => h.name !== '');
  // A null MX ("MX 0 .") as the only record: the domain accepts no mail (RFC 7505 §3).
  if (real.length === 0) return { kind: 'permanent', reason: 'null-mx', reply: `556 5.1.10 domain ${d} accepts no mail (null MX, RFC 7505)` };
  return { kind: 'hosts', hosts: order(real, random) };
}

export interface Addresses { addresses: string[]; temporary: boolean; error?: string }

/** A then AAAA addresses of a host (IPv4 first). An MX naming an IP literal is refused (RFC 5321 §5.1: MX names a host name). */
export async function addressesOf(host: string, dns: Dns): Promise<Addresses> {
  if (isIP(host)) return { addresses: [], temporary: false, error: `MX ${host} is an IP address, not a host name` };
  const out: string[] = [];
  const errors: string[] = [];
  let temporary = false;
  for (const lookup of [(h: string) => dns.resolve4(h), (h: string) => dns.resolve6(h)]) {
    try {
      out.push(...(await lookup(host)));
    } catch (e) {
      if (!isNoData(e) && !isNxDomain(e)) temporary = true;
      errors.push(codeOf(e));
    }
  }
  return { addresses: [...new Set(out)], temporary: out.length === 0 && temporary, error: out.length ? undefined : [...new Set(errors)].join(', ') };
}

/** A CIDR block as ipaddr.js parses it. */
export type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** "127.0.0.0/8, ::1/128" → networks (an address alone is its /32 or /128); throws on anything else. */
export function parseNetworks(spec: string): Network[] {
  return spec.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    if (s.includes('/')) return ipaddr.parseCIDR(s);
    const a = ipaddr.parse(s);
    return [a, a.kind() === 'ipv4' ? 32 : 128] as Network;
  });
}

/**
 * Why an MX address must not be connected to, or null when it may: anything but global unicast
 * (loopback, private, link-local, CGNAT, unique-local, multicast, documentation, NAT64 and 6to4 /
 * Teredo forms that embed an IPv4 address, …) is refused unless it lies in `allowed`. Otherwise a
 * user who may send mail could make the egress talk SMTP to our own hosts and services through a
 * domain whose MX points there. IPv4-mapped IPv6 is judged as the IPv4 address it is.
 */
export function refusedAddress(ip: string, allowed: readonly Network[]): string | null {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    a = ipaddr.parse(ip);
  } catch {
    return 'not an IP address';
  }
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  if (allowed.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits))) return null;
  const range = a.range();
  return range === 'unicast' ? null : range;
}
