/**
 * Who may send as which From address, and the From address of a message (RFC 5322 §3.6.2:
 * exactly one From field). Refusals carry a stable code for metrics and dead letters.
 */
import { addressParser } from 'postal-mime';
import { normalizeDomain } from './keys.ts';
// MAX_ADDRESS_FIELD_LENGTH: the longest From or Sender value given to postal-mime's address parser (8 KiB, why there).
import { fieldName, fieldValue, headerBlock, malformedFields, MAX_ADDRESS_FIELD_LENGTH, splitFields } from '../../runtime/header-fields.ts';

export type RefusalCode = 'no-auth-user' | 'invalid-header-line' | 'no-from' | 'multiple-from' | 'multiple-from-domains' | 'multiple-sender' | 'unparseable-address' | 'bad-from-domain' | 'not-authorized' | 'no-key' | 'bad-submission-mac';

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

/**
 * The header block (up to the empty line), unfolded fields as [lower-case name, value], the value
 * decoded as UTF-8 (RFC 6532). Names, the block's end and the folds are read as every stage reads
 * them (runtime/header-fields.ts).
 */
export function headerFields(message: Buffer): [string, string][] {
  const fields: [string, string][] = [];
  for (const field of splitFields(headerBlock(message))) {
    const name = fieldName(field);
    if (name !== null) fields.push([name, Buffer.from(fieldValue(field).replace(/\r?\n/g, ''), 'latin1').toString('utf8')]);
  }
  return fields;
}

/**
 * '@' signs in a header value outside quoted strings and comments: each mailbox has exactly one
 * there. More of them than addresses parsed means text the parser read as something else (for
 * instance `a@example.org b@example.org`, which it reads as one mailbox with a display name),
 * which a receiver's parser may read differently. One pass; comments nest.
 */
function bareAtSigns(value: string): number {
  let n = 0;
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') { i++; continue; }
    if (quoted) { if (c === '"') quoted = false; continue; }
    if (depth > 0) { if (c === '(') depth++; else if (c === ')') depth--; continue; }
    if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === '@') n++;
  }
  return n;
}

/** RFC 5322 addr-spec with a dot-atom or quoted-string local part (what a receiver's DMARC check can read). */
const LOCAL_PART = /^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*|"(?:[^"\\\r\n]|\\.)*")$/;

/**
 * Every mailbox of one address-list field (group members included), each a valid address; throws
 * SigningRefused `unparseable-address` when any part of the value is not a mailbox we can read the
 * same way a receiver would.
 */
function mailboxes(field: string, value: string): FromAddress[] {
  if (value.length > MAX_ADDRESS_FIELD_LENGTH) throw new SigningRefused('unparseable-address', `${field} is ${value.length} characters long, at most ${MAX_ADDRESS_FIELD_LENGTH} are read: ${value.slice(0, 200)}`);
  const flat = (list: ReturnType<typeof addressParser>): { address: string }[] => list.flatMap((a) => (a.group ? flat(a.group) : [a]));
  const entries = flat(addressParser(value));
  const unparseable = (why: string) => new SigningRefused('unparseable-address', `${field}: ${why}: ${value.slice(0, 200)}`);
  const out = entries.map((e) => {
    const a = e.address;
    const at = a.lastIndexOf('@');
    if (!a || at <= 0) throw unparseable(`an entry without an address (${JSON.stringify(a)})`);
    const localPart = a.slice(0, at);
    if (!LOCAL_PART.test(localPart)) throw unparseable(`"${a}" is not an address`);
    const domain = normalizeDomain(a.slice(at + 1));
    if (!domain) throw new SigningRefused('bad-from-domain', `${field} address "${a}" has no valid domain`);
    return { address: `${localPart}@${domain}`, localPart, domain };
  });
  if (bareAtSigns(value) !== out.length) throw unparseable(`${out.length} address(es) read but the text holds ${bareAtSigns(value)} "@" outside quotes and comments`);
  return out;
}

export interface SenderIdentities {
  /** Every From mailbox (RFC 5322 mailbox-list, or RFC 6854 group syntax), in order; at least one, one domain. */
  from: FromAddress[];
  /** The Sender mailbox, when the message has one. */
  sender: FromAddress | null;
}

/**
 * The identities a signature vouches for: every From mailbox and the Sender. Refused: a header line
 * that is neither a valid field nor a continuation (runtime/header-fields.ts malformedFields), no From, several
 * From fields, several Sender fields, an empty From (or empty groups only), From mailboxes in several
 * domains, and anything the address parser cannot read unambiguously.
 */
export function senderIdentities(message: Buffer): SenderIdentities {
  // A line that starts no valid field and continues none (`\fFrom: ceo@…`, `From\0: …`, a line
  // without a colon) is no From for any reader here, but a receiver's parser may read it as one
  // and show it under our signature: refused rather than signed.
  const [bad] = malformedFields(headerBlock(message));
  if (bad !== undefined) throw new SigningRefused('invalid-header-line', `the header has a line that is neither a field nor a continuation: ${JSON.stringify(bad.slice(0, 100))}`);
  const fields = headerFields(message);
  const froms = fields.filter(([n]) => n === 'from');
  if (froms.length === 0) throw new SigningRefused('no-from', 'the message has no From header field');
  if (froms.length > 1) throw new SigningRefused('multiple-from', `the message has ${froms.length} From header fields (RFC 5322 allows one)`);
  const fromValue = froms[0]![1].trim();
  const from = mailboxes('From', fromValue);
  if (from.length === 0) throw new SigningRefused('no-from', `no address in From: ${fromValue.slice(0, 200)}`);
  const domains = new Set(from.map((p) => p.domain));
  if (domains.size > 1) throw new SigningRefused('multiple-from-domains', `From names several domains (${[...domains].join(', ')}); one signature cannot align with all`);
  const senders = fields.filter(([n]) => n === 'sender');
  if (senders.length > 1) throw new SigningRefused('multiple-sender', `the message has ${senders.length} Sender header fields (RFC 5322 allows one)`);
  let sender: FromAddress | null = null;
  if (senders.length === 1) {
    const list = mailboxes('Sender', senders[0]![1].trim());
    if (list.length !== 1) throw new SigningRefused('unparseable-address', `Sender must name exactly one mailbox, it names ${list.length}`);
    sender = list[0]!;
  }
  return { from, sender };
}

/** The first From mailbox (see senderIdentities for what is refused). */
export function fromAddress(message: Buffer): FromAddress {
  return senderIdentities(message).from[0]!;
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

/** Throws SigningRefused unless `user` may send as every From mailbox and as the Sender. */
export function checkIdentities(rules: SenderRules, user: string | null, ids: SenderIdentities): void {
  for (const a of ids.sender ? [...ids.from, ids.sender] : ids.from) checkSender(rules, user, a);
}
