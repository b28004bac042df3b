/**
 * The client's reverse DNS, through the ingress's own resolver (INGRESS_DNS_SERVERS, its timeout and
 * cache), and its forward confirmation (FCrDNS; RFC 8601's "iprev", Postfix's
 * `reject_unknown_client_hostname`): a PTR name counts as the client's name only when that name's
 * addresses include the client's address.
 *
 * - reverseResolver(): smtp-server's `resolver` option. Without it smtp-server asks dns.reverse(), the
 *   system resolver, which ignores INGRESS_DNS_SERVERS and the cache. smtp-server takes the first
 *   name of the answer (dropped when it does not look like a host name) and bounds the lookup (1.5 s).
 * - clientNames(): the names to check: the PTR answer (the cached one smtp-server had), up to
 *   MAX_PTR_NAMES that look like host names, in answer order. A client may have several PTR records;
 *   any of them resolving back confirms it (RFC 8601 3: "for each hostname found"; Exim checks
 *   every name too). Postfix checks one, the name getnameinfo() returns.
 * - confirmClientHostname(): the name → address half for those names, concurrently and within one
 *   deadline, asking only the client's family (A for an IPv4 client, AAAA for IPv6; an IPv4-mapped
 *   IPv6 client is IPv4). Outcomes, as Postfix and iprev tell them apart:
 *     true  — one name's answer holds the client's address (that name is the client's);
 *     false — a definite answer without it for every name: other addresses, no address of that
 *             family, or no such name (Postfix's "unknown" client, iprev "fail");
 *     null  — none confirms and at least one had no definite answer: a timeout, SERVFAIL, a refused
 *             query, or the deadline passed (iprev "temperror"). Never a refusal and never a wait
 *             past the deadline.
 */
import type { SMTPServerResolver } from 'smtp-server';
import type { DnsCache } from './dns-cache.ts';
import { dnsblQueryName } from './dnsbl.ts';
import { parseClientAddress } from './prefix.ts';

export type FcrdnsResult = 'confirmed' | 'not_confirmed' | 'temperror';

export interface Fcrdns {
  /** true / false / null as in the module comment: the envelope's clientHostnameConfirmed. */
  confirmed: boolean | null;
  result: FcrdnsResult;
  /**
   * The client's name as the result has it: the name that resolved back (true); the first name that
   * had no definite answer, which may still be right (null); the first name (false).
   */
  hostname: string;
  /** Why, for logs: per name, the addresses it has, the DNS error code, or the deadline. */
  detail: string;
}

/** PTR names looked up at most: each costs a lookup, and the PTR owner (the client's network) chooses how many. */
export const MAX_PTR_NAMES = 3;

const MAX_HOSTNAME = 253;
const HOSTNAME_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/**
 * Whether a PTR name looks like a host name (letters, digits, `-` and `_`, labels of 1–63, 253 at
 * most): the check smtp-server applies to the name it shows. PTR data is the client network's text
 * and a confirmed name goes into our Received header.
 */
export const looksLikeHostname = (name: string): boolean =>
  name.length > 0 && name.length <= MAX_HOSTNAME && name.replace(/\.$/, '').split('.').every((l) => HOSTNAME_LABEL.test(l));

const ptrOwner = (addr: NonNullable<ReturnType<typeof parseClientAddress>>) => dnsblQueryName(addr, addr.kind() === 'ipv4' ? 'in-addr.arpa' : 'ip6.arpa');

/** smtp-server's reverse lookup through `dns`: PTR of the client address under in-addr.arpa / ip6.arpa. */
export function reverseResolver(dns: DnsCache): SMTPServerResolver {
  return {
    reverse(ip, callback) {
      const addr = parseClientAddress(ip);
      if (!addr) return callback(Object.assign(new Error(`not an IP address: ${ip}`), { code: 'EINVAL' }));
      dns.resolve(ptrOwner(addr), 'PTR').then(
        // A copy: smtp-server shift()s the array it is given, and this one is the cache's answer (a
        // second connection from the client used to see its second name, or none).
        (names) => callback(null, [...(names as string[])]),
        (e: Error) => callback(e),
      );
    },
  };
}

const sameAddress = (a: string, b: string) => parseClientAddress(a)?.toNormalizedString() === parseClientAddress(b)?.toNormalizedString();

/**
 * The names to check for `ip`: its PTR answer (through the cache: the one smtp-server had), host
 * names only, without a trailing dot, at most MAX_PTR_NAMES, in answer order. `first` (the name
 * smtp-server shows) when the answer cannot be had again.
 */
export async function clientNames(dns: DnsCache, ip: string, first: string): Promise<string[]> {
  const addr = parseClientAddress(ip);
  let names: string[] = [];
  try {
    if (addr) names = (await dns.resolve(ptrOwner(addr), 'PTR')) as string[];
  } catch {
    // The answer smtp-server had is gone (expired, failed since): its name is all there is.
  }
  const valid = [...new Set(names.filter(looksLikeHostname).map((n) => n.replace(/\.$/, '')))].slice(0, MAX_PTR_NAMES);
  return valid.length ? valid : [first.replace(/\.$/, '')];
}

type NameCheck = { name: string; confirmed: boolean | null; detail: string };

/** One name's forward lookup: does it resolve to `ip`? */
async function checkName(dns: DnsCache, ip: string, name: string, type: 'A' | 'AAAA'): Promise<NameCheck> {
  try {
    const addresses = await dns.addresses(name, type);
    if (addresses.some((a) => sameAddress(a, ip))) return { name, confirmed: true, detail: addresses.join(',') };
    return { name, confirmed: false, detail: addresses.length ? addresses.join(',') : `no ${type} record` };
  } catch (e) {
    return { name, confirmed: null, detail: (e as { code?: string }).code ?? (e as Error).message };
  }
}

/**
 * Does one of `hostnames` (at most MAX_PTR_NAMES are looked up, concurrently) resolve back to `ip`?
 * Settles at the first name that does, or when every name has a definite answer, or at `deadlineMs`
 * (then names still unanswered count as failed) — whatever the DNS does.
 */
export async function confirmClientHostname(o: { dns: DnsCache; ip: string; hostnames: readonly string[]; deadlineMs: number }): Promise<Fcrdns> {
  const names = [...new Set(o.hostnames.map((n) => n.replace(/\.$/, '')))].slice(0, MAX_PTR_NAMES);
  const addr = parseClientAddress(o.ip);
  if (!addr) return { confirmed: null, result: 'temperror', hostname: names[0] ?? '', detail: `not an IP address: ${o.ip}` };
  if (!names.length) return { confirmed: null, result: 'temperror', hostname: '', detail: 'no name to check' };
  const type = addr.kind() === 'ipv4' ? 'A' : 'AAAA';
  const checks = new Map<string, NameCheck>();
  const detail = () => names.map((n) => `${n}: ${checks.get(n)?.detail ?? `no ${type} answer within ${o.deadlineMs} ms`}`).join('; ');
  const verdict = (): Fcrdns => {
    const yes = names.find((n) => checks.get(n)?.confirmed === true);
    if (yes !== undefined) return { confirmed: true, result: 'confirmed', hostname: yes, detail: detail() };
    // Unanswered (the deadline) counts as failed: it may still have been the client's name.
    const open = names.find((n) => checks.get(n)?.confirmed !== false);
    if (open !== undefined) return { confirmed: null, result: 'temperror', hostname: open, detail: detail() };
    return { confirmed: false, result: 'not_confirmed', hostname: names[0]!, detail: detail() };
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<Fcrdns>((settle) => {
      timer = setTimeout(() => settle(verdict()), o.deadlineMs);
      for (const name of names) {
        void checkName(o.dns, o.ip, name, type).then((c) => {
          checks.set(name, c);
          if (c.confirmed === true || checks.size === names.length) settle(verdict());
        });
      }
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The client's check as the ingress runs it, from the name smtp-server shows (`ptrName`): its PTR
 * names (clientNames) and their forward lookups, all within `deadlineMs`.
 */
export async function confirmClient(o: { dns: DnsCache; ip: string; ptrName: string; deadlineMs: number }): Promise<Fcrdns> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hostnames = await Promise.race([
    clientNames(o.dns, o.ip, o.ptrName),
    new Promise<string[]>((ok) => { timer = setTimeout(() => ok([o.ptrName]), o.deadlineMs); }),
  ]).finally(() => clearTimeout(timer));
  return confirmClientHostname({ dns: o.dns, ip: o.ip, hostnames, deadlineMs: Math.max(0, o.deadlineMs - (Date.now() - started)) });
}
