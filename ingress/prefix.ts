/**
 * Client prefixes: the unit every per-client limit counts by. One IPv6 customer network (/64)
 * holds 2^64 addresses and an IPv4 /24 is often one operator's pool, so counting per exact address
 * lets one client take any number of slots. Lengths are configuration (INGRESS_IPV4_PREFIX_LENGTH,
 * INGRESS_IPV6_PREFIX_LENGTH). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4.
 */
import ipaddr from 'ipaddr.js';

export interface PrefixLengths {
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
}

/** Parses a client address; IPv4-mapped IPv6 becomes the IPv4 address it carries. */
export function parseClientAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    const a = ipaddr.parse(ip);
    if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
    return a;
  } catch {
    return undefined;
  }
}

/** "192.0.2.0/24", "2001:db8:1:2::/64"; an unparsable address stands for itself. */
export function clientPrefix(ip: string, lengths: PrefixLengths): string {
  const addr = parseClientAddress(ip);
  if (!addr) return ip;
  const len = addr.kind() === 'ipv4' ? lengths.ipv4PrefixLength : lengths.ipv6PrefixLength;
  const bytes = addr.toByteArray();
  for (let bit = len; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
}
