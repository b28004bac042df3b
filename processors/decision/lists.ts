/**
 * The policy's allow and block lists as the decision's own symbols: sender (address or domain),
 * client IP (address or CIDR), recipient. An allow-listed sender counts only when DMARC passes for
 * its From domain (the domain vouches for the message: an unauthenticated From is anyone's to
 * write); otherwise ALLOWLIST_SENDER_UNVERIFIED says why it was ignored. A block-listed sender counts
 * whether authenticated or not (claiming to be a blocked sender does not help). Recipient entries
 * apply when every recipient of the message matches: one record carries all its recipients, and an
 * allow-listed postmaster@ must not carry spam to the others.
 */
import ipaddr from 'ipaddr.js';
import type { StageSymbol } from '../../runtime/stage.ts';
import type { MailRecord } from '../../schemas/types.ts';
import type { AddressList, Lists, Policy } from './policy.ts';

const domainOf = (a: string) => a.slice(a.lastIndexOf('@') + 1);
const inList = (l: AddressList, address: string) => l.addresses.has(address) || l.domains.has(domainOf(address));

function clientIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    const a = ipaddr.parse(ip);
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
  } catch {
    return null;
  }
}

const ipListed = (l: Lists, a: ipaddr.IPv4 | ipaddr.IPv6 | null) => a !== null && l.ips.some(([net, bits]) => net.kind() === a.kind() && a.match(net as never, bits));

export interface ListResult {
  symbols: StageSymbol[];
  allowed: StageSymbol | null;
  blocked: StageSymbol | null;
}

export function listSymbols(record: MailRecord, policy: Pick<Policy, 'allow' | 'block'>): ListResult {
  const symbols: StageSymbol[] = [];
  const add = (symbol: string, options: string[]) => { const s = { symbol, score: null, options }; symbols.push(s); return s; };
  const e = record.envelope;
  const dmarc = record.auth?.dmarc;
  const fromDomain = dmarc?.fromDomain?.toLowerCase() ?? null;
  const from = record.mime?.headers.from ?? [];
  // The From address only when there is one and it is in the domain DMARC looked at.
  const fromAddress = from.length === 1 && fromDomain && domainOf(from[0]!.address.toLowerCase()) === fromDomain ? from[0]!.address.toLowerCase() : null;
  const senders = [fromAddress ?? fromDomain, e.mailFrom.toLowerCase() || null].filter((s): s is string => s !== null);
  const ip = clientIp(e.clientIp);
  const rcpts = e.rcptTo.map((r) => r.toLowerCase());

  // Every match is listed (explain shows them all); the first of each kind is the one named as deciding.
  let allowed: StageSymbol | null = null;
  const allowFrom = fromAddress ?? fromDomain;
  if (allowFrom && inList(policy.allow.senders, allowFrom)) {
    if (dmarc?.result === 'pass') allowed = add('ALLOWLIST_SENDER', [allowFrom]);
    else add('ALLOWLIST_SENDER_UNVERIFIED', [allowFrom, `dmarc=${dmarc?.result ?? 'none'}`]);
  }
  if (ipListed(policy.allow, ip)) { const s = add('ALLOWLIST_IP', [e.clientIp]); allowed ??= s; }
  if (rcpts.length && rcpts.every((r) => inList(policy.allow.recipients, r))) { const s = add('ALLOWLIST_RCPT', rcpts.slice(0, 8)); allowed ??= s; }

  let blocked: StageSymbol | null = null;
  const blockedSender = senders.find((s) => inList(policy.block.senders, s));
  if (blockedSender) blocked = add('BLOCKLIST_SENDER', [blockedSender]);
  if (ipListed(policy.block, ip)) { const s = add('BLOCKLIST_IP', [e.clientIp]); blocked ??= s; }
  if (rcpts.length && rcpts.every((r) => inList(policy.block.recipients, r))) { const s = add('BLOCKLIST_RCPT', rcpts.slice(0, 8)); blocked ??= s; }
  return { symbols, allowed, blocked };
}
