/**
 * Message → the set of tokens the Bayes model counts. Deterministic (same input, same sorted
 * token list) and bounded (text, words and tokens are capped).
 *
 * What generalises is tokenized; what describes how a corpus was *collected* is not (see README
 * "Artifacts"): only a whitelist of headers is read, recipient addresses and the collectors' own
 * names are dropped wherever they appear, mailing-list footers and subject tags are cut, and of
 * the Received chain only the originating hop's *shape* is used.
 */
import { getDomain, getPublicSuffix } from 'tldts';
import type { AuthSection } from '../../schemas/types.ts';
import { boundInput, DEFAULT_LIMITS, type TokenizerLimits } from './bounds.ts';
import { countWords, htmlToText, type HtmlInfo } from './html.ts';
import { obfuscatedBucket, plainSpelling, SpacedLetters } from './obfuscation.ts';
import type { SpamAddress, SpamInput } from './input.ts';

export type { SpamInput } from './input.ts';
export { DEFAULT_LIMITS, type TokenizerLimits } from './bounds.ts';

/** Bump on any change that alters tokens: a model only scores with the tokenizer it was trained with. */
export const TOKENIZER_VERSION = 'tok-6';
/** The longest domain name (RFC 1035): what an address in the text is read for. */
const MAX_DOMAIN_CHARS = 253;

/** Word lengths kept as words (shorter are dropped, longer become skip/8bit tokens). */
const MIN_WORD = 3;
const MAX_WORD = 12;

/**
 * Names and anonymisation marks of the SpamAssassin public corpus's collectors (their hosts, the
 * recipient placeholders zzzz@…/yyyy@…/qqqq…, the example.* addresses the anonymiser wrote). A
 * token containing one says who collected the message, not what it is.
 */
const COLLECTION_MARKS = /zzzz|yyyy|qqqq|taint\.org|netnoteinc|jmason|slashnull|webnote\.net|example\.(com|org|net|sourceforge)|localhost|lfdr\.de|phishing@pot|\[removed\]|baddomain|mstowe|rodrigo-f-p|mailmanthingwhatever|555-123-4567/;

/**
 * What mailing-list software appends (they mark list traffic, not ham): a separator line
 * (20+ `_` or `-`, or the `-- ` signature mark) followed within 400 characters by one of these.
 */
const LIST_FOOTER_MARKS = ['mailman/listinfo', 'sf.net email is sponsored', 'yahoo! groups', 'for (un)subscription information', '/lists/listinfo', 'groups.yahoo.com', 'to unsubscribe from this group', 'you received this message because you are subscribed', 'to unsubscribe send an email to'];
const FOOTER_REACH = 400;

const DYNAMIC_HOST = /(^|[.-])(dsl|adsl|xdsl|dial|dialup|dialin|ppp|pool|dyn|dynamic|dhcp|cable|cpe|client|user|host|modem|catv|broadband|customer|res|ip)[\d.-]|\d+[-.]\d+[-.]\d+[-.]\d+|\d{8,}/i;



function addressOf(list: SpamAddress[]): { local: string; domain: string; name: string } | null {
  const a = list[0];
  if (!a) return null;
  const at = a.address.lastIndexOf('@');
  if (at <= 0) return a.name ? { local: '', domain: '', name: a.name.trim() } : null;
  return { local: a.address.slice(0, at).toLowerCase(), domain: a.address.slice(at + 1).toLowerCase().replace(/\.$/, ''), name: a.name.trim() };
}

function bucket(n: number, edges: number[]): string {
  for (const e of edges) if (n <= e) return `le${e}`;
  return `gt${edges[edges.length - 1]}`;
}

function isPrivateIp(ip: string): boolean {
  return /^(10\.|127\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|0\.)/.test(ip) || ip === '::1' || /^f[cd]/i.test(ip);
}

/** Collects tokens in first-seen order, drops collection artifacts and the recipients' own addresses, caps the count. */
class TokenSink {
  readonly seen = new Set<string>();
  constructor(private readonly recipients: Set<string>, readonly maxTokens: number, private readonly masked: readonly string[] = []) {}
  get full(): boolean {
    return this.seen.size >= this.maxTokens;
  }
  add(token: string): void {
    if (this.seen.size >= this.maxTokens || this.seen.has(token)) return;
    if (COLLECTION_MARKS.test(token)) return;
    for (const m of this.masked) if (token.startsWith(m)) return;
    if (token.includes('@')) for (const r of this.recipients) if (token.includes(r)) return;
    this.seen.add(token);
  }
}

const LEADING_PUNCT = new Set('("\'[{<*');
const TRAILING_PUNCT = new Set(')"\']}>*,.;:');

/** The word without leading `("'[{<*` and trailing `)"'\]}>*,.;:` (a scan: the regex form backtracked quadratically on `)))…a`). */
export function stripPunctuation(raw: string): string {
  let a = 0;
  let b = raw.length;
  while (a < b && LEADING_PUNCT.has(raw[a]!)) a++;
  while (b > a && TRAILING_PUNCT.has(raw[b - 1]!)) b--;
  return a === 0 && b === raw.length ? raw : raw.slice(a, b);
}

/**
 * Word pairs come from the first PAIRS_WITHIN words of each text only; the words after them still
 * count, singly. Padding appended to dilute a message (hash-busting: encyclopaedia text, a story)
 * adds a new pair per word — far more tokens than its words — and a long discussion's tail adds
 * pairs no other message has; the pairs of the leading words, where a message says what it is,
 * keep their share. Chosen on the held-out corpora (README, "Obfuscation, hash-busting, HTML-only").
 */
const PAIRS_WITHIN = 100;

/**
 * A number is a shape, not a value: in a word of at most MAX_WORD characters every digit reads as 9
 * (`$19.95` and `$24.99` are `$99.99`, `100mg` is `999mg`, `713-853-5660` is `999-999-9999`, `2009`
 * is `9999`). A particular price, phone number, date or version seen in two training messages is an
 * artifact of the corpus that had it (tok-5's model had 1,795 such number tokens, most at the word
 * cap: `94102` and `9.25` for ham, `$195.00` for spam); its shape — a price, a percentage, a dose, a
 * phone number — is what recurs in mail from elsewhere. Measured on the held-out corpora (README,
 * "Numbers as shapes"). The obfuscation scan still reads the digits (`v1agra` → `viagra`).
 */
function numberShape(word: string): string {
  return word.length <= MAX_WORD && /\d/.test(word) ? word.replace(/\d/g, '9') : word;
}

/** Per message: what the word passes counted. */
interface WordState {
  obfuscated: number;
}

/**
 * SpamBayes-style words (lower-cased, split on white space, punctuation kept; long words become a
 * "skip" token), adjacent word pairs within the leading words, and the plain spelling of obfuscated
 * words (obfuscation.ts), counted in `state`.
 */
function words(text: string, prefix: string, out: TokenSink, state: WordState): void {
  let prev = '';
  let index = 0;
  const spaced = new SpacedLetters();
  const plain = (w: string | null) => {
    if (!w) return;
    state.obfuscated++;
    out.add(prefix + w);
  };
  for (const raw of text.split(/\s+/)) {
    if (out.full) return;
    // URLs come tokenized from the MIME section's URL list; an address gives its domain only
    // (the local part is mostly the recipient's or a list's).
    if (/^(?:[a-z][a-z0-9+.-]*:\/\/|www\.)/i.test(raw)) { prev = ''; plain(spaced.end()); continue; }
    const at = raw.indexOf('@');
    // Bounded to a domain's longest length (253): the word is attacker text of any length.
    const d = at > 0 ? /^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)/.exec(raw.slice(at + 1, at + 1 + MAX_DOMAIN_CHARS))?.[1]?.toLowerCase() : undefined;
    if (d) {
      out.add(`${prefix}email:${getDomain(d) ?? d}`);
      prev = '';
      plain(spaced.end());
      continue;
    }
    if (at > 0) {
      // Not an address (no domain after the @): `v@lium`'s plain spelling, nothing else.
      plain(spaced.end());
      plain(plainSpelling(stripPunctuation(raw).toLowerCase()));
      prev = '';
      continue;
    }
    const spelt = stripPunctuation(raw).toLowerCase();
    const w = numberShape(spelt);
    const n = w.length;
    // `v i a g r a`: single letters as words.
    if (n === 1 && SpacedLetters.isLetter(w)) spaced.push(w);
    else if (n) plain(spaced.end());
    if (n < MIN_WORD) { if (n) prev = ''; continue; }
    plain(plainSpelling(spelt));
    if (++index > PAIRS_WITHIN) {
      // Past the leading words (PAIRS_WITHIN): the word alone.
      if (n <= MAX_WORD) out.add(prefix + w);
      prev = '';
      continue;
    }
    if (n <= MAX_WORD) {
      out.add(prefix + w);
      // Word pairs: "click here" and "here is" say more than click, here and is.
      if (prev) out.add(`${prefix}${prev} ${w}`);
      prev = w;
      continue;
    }
    prev = '';
    if (!/[a-z]/.test(w) || /^[\x00-\x7f]*$/.test(w)) out.add(`${prefix}skip:${w[0]} ${Math.floor(n / 10) * 10}`);
    else out.add(`${prefix}8bit:${Math.round((w.replace(/[\x00-\x7f]/g, '').length * 10) / n) * 10}%`);
  }
  plain(spaced.end());
}

/** Returns the URL's registered domain. */
function urlTokens(url: string, out: TokenSink): string | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#\s]*)([^\s]*)/i.exec(url.trim());
  if (!m) return null;
  const proto = m[1]!.toLowerCase();
  let host = m[2]!.toLowerCase();
  out.add(`url:proto:${proto}`);
  if (host.includes('@')) { out.add('url:userinfo'); host = host.slice(host.lastIndexOf('@') + 1); }
  if (/:\d+$/.test(host)) { out.add('url:port'); host = host.replace(/:\d+$/, ''); }
  if (/%[0-9a-f]{2}/i.test(host)) out.add('url:escaped-host');
  let domain: string | null = null;
  if (/^\d+(\.\d+){3}$/.test(host) || /^\d{8,}$/.test(host)) out.add('url:ip-host');
  else {
    domain = getDomain(host);
    if (domain) out.add(`url:${domain}`);
    const tld = getPublicSuffix(host);
    if (tld) out.add(`url:tld:${tld}`);
  }
  const path = m[3]!;
  for (const piece of path.split(/[/?&=#._+~-]+/)) {
    if (piece.length >= 3 && piece.length <= 12 && /[a-z]/i.test(piece)) out.add(`url:p:${piece.toLowerCase()}`);
  }
  return domain;
}

/** Yahoo! Groups' sponsor blocks ("----- Yahoo! Groups Sponsor -----" … "~->") replaced by a space; indexOf scans, linear. */
function cutYahooSponsor(text: string): string {
  const lower = text.toLowerCase();
  const parts: string[] = [];
  let from = 0;
  for (let at = lower.indexOf(' yahoo! groups sponsor ', from); at >= 0; at = lower.indexOf(' yahoo! groups sponsor ', from)) {
    let start = at;
    while (start > from && text[start - 1] === '-') start--;
    const end = text.indexOf('~->', at);
    if (end < 0 || at - start < 5) break;
    parts.push(text.slice(from, start), ' ');
    from = end + 3;
  }
  if (from === 0) return text;
  parts.push(text.slice(from));
  return parts.join('');
}

/**
 * The text before the first list footer: a separator line followed within FOOTER_REACH characters
 * by a list-software mark (or a line ending in "mailing list"). Linear: every mark occurrence is
 * found with indexOf on a lower-cased copy, separator lines by one scan, and the two sorted lists
 * are walked together.
 */
export function cutListFooters(input: string): string {
  const text = cutYahooSponsor(input);
  const lower = text.toLowerCase();
  const marks: number[] = [];
  for (const mark of LIST_FOOTER_MARKS) {
    for (let at = lower.indexOf(mark); at >= 0; at = lower.indexOf(mark, at + mark.length)) marks.push(at);
  }
  for (let at = lower.indexOf('mailing list'); at >= 0; at = lower.indexOf('mailing list', at + 12)) {
    let e = at + 12;
    while (e < lower.length && (lower[e] === ' ' || lower[e] === '\t' || lower[e] === '\r')) e++;
    if (e >= lower.length || lower[e] === '\n') marks.push(at);
  }
  if (marks.length === 0) return text;
  marks.sort((x, y) => x - y);
  let next = 0;
  for (let lineStart = 0; lineStart < text.length && lineStart <= marks[marks.length - 1]!;) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    while (next < marks.length && marks[next]! < lineEnd) next++;
    if (next < marks.length && marks[next]! - lineEnd <= FOOTER_REACH && isSeparatorLine(text, lineStart, lineEnd)) return text.slice(0, lineStart);
    lineStart = lineEnd + 1;
  }
  return text;
}

/** `_` × 20+, `-` × 20+ or `--`/`-- ` (signature mark), trailing white space allowed. */
function isSeparatorLine(text: string, start: number, end: number): boolean {
  let e = end;
  while (e > start && /\s/.test(text[e - 1]!)) e--;
  const len = e - start;
  if (len === 2 || len === 3) return text.startsWith('--', start) && (len === 2 || text[start + 2] === ' ');
  if (len < 20) return false;
  const c = text[start];
  if (c !== '_' && c !== '-') return false;
  for (let i = start; i < e; i++) if (text[i] !== c) return false;
  return true;
}

/**
 * A tag an upstream filter wrote into the subject: SpamAssassin's "*****SPAM*****", Amavis's "***Spam***",
 * Exchange's "{Spam?}", "(SPAM? 08.00)", "SPAM:" ("[SPAM]" is a bracket tag, cut below). It is a relay's or a
 * collector's verdict, never the sender's words: kept, "spam" becomes a subject word that the training ham has
 * (mailing lists discussing spam) and tagged spam reads as ham. Anchored, bounded repeats only: linear.
 */
const FILTER_TAG = /^\s{0,8}(?:\*{1,10} ?spam\?? ?\*{1,10}|\{ ?spam\??[^}]{0,20}\}|\( ?spam\??[^)]{0,20}\)|spam ?:)\s{0,8}/i;

/** The subject without the filter tags at its start (at most three: a relay may add one to another's). */
export function cutFilterTags(subject: string): string {
  let s = subject;
  for (let k = 0; k < 3; k++) {
    const m = FILTER_TAG.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
  }
  return s;
}

/**
 * A list's subject tag: "[ILUG] …", "Re: [SAdev] …" → "Re: …" (keepPrefix) or "…". Scanned, not a regex with
 * nested repeats. Filter tags (cutFilterTags) go too, before or after the reply prefix and after the list tag.
 */
export function cutSubjectTag(subject: string, keepPrefix: boolean): string {
  subject = cutFilterTags(subject);
  let i = 0;
  const n = subject.length;
  // (re|fwd?|aw) \s* : \s*, repeated
  for (;;) {
    let j = i;
    const low = subject.slice(j, j + 3).toLowerCase();
    if (low.startsWith('re')) j += 2;
    else if (low.startsWith('fwd')) j += 3;
    else if (low.startsWith('fw') || low.startsWith('aw')) j += 2;
    else break;
    while (j < n && /\s/.test(subject[j]!)) j++;
    if (subject[j] !== ':') break;
    j++;
    while (j < n && /\s/.test(subject[j]!)) j++;
    i = j;
  }
  const prefix = subject.slice(0, i);
  const rest = cutFilterTags(subject.slice(i));
  if (rest[0] !== '[') return prefix + rest;
  const close = rest.indexOf(']', 1);
  if (close < 0 || close - 1 < 1 || close - 1 > 40) return prefix + rest;
  let k = close + 1;
  while (k < rest.length && /\s/.test(rest[k]!)) k++;
  return (keepPrefix ? prefix : '') + cutFilterTags(rest.slice(k));
}

/**
 * The earliest Received hop with a public address: the sender's side, the one hop that says
 * something about the sender. Returns that Received header (written by the first relay; its time
 * is when the message left the sender), or null.
 */
function originTokens(input: SpamInput, out: TokenSink, fromDomain: string | null): string | null {
  let found: { host: string; ip: string; helo: string; forged: boolean } | null = null;
  let header: string | null = null;
  const received = input.received;
  for (let i = received.length - 1; i >= 0; i--) {
    const r = received[i]!.replace(/\s+/g, ' ');
    const from = /^\s*from\s+(\S+)\s*(?:\(([^)]*)\))?/i.exec(r);
    if (!from) continue;
    const ips = /\[?(\d{1,3}(?:\.\d{1,3}){3})\]?/.exec(from[2] ?? from[1]!);
    if (!ips || isPrivateIp(ips[1]!)) continue;
    const paren = from[2] ?? '';
    const rdns = /^([a-z0-9.-]+\.[a-z]{2,})\s*\[/i.exec(paren.trim())?.[1] ?? (/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(from[1]!) && !paren ? from[1]! : '');
    found = { host: rdns.toLowerCase(), ip: ips[1]!, helo: from[1]!.toLowerCase(), forged: /may be forged/i.test(paren) };
    header = r;
    break;
  }
  if (!found && input.envelope && !isPrivateIp(input.envelope.clientIp)) {
    const e = input.envelope;
    found = { host: (e.clientHostname ?? '').toLowerCase(), ip: e.clientIp, helo: e.helo.toLowerCase(), forged: false };
  }
  if (!found) return null;
  if (!found.host || found.host === 'unknown') out.add('origin:no-rdns');
  else {
    const tld = getPublicSuffix(found.host);
    if (tld) out.add(`origin:tld:${tld}`);
    if (DYNAMIC_HOST.test(found.host)) out.add('origin:dynamic');
    if (fromDomain) out.add((getDomain(found.host) ?? found.host) === fromDomain ? 'origin:from-domain' : 'origin:other-domain');
  }
  if (/^\[?\d+(\.\d+){3}\]?$/.test(found.helo)) out.add('origin:helo-ip');
  else if (!found.helo.includes('.')) out.add('origin:helo-bare');
  if (found.forged) out.add('origin:forged');
  return header;
}

function authTokens(auth: AuthSection, out: TokenSink): void {
  out.add(`auth:spf:${auth.spf.result}`);
  out.add(`auth:dmarc:${auth.dmarc.result}`);
  if (auth.dmarc.disposition !== 'none') out.add(`auth:dmarc-disposition:${auth.dmarc.disposition}`);
  if (auth.dkim.length === 0) out.add('auth:dkim:none');
  for (const s of auth.dkim) out.add(`auth:dkim:${s.result}${s.result === 'pass' && s.aligned ? ':aligned' : ''}`);
  if (auth.arc.result !== 'none') out.add(`auth:arc:${auth.arc.result}`);
  if (auth.dmarc.result === 'pass' && auth.dmarc.fromDomain) out.add(`auth:verified-from:${auth.dmarc.fromDomain.toLowerCase()}`);
}

/** Returns the From address's registered domain (for alignment tokens). */
function headerTokens(input: SpamInput, out: TokenSink, state: WordState): string | null {
  const subjectRaw = input.subject;
  if (subjectRaw === null) out.add('subject:none');
  else {
    const subject = cutSubjectTag(subjectRaw, true);
    if (/^\s*re\s*:/i.test(subject)) out.add('subject:re');
    if (/^\s*fwd?\s*:/i.test(subject)) out.add('subject:fwd');
    const letters = subject.replace(/[^A-Za-z]/g, '');
    if (letters.length >= 6 && letters === letters.toUpperCase()) out.add('subject:all-caps');
    if (/!/.test(subject)) out.add('subject:exclamation');
    if (/\$\d|\d%|\bfree\b/i.test(subject)) out.add('subject:money');
    if (trailingId(subject)) out.add('subject:trailing-id');
    words(cutSubjectTag(subject, false), 'subject:', out, state);
    for (const w of subject.split(/[^A-Za-z0-9$%!]+/)) if (w.length >= 3 && w.length <= 12) out.add(`subject:${numberShape(w.toLowerCase())}`);
  }

  const from = addressOf(input.from);
  if (!from || !from.domain) out.add('from:none');
  if (from && from.domain) {
    const domain = getDomain(from.domain) ?? from.domain;
    out.add(`from:domain:${domain}`);
    // Sender identity, several ways: a sender the user trained on is the strongest evidence there is.
    out.add(`from:address:${from.local}@${from.domain}`);
    if (from.name) out.add(`from:display:${from.name.toLowerCase().replace(/\s+/g, ' ').slice(0, 40)}`);
    const tld = getPublicSuffix(from.domain);
    if (tld) out.add(`from:tld:${tld}`);
    if (/\d{3,}/.test(from.local)) out.add('from:local-digits');
    if (!from.name) out.add('from:no-name');
    else {
      if (from.name.includes('@')) out.add('from:name-is-address');
      for (const w of from.name.toLowerCase().split(/[\s,."']+/)) if (w.length >= 2 && w.length <= 20) out.add(`from:name:${w}`);
    }
    const replyTo = addressOf(input.replyTo);
    if (replyTo?.domain) out.add((getDomain(replyTo.domain) ?? replyTo.domain) === domain ? 'reply-to:same-domain' : 'reply-to:other-domain');
  }

  const f = input.fields;
  const mailer = f['x-mailer'] ?? f['user-agent'];
  if (!mailer) out.add('mailer:none');
  else {
    // Product and major version: "Microsoft Outlook Express 6.00.2600.0000" → "microsoft outlook express 6".
    const product = mailerProduct(mailer);
    const major = /\d+/.exec(mailer)?.[0];
    out.add(`mailer:${product || 'other'}${major ? ` ${major}` : ''}`);
  }

  const messageId = input.messageId;
  if (!messageId) out.add('message-id:none');
  else {
    const d = messageIdDomain(messageId);
    if (!d) out.add('message-id:no-domain');
    else if (from?.domain && (getDomain(d) ?? d) === (getDomain(from.domain) ?? from.domain)) out.add('message-id:from-domain');
    else if (/^\[?\d+(\.\d+){3}\]?$/.test(d)) out.add('message-id:ip');
    else out.add('message-id:other-domain');
  }
  if (input.inReplyTo || f.references) out.add('header:reply');
  if (!input.date) out.add('date:none');
  const to = f.to;
  if (to === undefined) out.add('to:none');
  else if (/undisclosed|recipient list suppressed/i.test(to) || !to.includes('@')) out.add('to:undisclosed');
  for (const p of [f['x-priority'], f['x-msmail-priority'], f.importance]) {
    if (p) out.add(`priority:${p.trim().toLowerCase().split(/\s+/)[0]}`);
  }
  const ct = f['content-type'];
  if (ct) {
    const type = ct.split(';')[0]!.trim().toLowerCase();
    out.add(`content-type:${type}`);
    if (type === 'text/html' || (input.htmlOnly && input.html)) out.add('html:only');
    const cs = /charset\s*=\s*"?([^";\s]+)/i.exec(ct);
    if (cs) out.add(`charset:${cs[1]!.toLowerCase()}`);
    if (!f['mime-version']) out.add('mime-version:none');
  }
  for (const c of input.charsets.slice(0, 10)) out.add(`charset:${c}`);
  for (const d of new Set(input.defects.slice(0, 50))) out.add(`mime-defect:${d}`);
  const cte = f['content-transfer-encoding'];
  if (cte) out.add(`content-transfer-encoding:${cte.trim().toLowerCase()}`);
  if (f.organization) out.add('organization:present');
  const fromDomain = from?.domain ? getDomain(from.domain) ?? from.domain : null;
  const originHeader = originTokens(input, out, fromDomain);
  shapeTokens(input, out, originHeader);
  return fromDomain;
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const ZONE_NAMES: Record<string, number> = { ut: 0, utc: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420 };
/** RFC 5322 date as written: [weekday,] day month year hh:mm[:ss] [zone]. */
const DATE_FORM = /^(?:([A-Za-z]{3})[a-z]*,?\s*)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/;

/** Zone offset in minutes ("+0200", "EST"), or null when unknown. */
function zoneMinutes(zone: string): number | null {
  const m = /^([+-])(\d\d)(\d\d)$/.exec(zone);
  if (m) return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return ZONE_NAMES[zone.toLowerCase()] ?? null;
}

/** "20021203122413.5678.qmail" → "D.D.a": the character class of each piece between separators. */
function idShape(local: string): string {
  return local.split(/([.$_=+%-]+)/).map((p, i) => {
    if (i % 2) return p[0];
    if (!p) return '';
    if (/^\d+$/.test(p)) return 'D';
    if (/^[0-9a-f]+$/.test(p)) return 'h';
    if (/^[0-9A-F]+$/.test(p)) return 'H';
    if (/^[a-z]+$/.test(p)) return 'a';
    if (/^[A-Z]+$/.test(p)) return 'A';
    if (/^[A-Za-z]+$/.test(p)) return 'Aa';
    return 'x';
  }).join('').slice(0, 24);
}

const CONSONANT_RUN = /[bcdfghjklmnpqrstvwxz]{5,}/;

/**
 * How the message was made rather than what it says: the Date header's form and its agreement with
 * the first relay's clock and zone, the Message-ID's shape beside the mailer that claims to have
 * written it, the From name against its address, a "Re:" that answers nothing, recipient counts,
 * MIME structure and language, subject shape. Bulk tools forge or skip these details; mail clients
 * and real servers get them right. None of them says who collected the message.
 */
function shapeTokens(input: SpamInput, out: TokenSink, originHeader: string | null): void {
  const f = input.fields;
  const subject = cutSubjectTag(input.subject ?? '', true);
  if (/^\s*(re|fwd?)\s*:/i.test(subject) && !(input.inReplyTo || f.references)) out.add('subject:re-unthreaded');

  if (input.date) dateTokens(input.date.trim(), out, originHeader);

  if (input.messageId) {
    const id = input.messageId.trim().replace(/^<|>$/g, '');
    const at = id.lastIndexOf('@');
    const local = at > 0 ? id.slice(0, at) : id;
    const shape = idShape(local);
    out.add(`message-id:shape:${shape}`);
    out.add(`message-id:len:${bucket(local.length, [8, 16, 24, 32, 48])}`);
    const mailer = f['x-mailer'] ?? f['user-agent'];
    const product = mailer ? mailerProduct(mailer) || 'other' : 'none';
    // A mailer's own Message-ID form: Outlook's hex, qmail's timestamps… another form says the header was forged.
    out.add(`mailer+message-id:${product}|${shape}`);
  }

  const a = input.from[0];
  if (a && a.address.includes('@')) {
    const local = a.address.slice(0, a.address.lastIndexOf('@')).toLowerCase();
    const name = a.name.trim().toLowerCase();
    if (CONSONANT_RUN.test(local.replace(/[^a-z]/g, ''))) out.add('from:local-consonants');
    if (/[a-z]\d|\d[a-z]/.test(local)) out.add('from:local-mixed-digits');
    out.add(`from:local-len:${bucket(local.length, [4, 8, 12, 16, 24])}`);
    if (name) {
      const compact = name.replace(/[^a-z0-9]/g, '');
      const nameWords = name.split(/[^a-z0-9]+/).filter((w) => w.length >= 3);
      if (compact === local.replace(/[^a-z0-9]/g, '')) out.add('from:name-is-local');
      else if (nameWords.some((w) => local.includes(w))) out.add('from:name-in-local');
      else out.add('from:name-unrelated');
      if (/\d/.test(name)) out.add('from:name-digits');
      if (CONSONANT_RUN.test(compact)) out.add('from:name-consonants');
      if (a.name === a.name.toUpperCase() && /[A-Z]{3}/.test(a.name)) out.add('from:name-caps');
      if (nameWords.length === 1) out.add('from:name-one-word');
    }
    // A count or an equality only: the recipient's address itself is never a token.
    if (input.to[0]?.address.toLowerCase() === a.address.toLowerCase()) out.add('to:is-from');
  }
  out.add(`to:count:${bucket(input.to.length, [0, 1, 3, 10])}`);
  if (input.cc.length) out.add(`cc:count:${bucket(input.cc.length, [1, 3, 10])}`);

  out.add(`mime:parts:${bucket(input.parts, [1, 2, 3, 5])}`);
  out.add(`mime:depth:${bucket(input.depth, [0, 1, 2])}`);
  for (const l of input.languages.slice(0, 3)) out.add(`lang:${l}`);

  const s = cutSubjectTag(input.subject ?? '', false);
  out.add(`subject:len:${bucket(s.length, [0, 10, 20, 40, 60])}`);
  // A short random word after the subject ("… Automation Applications . gji"): a bulk tool's per-copy tag.
  if (trailingShortWord(s)) out.add('subject:trailing-short');
  if (/\d{3,}/.test(s)) out.add('subject:digits');
  if (/[^\x00-\x7f]/.test(s)) out.add('subject:8bit');
}

const isWs = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v' || c === '\u00a0';

/** "… 3 or more spaces then one word at the end" (a bulk tool's per-copy id); scanned from the end. */
function trailingId(s: string): boolean {
  let e = s.length;
  if (e === 0 || isWs(s[e - 1])) return false;
  while (e > 0 && !isWs(s[e - 1])) e--;
  let spaces = 0;
  while (e > 0 && isWs(s[e - 1])) { e--; spaces++; }
  return spaces >= 3;
}

const COMMON_LAST_WORDS = new Set(['the', 'and', 'you', 'for', 'now', 'too', 'out', 'off', 'all', 'etc', 'yet', 'inc', 'ltd', 'com', 'net', 'org', 'ie', 'uk']);

/** The subject ends in white space + 2–5 lower-case letters that are not a common word ("… Applications . gji"). */
function trailingShortWord(s: string): boolean {
  let e = s.length;
  while (e > 0 && s[e - 1]! >= 'a' && s[e - 1]! <= 'z') e--;
  const len = s.length - e;
  return len >= 2 && len <= 5 && e > 0 && isWs(s[e - 1]) && !COMMON_LAST_WORDS.has(s.slice(e));
}

/** "Microsoft Outlook Express 6.00.2600.0000" → "microsoft outlook express": the text before the first digit/bracket, trailing separators and a dangling "v" cut. */
function mailerProduct(mailer: string): string {
  let p = mailer.slice(0, 200);
  const stop = p.search(/[\d([/;]/);
  if (stop >= 0) p = p.slice(0, stop);
  p = p.trim().toLowerCase().replace(/\s+/g, ' ');
  let e = p.length;
  if (p[e - 1] === 'v') e--;
  let g = e;
  while (g > 0 && (p[g - 1] === ' ' || p[g - 1] === ',' || p[g - 1] === '-')) g--;
  if (g < e) p = p.slice(0, g);
  return p.slice(0, 40);
}

/** The domain after the last '@' of a Message-ID ("<x@host>"), or null. */
function messageIdDomain(id: string): string | null {
  let t = id.trim();
  if (t.endsWith('>')) t = t.slice(0, -1).trimEnd();
  const at = t.lastIndexOf('@');
  if (at < 0) return null;
  const d = t.slice(at + 1);
  return d && !/[\s>]/.test(d) ? d.toLowerCase() : null;
}

/**
 * The Date header's form (digits and letters folded: "a, 9 a 9999 99:99:99 +9999"), what is missing
 * or impossible in it (weekday that does not match the day, zone out of range), and how it compares
 * with the first relay's Received time: clock off by hours or days, another time zone. Hand-written:
 * Date.parse drops exactly these details.
 */
function dateTokens(d: string, out: TokenSink, originHeader: string | null): void {
  out.add(`date:shape:${d.replace(/[A-Za-z]+/g, 'a').replace(/\d/g, '9').replace(/\s+/g, ' ').slice(0, 40)}`);
  const m = DATE_FORM.exec(d);
  if (!m) { out.add('date:unparsed'); return; }
  let year = Number(m[4]);
  if (m[4]!.length === 2) { out.add('date:year-2digit'); year += year < 50 ? 2000 : 1900; }
  const month = MONTHS[m[3]!.toLowerCase()];
  if (month === undefined) out.add('date:bad-month');
  if (!m[1]) out.add('date:no-weekday');
  else if (month !== undefined && WEEKDAYS[new Date(Date.UTC(year, month, Number(m[2]))).getUTCDay()] !== m[1].toLowerCase()) out.add('date:weekday-mismatch');
  const zone = m[8];
  const tz = zone ? zoneMinutes(zone) : null;
  if (!zone) out.add('date:tz-missing');
  else if (tz === null) out.add('date:tz-unknown-name');
  else if (Math.abs(tz) > 14 * 60 || tz % 15 !== 0) out.add('date:tz-invalid');
  if (zone === '-0000') out.add('date:tz:-0000');
  if (!originHeader || month === undefined || tz === null) return;
  const semi = originHeader.lastIndexOf(';');
  const stamp = semi >= 0 ? originHeader.slice(semi + 1).trim() : '';
  const relayTime = stamp ? Date.parse(stamp) : NaN;
  if (Number.isNaN(relayTime)) return;
  const sent = Date.UTC(year, month, Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7] ?? 0)) - tz * 60_000;
  const hours = (sent - relayTime) / 3_600_000;
  const ah = Math.abs(hours);
  out.add(`date:vs-origin:${ah < 0.25 ? 'same' : ah < 2 ? 'near' : ah < 24 ? (hours > 0 ? 'future-h' : 'past-h') : hours > 0 ? 'future-d' : 'past-d'}`);
  const relayZone = trailingZone(stamp);
  if (relayZone) out.add(relayZone === zone ? 'date:tz-as-origin' : 'date:tz-not-origin');
}

/** The numeric zone at the end of a Received time stamp ("… +0200", "… -0700 (PDT)"), or undefined. */
function trailingZone(stamp: string): string | undefined {
  let t = stamp.trimEnd();
  if (t.endsWith(')')) {
    const open = t.lastIndexOf('(');
    if (open < 0) return undefined;
    t = t.slice(0, open).trimEnd();
  }
  const z = t.slice(-5);
  return /^[+-]\d{4}$/.test(z) ? z : undefined;
}

/** Anchor text that names another site than the link goes to ("https://www.paypal.com/" → evil.test), link shorteners, hidden text share. */
function htmlEvidenceTokens(info: HtmlInfo, out: TokenSink): void {
  let mismatch = false;
  let match = false;
  for (const a of info.anchors) {
    const shown = SHOWN_DOMAIN.exec(a.text)?.[1]?.toLowerCase();
    if (!shown) continue;
    const target = hostOf(a.href);
    if (!target) continue;
    const sd = getDomain(shown) ?? shown;
    const td = getDomain(target) ?? target;
    if (sd === td) match = true; else mismatch = true;
  }
  if (mismatch) out.add('url:anchor-mismatch');
  if (match) out.add('url:anchor-match');
  if (info.anchors.some((a) => SHORTENERS.has(getDomain(hostOf(a.href) ?? '') ?? ''))) out.add('url:shortener');
  const visible = visibleLength(info.text);
  out.add(`html:hidden-share:${info.hiddenChars === 0 ? 'none' : info.hiddenChars < visible / 10 ? 'some' : info.hiddenChars < visible ? 'much' : 'most'}`);
  const words = countWords(info.text, 1000);
  out.add(`html:words:${bucket(words, [0, 20, 100, 500])}`);
}

/** A domain shown in link text: "www.paypal.com", "https://paypal.com/login", "PayPal.com". */
const SHOWN_DOMAIN = /^\s*(?:https?:\/\/)?(?:www\.)?((?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24})(?:[/:?#\s]|$)/i;
const SHORTENERS = new Set(['bit.ly', 'tinyurl.com', 't.co', 'goo.gl', 'ow.ly', 'is.gd', 'buff.ly', 'rebrand.ly', 'cutt.ly', 'shorturl.at', 'tiny.cc', 'rb.gy', 't.ly', 'lnkd.in', 's.id', 'bitly.com']);

function hostOf(url: string): string | null {
  const m = /^[a-z][a-z0-9+.-]{0,20}:\/\/([^/?#\s]{1,255})/i.exec(url.trim());
  if (!m) return null;
  const h = m[1]!.toLowerCase();
  const at = h.lastIndexOf('@');
  return (at >= 0 ? h.slice(at + 1) : h).replace(/:\d+$/, '');
}

/**
 * The relay that handed the message to the receiving side (SpamAssassin's "last untrusted relay"):
 * on live traffic the SMTP client our ingress saw (envelope); on stored mail the first Received hop
 * from the top that is not internal to the receiver (private address, or from and by in the same
 * registered domain). Its reverse DNS (none, dynamic-looking, present), its HELO (IP literal, bare,
 * other domain than the reverse name), and the chain's shape below it: how many hops the message
 * took on the sender's side (bulk tools connect directly; mail servers relay from a submission host).
 */
function relayTokens(input: SpamInput, out: TokenSink, clientRdns: boolean): void {
  const env = input.envelope;
  const hops = input.received.map(parseReceived);
  let relay: { helo: string; rdns: string | null | undefined; ip: string; unconfirmed?: boolean } | null = null;
  let below = 0;
  if (env && !isPrivateIp(env.clientIp)) {
    // unconfirmed: live traffic only, the ingress found that the name does not resolve back to the
    // client. Stored mail (the corpora) has no envelope, so its tokens and the model trained on them
    // are unchanged; the model learns this token's weight from live feedback.
    relay = { helo: env.helo.toLowerCase(), rdns: clientRdns ? (env.clientHostname?.toLowerCase() ?? null) : undefined, ip: env.clientIp, unconfirmed: env.clientHostnameConfirmed === false };
    // Our own trace header is not in `received` (it is cut off as the trace); every Received is the sender's side.
    below = hops.filter((h) => h !== null).length;
  } else {
    let k = 0;
    for (; k < hops.length; k++) {
      const h = hops[k];
      if (!h || !h.ip || isPrivateIp(h.ip)) continue;
      const fromDomain = h.rdns ? getDomain(h.rdns) : h.helo.includes('.') ? getDomain(h.helo) : null;
      if (h.by && fromDomain && getDomain(h.by) === fromDomain) continue; // the receiver's internal hop
      break;
    }
    const h = hops[k];
    if (!h) { if (input.received.length > 0) out.add('relay:not-found'); return; }
    relay = { helo: h.helo, rdns: h.rdns, ip: h.ip! };
    below = hops.slice(k + 1).filter((x) => x !== null).length;
  }
  if (relay.rdns === null) out.add('relay:rdns:none');
  else if (relay.rdns !== undefined) {
    out.add(DYNAMIC_HOST.test(relay.rdns) ? 'relay:rdns:dynamic' : 'relay:rdns:static');
    if (relay.unconfirmed) out.add('relay:rdns:unconfirmed');
    const hd = relay.helo.includes('.') ? getDomain(relay.helo.replace(/^\[|\]$/g, '')) : null;
    if (hd) out.add(hd === getDomain(relay.rdns) ? 'relay:helo-is-rdns-domain' : 'relay:helo-not-rdns-domain');
  }
  if (/^\[?[\d.]+\]?$|^\[?ipv6:/i.test(relay.helo)) out.add('relay:helo-ip-literal');
  else if (!relay.helo.includes('.')) out.add('relay:helo-bare');
  if (relay.ip.includes(':')) out.add('relay:ipv6');
  out.add(`received:sender-hops:${bucket(below, [0, 1, 2, 4])}`);
  if (hops.some((h) => h && h.ip && isPrivateIp(h.ip))) out.add('received:private-hop');
}

/** "from HELO (RDNS [IP]) by HOST …" and its common variants; rdns null = the relay had no reverse name, undefined = the form does not say. */
function parseReceived(r: string): { helo: string; rdns: string | null | undefined; ip: string | null; by: string | null } | null {
  const t = r.replace(/\s+/g, ' ').trim();
  const from = /^from ([^\s()]+)(?: \(([^)]{0,300})\))?/i.exec(t);
  if (!from) return null;
  const helo = from[1]!.toLowerCase();
  const paren = (from[2] ?? '').trim();
  const by = / by ([a-z0-9.-]{1,255})/i.exec(t)?.[1]?.toLowerCase() ?? null;
  const ipm = /\[(?:ipv6:)?([0-9a-f:.]{3,45})\]/i.exec(paren) ?? /^((?:\d{1,3}\.){3}\d{1,3})$/.exec(paren) ?? /\[((?:\d{1,3}\.){3}\d{1,3})\]/.exec(helo);
  const ip = ipm?.[1] ?? null;
  let rdns: string | null | undefined;
  if (/^\[/.test(paren) || /^unknown\b/i.test(paren)) rdns = null; // "([1.2.3.4])", "(unknown [1.2.3.4])"
  else {
    const name = /^([a-z0-9.-]{1,255}?)\.? \[/i.exec(paren)?.[1]; // "(mail.x.org [1.2.3.4])", Gmail's "(mail.x.org. [1.2.3.4])"
    rdns = name && name.includes('.') ? name.toLowerCase() : undefined;
  }
  return { helo, rdns, ip, by };
}

const DOMAIN_LIKE = /^(?:[a-z0-9-]+\.)+[a-z]{2,24}\.?$/;

/** Display-name tricks: an address or a domain in the name that is not the sender's ("PayPal <service@paypal.com>" <x@evil.test>). */
function displayNameTokens(input: SpamInput, out: TokenSink): void {
  const a = input.from[0];
  if (!a || !a.name || !a.address.includes('@')) return;
  const fromDomain = getDomain(a.address.slice(a.address.lastIndexOf('@') + 1).toLowerCase()) ?? '';
  const name = a.name.toLowerCase();
  let shownAddress: string | null = null;
  let shownDomain: string | null = null;
  for (const piece of name.split(/[\s<>()"',;:[\]]+/)) {
    if (piece.length > 255) continue;
    const at = piece.lastIndexOf('@');
    if (at > 0 && DOMAIN_LIKE.test(piece.slice(at + 1))) { shownAddress ??= piece.slice(at + 1); continue; }
    if (at < 0 && DOMAIN_LIKE.test(piece) && getDomain(piece)) shownDomain ??= piece;
  }
  if (shownAddress) out.add(getDomain(shownAddress) === fromDomain ? 'from:name-address-same' : 'from:name-address-other');
  else if (shownDomain) out.add(getDomain(shownDomain) === fromDomain ? 'from:name-domain-same' : 'from:name-domain-other');
  if (/[^\x00-\x7f]/.test(a.name) && !/[\u00c0-\u024f]/.test(a.name)) out.add('from:name-symbols');
  if (/ via /.test(name)) out.add('from:name-via');
}

/** `body:obfuscated:<1|2-4|5+>`: how many words (subject and body) were written in disguise. */
function obfuscationToken(state: WordState, out: TokenSink): void {
  if (state.obfuscated > 0) out.add(`body:obfuscated:${obfuscatedBucket(state.obfuscated)}`);
}

/** Length with runs of white space counted as one. */
function visibleLength(text: string): number {
  let n = 0;
  let space = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ws = c === 32 || (c >= 9 && c <= 13) || c === 160;
    if (!ws || !space) n++;
    space = ws;
  }
  return n;
}

function recipientsOf(input: SpamInput): Set<string> {
  const r = new Set<string>();
  for (const a of [...input.to, ...input.cc]) if (a.address.includes('@')) r.add(a.address.toLowerCase());
  for (const a of input.envelope?.rcptTo ?? []) if (a.includes('@')) r.add(a.toLowerCase());
  return r;
}

/** The message's distinct tokens, in a deterministic order (first seen first). */
export function tokenize(raw: SpamInput, limits: TokenizerLimits = DEFAULT_LIMITS): string[] {
  const input = boundInput(raw, limits);
  const out = new TokenSink(recipientsOf(input), limits.maxTokens, input.masked);
  const state: WordState = { obfuscated: 0 };
  if (input.headerless) {
    // Text-only corpora (Enron-Spam): words are all there is.
    if (input.subject) words(cutSubjectTag(input.subject, false), 'subject:', out, state);
    if (input.text) words(cutListFooters(input.text), '', out, state);
    obfuscationToken(state, out);
    return [...out.seen];
  }
  if (input.auth) authTokens(input.auth, out);
  const fromDomain = headerTokens(input, out, state);
  relayTokens(input, out, limits.clientRdns);
  displayNameTokens(input, out);

  const urls: string[] = [...input.urls];
  const texts: string[] = [];
  if (input.text) texts.push(input.text);
  if (input.html) {
    // The HTML's words too (a text part may say little), plus its structure.
    const info = htmlToText(input.html, limits.maxHtmlChars);
    for (const feature of info.features) out.add(feature);
    htmlEvidenceTokens(info, out);
    texts.push(info.text.slice(0, limits.maxTextChars));
    if (input.text) {
      // multipart/alternative whose two versions say different amounts: bulk tools fill the text part with a stub (or the reverse).
      const ratio = (visibleLength(texts[0]!) + 1) / (visibleLength(texts[1]!) + 1);
      out.add(`mime:alt-ratio:${ratio < 0.5 ? 'text-short' : ratio > 2 ? 'text-long' : 'similar'}`);
    }
  }
  if (!input.text && !input.html) out.add('body:none');

  for (const raw of texts) words(cutListFooters(raw), '', out, state);
  obfuscationToken(state, out);
  const seenUrls = new Set<string>();
  let fromDomainLinked = false;
  for (const u of urls) {
    const url = u.startsWith('www.') ? `http://${u}` : u;
    if (seenUrls.has(url)) continue;
    seenUrls.add(url);
    if (urlTokens(url, out) === fromDomain && fromDomain) fromDomainLinked = true;
  }
  if (seenUrls.size > 0) {
    out.add(`url:count:${bucket(seenUrls.size, [1, 3, 10])}`);
    if (fromDomain) out.add(fromDomainLinked ? 'url:links-from-domain' : 'url:no-link-to-from-domain');
  }

  for (const a of input.attachments) {
    out.add(`attachment:type:${a.type.toLowerCase()}`);
    for (const flag of a.flags) out.add(`attachment:flag:${flag}`);
    const ext = a.filename ? /\.([A-Za-z0-9]{1,8})$/.exec(a.filename)?.[1] : undefined;
    if (ext) out.add(`attachment:ext:${ext.toLowerCase()}`);
  }
  return [...out.seen];
}
