/**
 * Who may send as which From address, and the From address of a message (RFC 5322 §3.6.2:
 * exactly one From field). Refusals carry a stable code for metrics and dead letters.
 */
import { addressParser } from 'postal-mime';
import { normalizeDomain } from './keys.ts';

export type RefusalCode = 'no-auth-user' | 'no-from' | 'multiple-from' | 'multiple-from-domains' | 'bad-from-domain' | 'not-authorized' | 'no-key';

/** The stage does not sign this message; it goes to the dead-letter topic with this reason. */
export class SigningRefused extends Error {
  override name = 'SigningRefused';
  constructor(readonly code: RefusalCode, detail: string) {
    super(`dkim-sign refused (${code}): ${detail}`);
  }
}

export interface SenderRules {
  /** SMTP AUTH user → patterns: "*", "example.org", "*.example.org", "alice@example.org". */
  users: Record<string, string[]>;
  /** A login that is an address may send as exactly that address. */
  allowOwnAddress: boolean;
}

export interface FromAddress {
  /** As written (local part untouched), domain in A-label form. */
  address: string;
  localPart: string;
  domain: string;
}

/** The header block (up to the empty line), unfolded fields as [lower-case name, value]. */
export function headerFields(message: Buffer): [string, string][] {
  let end = message.indexOf('\r\n\r\n');
  let sep = 4;
  if (end < 0) {
    end = message.indexOf('\n\n');
    sep = 2;
  }
  const block = (end < 0 ? message : message.subarray(0, end + sep / 2)).toString('utf8');
  const fields: [string, string][] = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1]![1] += line;
    else if (line.includes(':')) {
      const i = line.indexOf(':');
      fields.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1)]);
    }
  }
  return fields;
}

export function fromAddress(message: Buffer): FromAddress {
  const froms = headerFields(message).filter(([n]) => n === 'from');
  if (froms.length === 0) throw new SigningRefused('no-from', 'the message has no From header field');
  if (froms.length > 1) throw new SigningRefused('multiple-from', `the message has ${froms.length} From header fields (RFC 5322 allows one)`);
  const flat = (list: ReturnType<typeof addressParser>): string[] => list.flatMap((a) => (a.group ? flat(a.group) : a.address ? [a.address] : []));
  const addresses = flat(addressParser(froms[0]![1].trim()));
  if (addresses.length === 0) throw new SigningRefused('no-from', `no address in From: ${froms[0]![1].trim().slice(0, 200)}`);
  const parsed = addresses.map((a) => {
    const at = a.lastIndexOf('@');
    const domain = at > 0 ? normalizeDomain(a.slice(at + 1)) : null;
    if (!domain) throw new SigningRefused('bad-from-domain', `From address "${a}" has no valid domain`);
    return { address: `${a.slice(0, at)}@${domain}`, localPart: a.slice(0, at), domain };
  });
  const domains = new Set(parsed.map((p) => p.domain));
  if (domains.size > 1) throw new SigningRefused('multiple-from-domains', `From names several domains (${[...domains].join(', ')}); one signature cannot align with all`);
  return parsed[0]!;
}

function matches(pattern: string, from: FromAddress): boolean {
  const p = pattern.trim();
  if (p === '*') return true;
  if (p.includes('@')) {
    const at = p.lastIndexOf('@');
    return p.slice(0, at).toLowerCase() === from.localPart.toLowerCase() && normalizeDomain(p.slice(at + 1)) === from.domain;
  }
  if (p.startsWith('*.')) {
    const d = normalizeDomain(p.slice(2));
    return d !== null && from.domain.endsWith(`.${d}`);
  }
  return normalizeDomain(p) === from.domain;
}

/** Throws SigningRefused unless `user` may send as `from`. */
export function checkSender(rules: SenderRules, user: string | null, from: FromAddress): void {
  if (!user) throw new SigningRefused('no-auth-user', 'the record has no SMTP AUTH user (envelope.authUser); only authenticated submissions are signed');
  if (rules.allowOwnAddress && user.includes('@') && matches(user, from)) return;
  const patterns = rules.users[user] ?? [];
  if (patterns.some((p) => matches(p, from))) return;
  throw new SigningRefused('not-authorized', `user "${user}" may not send as ${from.address}`);
}
