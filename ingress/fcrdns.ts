/**
 * The client's reverse DNS, through the ingress's own resolver (INGRESS_DNS_SERVERS, its timeout and
 * cache), and its forward confirmation (FCrDNS; RFC 8601's "iprev", Postfix's
 * `reject_unknown_client_hostname`): a PTR name counts as the client's name only when that name's
 * addresses include the client's address.
 *
 * - reverseResolver(): smtp-server's `resolver` option. Without it smtp-server asks dns.reverse(), the
 *   system resolver, which ignores INGRESS_DNS_SERVERS and the cache. smtp-server keeps the first
 *   name that looks like a host name (its own check) and bounds the lookup (1.5 s).
 * - confirmClientHostname(): the name → address half, asking only the client's family (A for an
 *   IPv4 client, AAAA for IPv6; an IPv4-mapped IPv6 client is IPv4). Outcomes, as Postfix and iprev
 *   tell them apart:
 *     true  — the answer holds the client's address;
 *     false — a definite answer without it: other addresses, no address of that family, or no such
 *             name (Postfix's "unknown" client, iprev "fail");
 *     null  — no definite answer: a timeout, SERVFAIL, a refused query, or the deadline passed
 *             (iprev "temperror"). Never a refusal and never a wait past the deadline.
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
  /** Why, for logs: the addresses the name has, the DNS error code, or the deadline. */
  detail: string;
}

/** smtp-server's reverse lookup through `dns`: PTR of the client address under in-addr.arpa / ip6.arpa. */
export function reverseResolver(dns: DnsCache): SMTPServerResolver {
  return {
    reverse(ip, callback) {
      const addr = parseClientAddress(ip);
      if (!addr) return callback(Object.assign(new Error(`not an IP address: ${ip}`), { code: 'EINVAL' }));
      dns.resolve(dnsblQueryName(addr, addr.kind() === 'ipv4' ? 'in-addr.arpa' : 'ip6.arpa'), 'PTR').then(
        (names) => callback(null, names as string[]),
        (e: Error) => callback(e),
      );
    },
  };
}

const sameAddress = (a: string, b: string) => parseClientAddress(a)?.toNormalizedString() === parseClientAddress(b)?.toNormalizedString();

/** Does `hostname` resolve back to `ip`? Settles within `deadlineMs` whatever the DNS does. */
export async function confirmClientHostname(o: { dns: DnsCache; ip: string; hostname: string; deadlineMs: number }): Promise<Fcrdns> {
  const addr = parseClientAddress(o.ip);
  if (!addr) return { confirmed: null, result: 'temperror', detail: `not an IP address: ${o.ip}` };
  const type = addr.kind() === 'ipv4' ? 'A' : 'AAAA';
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Fcrdns>((ok) => {
    timer = setTimeout(() => ok({ confirmed: null, result: 'temperror', detail: `no ${type} answer within ${o.deadlineMs} ms` }), o.deadlineMs);
  });
  const lookup = o.dns.addresses(o.hostname.replace(/\.$/, ''), type).then(
    (addresses): Fcrdns => addresses.some((a) => sameAddress(a, o.ip))
      ? { confirmed: true, result: 'confirmed', detail: addresses.join(',') }
      : { confirmed: false, result: 'not_confirmed', detail: addresses.length ? addresses.join(',') : `no ${type} record` },
    (e: Error & { code?: string }): Fcrdns => ({ confirmed: null, result: 'temperror', detail: e.code ?? e.message }),
  );
  try {
    return await Promise.race([lookup, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
