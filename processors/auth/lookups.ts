/**
 * Reputation lookups (issue 16 item 5), as symbols of the auth stage: DNS lists queried the usual
 * way (an A query under the list's zone; an answer in 127.0.0.0/8 means listed):
 *
 *   uri     the registrable domains of the body's URLs (the MIME stage's `urls`), DBL/SURBL-style:
 *           `<domain>.<zone>` → `<SYMBOL>{domain,answer}`
 *   sender  the registrable domains of the From header and MAIL FROM, the same way
 *   hash    attachment SHA-256 digests (the MIME stage's), as two 32-hex-digit labels (a DNS label
 *           holds at most 63): `<hex[0..32]>.<hex[32..64]>.<zone>` → `<SYMBOL>{file name,answer}`
 *
 * The lists and their symbols are configuration (AUTH_URI_LISTS, AUTH_SENDER_LISTS,
 * AUTH_HASH_LISTS: `zone=SYMBOL,…`; empty: no lookups); the weights are in the decision's policy
 * file. Queries go through the stage's resolver (cache, shared in-flight queries, the message's DNS
 * budget) and run concurrently. Answers in 127.255.255.0/24 are a list's way of saying "refused"
 * (e.g. queries through a public resolver) and answers outside 127/8 are a wildcarding resolver's:
 * neither lists anything. A lookup that fails (timeout, SERVFAIL) lists nothing either — a list
 * being down must not junk mail.
 */
import { getDomain, parse } from 'tldts';
import { z } from 'zod';
import type { StageSymbol } from '../../runtime/stage.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { invalidDnsName, type DnsResolver, type DnsStats } from './dns.ts';

export interface DnsList { zone: string; symbol: string }
export interface LookupConfig { uri: DnsList[]; sender: DnsList[]; hash: DnsList[]; maxDomains: number }

const SYMBOL = /^[A-Z][A-Z0-9_]{0,63}$/;

/** `zone=SYMBOL[,zone=SYMBOL…]`, as an env schema (the error names the variable through loadEnv). */
export const envDnsLists = () => z.string().default('').transform((s, ctx): DnsList[] => {
  const out: DnsList[] = [];
  for (const raw of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [zone = '', symbol = '', extra] = raw.split('=');
    const z_ = zone.trim().toLowerCase().replace(/\.$/, '');
    if (extra !== undefined || !SYMBOL.test(symbol.trim()) || z_ === '' || invalidDnsName(z_) || !z_.includes('.')) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${raw}" is not zone=SYMBOL` });
      return z.NEVER;
    }
    out.push({ zone: z_, symbol: symbol.trim() });
  }
  return out;
});

export const lookupEnvShape = {
  AUTH_URI_LISTS: envDnsLists(),
  AUTH_SENDER_LISTS: envDnsLists(),
  AUTH_HASH_LISTS: envDnsLists(),
};
const example = (key: string, zone: string, symbol: string) => `comma-separated zone=SYMBOL, e.g. ${key}=${zone}=${symbol} (empty: none)`;
export const lookupEnvHelp = {
  AUTH_URI_LISTS: example('AUTH_URI_LISTS', 'dbl.example.net', 'URIBL_DBL'),
  AUTH_SENDER_LISTS: example('AUTH_SENDER_LISTS', 'dbl.example.net', 'SENDER_DBL'),
  AUTH_HASH_LISTS: example('AUTH_HASH_LISTS', 'hashes.example.net', 'ATTACHMENT_HASH_LISTED'),
};

/** Listed: an address in 127/8 outside 127.255.255.0/24. */
function listedAnswer(addresses: string[]): string | null {
  return addresses.find((a) => a.startsWith('127.') && !a.startsWith('127.255.255.')) ?? null;
}

/** The registrable domain of a URL or host name (example.co.uk for www.shop.example.co.uk); null for IPs and non-domains. */
function registrable(urlOrHost: string): string | null {
  const p = parse(urlOrHost);
  if (p.isIp || !p.domain || !p.isIcann) return null;
  return p.domain.toLowerCase();
}

const distinct = <T>(xs: (T | null)[], max: number) => [...new Set(xs.filter((x): x is T => x !== null))].slice(0, max);

/** What a record's lookups query: distinct, bounded. */
export function lookupTargets(record: MailRecord, maxDomains: number): { uri: string[]; sender: string[]; hash: { name: string; sha256: string }[] } {
  const mime = record.mime;
  const mailFromDomain = record.envelope.mailFrom.includes('@') ? record.envelope.mailFrom.slice(record.envelope.mailFrom.lastIndexOf('@') + 1) : null;
  const senders = [...(mime?.headers.from ?? []).map((a) => a.address.slice(a.address.lastIndexOf('@') + 1)), mailFromDomain].map((d) => (d ? getDomain(d) : null));
  const hashes = (mime?.attachments ?? []).filter((a) => /^[0-9a-f]{64}$/.test(a.sha256 ?? '')).map((a) => ({ name: a.filename ?? '(unnamed)', sha256: a.sha256! }));
  return {
    uri: distinct((mime?.urls ?? []).map(registrable), maxDomains),
    sender: distinct(senders.map((d) => d?.toLowerCase() ?? null), 4),
    hash: [...new Map(hashes.map((h) => [h.sha256, h])).values()].slice(0, maxDomains),
  };
}

/** The record's list hits as symbols, queried concurrently through the stage's resolver. */
export async function lookupSymbols(record: MailRecord, cfg: LookupConfig, dns: DnsResolver, stats: DnsStats, signal?: AbortSignal): Promise<StageSymbol[]> {
  if (cfg.uri.length + cfg.sender.length + cfg.hash.length === 0) return [];
  const t = lookupTargets(record, cfg.maxDomains);
  const queries: { list: DnsList; name: string; option: string }[] = [
    ...cfg.uri.flatMap((list) => t.uri.map((d) => ({ list, name: `${d}.${list.zone}`, option: d }))),
    ...cfg.sender.flatMap((list) => t.sender.map((d) => ({ list, name: `${d}.${list.zone}`, option: d }))),
    ...cfg.hash.flatMap((list) => t.hash.map((h) => ({ list, name: `${h.sha256.slice(0, 32)}.${h.sha256.slice(32)}.${list.zone}`, option: h.name }))),
  ];
  const answers = await Promise.all(queries.map(async (q) => {
    try {
      return listedAnswer((await dns.resolve(q.name, 'A', stats, signal)) as string[]);
    } catch {
      return null; // not listed (NXDOMAIN), or the list did not answer (timeout, budget spent): best effort
    }
  }));
  // One symbol per list, naming every hit (`evil.example=127.0.1.2`): a message with ten listed
  // domains weighs what one does, as in Rspamd; the policy may weigh the list, not the count.
  const bySymbol = new Map<string, string[]>();
  queries.forEach((q, i) => {
    if (answers[i]) bySymbol.set(q.list.symbol, [...(bySymbol.get(q.list.symbol) ?? []), `${q.option}=${answers[i]}`]);
  });
  return [...bySymbol].map(([symbol, options]) => ({ symbol, score: null, options }));
}
