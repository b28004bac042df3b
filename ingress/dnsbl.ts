/**
 * DNSBL checks of the client address, configured like Postfix postscreen's `dnsbl_sites`:
 *
 *   INGRESS_DNSBL_SITES="zen.spamhaus.org*3, bl.spamcop.net*2, list.dnswl.org=127.0.[0..255].[1..3]*-2"
 *
 * Each site is `zone[=filter][*weight]`: a filter keeps only answers that match it (each octet a
 * number, `[n..m]` or `[a;b;c]`), weight defaults to 1 and may be negative (allowlists). Every
 * site is asked at once; the weights of the sites that answered add up, and a client whose score
 * reaches the threshold is refused with the lists named. A list that times out or fails counts as
 * not listed (and is logged and counted): a dead list must not stop mail.
 *
 * Parsing is by hand: a few splits, linear, no regular expression on the configuration.
 */
import type ipaddr from 'ipaddr.js';
import type { DnsCache } from './dns-cache.ts';
import { parseClientAddress } from './prefix.ts';

export interface DnsblSite {
  zone: string;
  weight: number;
  /** The filter as written (for logs), and its test; undefined: any answer counts. */
  filterText?: string;
  matches?: (answer: string) => boolean;
}

export interface DnsblHit { zone: string; answer: string; weight: number }

export interface DnsblResult {
  score: number;
  listed: boolean;
  hits: DnsblHit[];
  /** Lists that could not be asked (timeout, SERVFAIL…), with the reason. */
  failures: { zone: string; error: string }[];
}

/** One octet pattern of a filter: "2", "[2..11]", "[2;4;6..8]". */
function octetMatcher(p: string): (n: number) => boolean {
  const part = (x: string): [number, number] => {
    const [a, b] = x.split('..');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!/^\d{1,3}$/.test(a ?? '') || (b !== undefined && !/^\d{1,3}$/.test(b)) || lo > 255 || hi > 255 || lo > hi) throw new Error(`"${p}" is not an octet pattern (a number, [n..m] or [a;b;c])`);
    return [lo, hi];
  };
  const ranges = p.startsWith('[') && p.endsWith(']') ? p.slice(1, -1).split(';').map(part) : [part(p)];
  return (n) => ranges.some(([lo, hi]) => n >= lo && n <= hi);
}

/** Splits at the dots outside brackets ("127.0.[0..255].2" → four parts). */
function splitOctets(filter: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < filter.length; i++) {
    const ch = filter[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === '.' && depth === 0) {
      parts.push(filter.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(filter.slice(start));
  return parts;
}

function filterMatcher(filter: string): (answer: string) => boolean {
  const octets = splitOctets(filter);
  if (octets.length !== 4) throw new Error(`filter "${filter}" must have four octet patterns, e.g. 127.0.0.[2..11]`);
  const m = octets.map(octetMatcher);
  return (answer) => {
    const parts = answer.split('.');
    return parts.length === 4 && parts.every((x, i) => m[i]!(Number(x)));
  };
}

/** Parses postscreen's dnsbl_sites syntax; throws with the offending entry. */
export function parseDnsblSites(spec: string): DnsblSite[] {
  return spec.split(/[\s,]+/).filter(Boolean).map((entry) => {
    let rest = entry;
    let weight = 1;
    const star = rest.lastIndexOf('*');
    if (star >= 0) {
      const w = rest.slice(star + 1);
      if (!/^-?\d{1,4}$/.test(w)) throw new Error(`"${entry}": the weight after * must be an integer`);
      weight = Number(w);
      rest = rest.slice(0, star);
    }
    const eq = rest.indexOf('=');
    const zone = (eq >= 0 ? rest.slice(0, eq) : rest).toLowerCase().replace(/\.$/, '');
    if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(zone) || zone.length > 200) throw new Error(`"${entry}": "${zone}" is not a DNS zone`);
    if (eq < 0) return { zone, weight };
    const filterText = rest.slice(eq + 1);
    return { zone, weight, filterText, matches: filterMatcher(filterText) };
  });
}

/** The name to ask: reversed octets (IPv4) or nibbles (IPv6) under the zone. */
export function dnsblQueryName(addr: ipaddr.IPv4 | ipaddr.IPv6, zone: string): string {
  const bytes = addr.toByteArray();
  if (addr.kind() === 'ipv4') return `${[...bytes].reverse().join('.')}.${zone}`;
  const nibbles: string[] = [];
  for (const b of bytes) nibbles.push((b >> 4).toString(16), (b & 15).toString(16));
  return `${nibbles.reverse().join('.')}.${zone}`;
}

export class Dnsbl {
  constructor(private readonly sites: DnsblSite[], private readonly threshold: number, private readonly dns: DnsCache) {}

  get enabled(): boolean {
    return this.sites.length > 0;
  }

  async check(ip: string): Promise<DnsblResult> {
    const addr = parseClientAddress(ip);
    const result: DnsblResult = { score: 0, listed: false, hits: [], failures: [] };
    if (!addr || !this.enabled) return result;
    await Promise.all(this.sites.map(async (site) => {
      try {
        const answers = (await this.dns.a(dnsblQueryName(addr, site.zone))).filter((a) => !site.matches || site.matches(a));
        if (answers.length > 0) result.hits.push({ zone: site.zone, answer: answers.join(','), weight: site.weight });
      } catch (e) {
        result.failures.push({ zone: site.zone, error: (e as { code?: string }).code ?? (e as Error).message });
      }
    }));
    // Sites in configuration order, so the reply names them the same way every time.
    result.hits.sort((a, b) => this.sites.findIndex((s) => s.zone === a.zone) - this.sites.findIndex((s) => s.zone === b.zone));
    result.score = result.hits.reduce((n, h) => n + h.weight, 0);
    result.listed = result.score >= this.threshold;
    return result;
  }
}
