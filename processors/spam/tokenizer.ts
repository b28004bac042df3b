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
import type { SpamAddress, SpamInput } from './input.ts';

export type { SpamInput } from './input.ts';

/** Bump on any change that alters tokens: a model only scores with the tokenizer it was trained with. */
export const TOKENIZER_VERSION = 'tok-1';

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
const YAHOO_SPONSOR = /-{5,} Yahoo! Groups Sponsor -{5,}[\s\S]*?-{10,}~->/g;
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
    const w = raw.replace(/^[("'[{<*]+|[)"'\]}>*,.;:]+$/g, '').toLowerCase();
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
  let t = text.replace(YAHOO_SPONSOR, ' ');
  const m = LIST_FOOTER.exec(t);
  if (m) t = t.slice(0, m.index);
  return t;
}

/** The earliest Received hop with a public address: the sender's side, the one hop that says something about the sender. */
function originTokens(input: SpamInput, out: TokenSink, fromDomain: string | null): void {
  let found: { host: string; ip: string; helo: string; forged: boolean } | null = null;
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
    break;
  }
  if (!found && input.envelope && !isPrivateIp(input.envelope.clientIp)) {
    const e = input.envelope;
    found = { host: (e.clientHostname ?? '').toLowerCase(), ip: e.clientIp, helo: e.helo.toLowerCase(), forged: false };
  }
  if (!found) return;
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
    if (/\s{3,}\S+$/.test(subject)) out.add('subject:trailing-id');
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
    const d = /@([^>\s]+)>?\s*$/.exec(messageId)?.[1]?.toLowerCase();
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
  originTokens(input, out, fromDomain);
  return fromDomain;
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
