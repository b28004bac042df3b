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
import { htmlToText } from './html.ts';
import { messageIdDomain, shortWordAtEnd, stripPunctuation, wordAfterThreeSpaces } from './linear.ts';
import type { SpamAddress, SpamInput } from './input.ts';

export type { SpamInput } from './input.ts';

/** Bump on any change that alters tokens: a model only scores with the tokenizer it was trained with. */
export const TOKENIZER_VERSION = 'tok-2';

export const LIMITS = {
  /** Characters of decoded body text (all parts together) looked at. */
  maxTextChars: 200_000,
  /** Distinct tokens kept per message (first seen first). */
  maxTokens: 3_000,
  minWord: 3,
  maxWord: 12,
  maxUrls: 100,
  maxAttachments: 50,
};

/**
 * Names and anonymisation marks of the SpamAssassin public corpus's collectors (their hosts, the
 * recipient placeholders zzzz@…/yyyy@…/qqqq…, the example.* addresses the anonymiser wrote). A
 * token containing one says who collected the message, not what it is.
 */
const COLLECTION_MARKS = /zzzz|yyyy|qqqq|taint\.org|netnoteinc|jmason|slashnull|webnote\.net|example\.(com|org|net|sourceforge)|localhost/;

/** Footers and ads that mailing-list software appends; they mark list traffic, not ham. */
const LIST_FOOTER = /^(?:_{20,}|-{20,}|-- ?)\s*$(?=[\s\S]{0,400}?(?:mailman\/listinfo|mailing list\s*$|sf\.net email is sponsored|Yahoo! Groups|for \(un\)subscription information|\/lists\/listinfo|groups\.yahoo\.com|To unsubscribe from this group))/m;
// (?<!-): a run of dashes is tried from its first dash only, not from each of them.
const YAHOO_SPONSOR = /(?<!-)-{5,} Yahoo! Groups Sponsor -{5,}[\s\S]*?(?<!-)-{10,}~->/g;
/** A list's subject tag: "[ILUG] …", "Re: [SAdev] …". */
const SUBJECT_TAG = /^((?:(?:re|fwd?|aw)\s*:\s*)*)\[[^\]]{1,40}\]\s*/i;

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
  constructor(private readonly recipients: Set<string>) {}
  add(token: string): void {
    if (this.seen.size >= LIMITS.maxTokens || this.seen.has(token)) return;
    if (COLLECTION_MARKS.test(token)) return;
    if (token.includes('@')) for (const r of this.recipients) if (token.includes(r)) return;
    this.seen.add(token);
  }
}

/** SpamBayes-style words (lower-cased, split on white space, punctuation kept; long words become a "skip" token) and adjacent word pairs. */
function words(text: string, prefix: string, out: TokenSink): void {
  let prev = '';
  for (const raw of text.split(/\s+/)) {
    if (out.seen.size >= LIMITS.maxTokens) return;
    // URLs come tokenized from the MIME section's URL list; an address gives its domain only
    // (the local part is mostly the recipient's or a list's).
    if (/^(?:[a-z][a-z0-9+.-]*:\/\/|www\.)/i.test(raw)) { prev = ''; continue; }
    const at = raw.indexOf('@');
    if (at > 0) {
      const d = /^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)/.exec(raw.slice(at + 1))?.[1]?.toLowerCase();
      if (d) out.add(`${prefix}email:${getDomain(d) ?? d}`);
      prev = '';
      continue;
    }
    const w = stripPunctuation(raw).toLowerCase();
    const n = w.length;
    if (n < LIMITS.minWord) { if (n) prev = ''; continue; }
    if (n <= LIMITS.maxWord) {
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

function cutListFooters(text: string): string {
  // A sponsor block ends at its last '~->': after that the lazy scan could only fail, from every start.
  const end = text.lastIndexOf('~->') + 3;
  let t = text.slice(0, end).replace(YAHOO_SPONSOR, ' ') + text.slice(end);
  const m = LIST_FOOTER.exec(t);
  if (m) t = t.slice(0, m.index);
  return t;
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
function headerTokens(input: SpamInput, out: TokenSink): string | null {
  const subjectRaw = input.subject;
  if (subjectRaw === null) out.add('subject:none');
  else {
    const subject = subjectRaw.replace(SUBJECT_TAG, '$1');
    if (/^\s*re\s*:/i.test(subject)) out.add('subject:re');
    if (/^\s*fwd?\s*:/i.test(subject)) out.add('subject:fwd');
    const letters = subject.replace(/[^A-Za-z]/g, '');
    if (letters.length >= 6 && letters === letters.toUpperCase()) out.add('subject:all-caps');
    if (/!/.test(subject)) out.add('subject:exclamation');
    if (/\$\d|\d%|\bfree\b/i.test(subject)) out.add('subject:money');
    if (wordAfterThreeSpaces(subject)) out.add('subject:trailing-id');
    words(subject.replace(SUBJECT_TAG, ''), 'subject:', out);
    for (const w of subject.split(/[^A-Za-z0-9$%!]+/)) if (w.length >= 3 && w.length <= 12) out.add(`subject:${w.toLowerCase()}`);
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
    const product = mailer.split(/[\d([/;]/)[0]!.trim().toLowerCase().replace(/\s+/g, ' ').replace(/[\s,-]+v?$/, '').slice(0, 40);
    const major = /\d+/.exec(mailer)?.[0];
    out.add(`mailer:${product || 'other'}${major ? ` ${major}` : ''}`);
  }

  const messageId = input.messageId;
  if (!messageId) out.add('message-id:none');
  else {
    const d = messageIdDomain(messageId)?.toLowerCase();
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
    if (type === 'text/html') out.add('html:only');
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
  const subject = (input.subject ?? '').replace(SUBJECT_TAG, '$1');
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
    const product = mailer ? mailer.split(/[\d([/;]/)[0]!.trim().toLowerCase().replace(/\s+/g, ' ').replace(/[\s,-]+v?$/, '').slice(0, 40) || 'other' : 'none';
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

  const s = (input.subject ?? '').replace(SUBJECT_TAG, '');
  out.add(`subject:len:${bucket(s.length, [0, 10, 20, 40, 60])}`);
  // A short random word after the subject ("… Automation Applications . gji"): a bulk tool's per-copy tag.
  if (shortWordAtEnd(s) && /\s[a-z]{2,5}$/.test(s) && !/\b(the|and|you|for|now|too|out|off|all|etc|yet|inc|ltd|com|net|org|ie|uk)$/i.test(s)) out.add('subject:trailing-short');
  if (/\d{3,}/.test(s)) out.add('subject:digits');
  if (/[^\x00-\x7f]/.test(s)) out.add('subject:8bit');
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
  // The zone ends a date stamp: its last 256 characters are enough, and a long stamp cannot make the scan quadratic.
  const relayZone = /([+-]\d{4})\s*(?:\([^)]*\))?\s*$/.exec(stamp.slice(-256))?.[1];
  if (relayZone) out.add(relayZone === zone ? 'date:tz-as-origin' : 'date:tz-not-origin');
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
export function tokenize(input: SpamInput): string[] {
  const out = new TokenSink(recipientsOf(input));
  if (input.auth) authTokens(input.auth, out);
  const fromDomain = headerTokens(input, out);

  const urls: string[] = [...input.urls];
  const texts: string[] = [];
  if (input.text) texts.push(input.text.slice(0, LIMITS.maxTextChars));
  if (input.html) {
    // The HTML's words too (a text part may say little), plus its structure.
    const info = htmlToText(input.html);
    for (const feature of info.features) out.add(feature);
    texts.push(info.text.slice(0, LIMITS.maxTextChars));
    if (input.text) {
      // multipart/alternative whose two versions say different amounts: bulk tools fill the text part with a stub (or the reverse).
      const ratio = (visibleLength(texts[0]!) + 1) / (visibleLength(texts[1]!) + 1);
      out.add(`mime:alt-ratio:${ratio < 0.5 ? 'text-short' : ratio > 2 ? 'text-long' : 'similar'}`);
    }
  }
  if (!input.text && !input.html) out.add('body:none');

  for (const raw of texts) words(cutListFooters(raw), '', out);
  const seenUrls = new Set<string>();
  let fromDomainLinked = false;
  for (const u of urls) {
    if (seenUrls.size >= LIMITS.maxUrls) break;
    const url = u.startsWith('www.') ? `http://${u}` : u;
    if (seenUrls.has(url)) continue;
    seenUrls.add(url);
    if (urlTokens(url, out) === fromDomain && fromDomain) fromDomainLinked = true;
  }
  if (seenUrls.size > 0) {
    out.add(`url:count:${bucket(seenUrls.size, [1, 3, 10])}`);
    if (fromDomain) out.add(fromDomainLinked ? 'url:links-from-domain' : 'url:no-link-to-from-domain');
  }

  const atts = input.attachments.slice(0, LIMITS.maxAttachments);
  for (const a of atts) {
    out.add(`attachment:type:${a.type.toLowerCase()}`);
    for (const flag of a.flags) out.add(`attachment:flag:${flag}`);
    const ext = a.filename ? /\.([A-Za-z0-9]{1,8})$/.exec(a.filename)?.[1] : undefined;
    if (ext) out.add(`attachment:ext:${ext.toLowerCase()}`);
  }
  return [...out.seen];
}
