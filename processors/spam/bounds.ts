/**
 * Bounds on what the tokenizer reads, applied before any tokenizing: every string and list that comes
 * from the message is cut to a fixed size, so the tokenizer's cost is bounded whatever a sender
 * writes. The defaults are what the shipped model was trained with; raising them changes the
 * tokens of long messages only (README "Configuration").
 */
import type { SpamAddress, SpamInput } from './input.ts';

export interface TokenizerLimits {
  /** Characters of the plain-text body. */
  maxTextChars: number;
  /** Characters of the HTML body (before tags are removed). */
  maxHtmlChars: number;
  /** Characters of each header value (subject, names, addresses, Message-ID, Date, each Received, raw fields). */
  maxFieldChars: number;
  /** Received headers read (newest first; the originating hop is searched among these). */
  maxReceived: number;
  /** Addresses read per To/Cc/From/Reply-To list and envelope recipients. */
  maxAddresses: number;
  /** URLs read, and characters of each. */
  maxUrls: number;
  maxUrlChars: number;
  maxAttachments: number;
  /** Distinct tokens kept per message (first seen first). */
  maxTokens: number;
  /**
   * The ingress looks up the client's reverse DNS (INGRESS_REVERSE_DNS): a client without a name is
   * then evidence (relay:rdns:none). False when it does not look up, so a missing name says nothing.
   */
  clientRdns: boolean;
}

export const DEFAULT_LIMITS: Readonly<TokenizerLimits> = Object.freeze({
  maxTextChars: 200_000,
  maxHtmlChars: 256 * 1024,
  maxFieldChars: 2_000,
  maxReceived: 50,
  maxAddresses: 100,
  maxUrls: 100,
  maxUrlChars: 2_048,
  maxAttachments: 50,
  maxTokens: 3_000,
  clientRdns: true,
});

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
const cutOrNull = (s: string | null, n: number) => (s === null ? null : cut(s, n));

/** The input with every string and list cut to the limits (a new object; the input is not changed). */
export function boundInput(input: SpamInput, limits: TokenizerLimits = DEFAULT_LIMITS): SpamInput {
  const f = limits.maxFieldChars;
  const addrs = (list: SpamAddress[]) => list.slice(0, limits.maxAddresses).map((a) => ({ name: cut(a.name, f), address: cut(a.address, f) }));
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.fields)) fields[k] = cut(v, f);
  const env = input.envelope;
  return {
    ...input,
    subject: cutOrNull(input.subject, f),
    from: addrs(input.from),
    replyTo: addrs(input.replyTo),
    to: addrs(input.to),
    cc: addrs(input.cc),
    messageId: cutOrNull(input.messageId, f),
    inReplyTo: cutOrNull(input.inReplyTo, f),
    date: cutOrNull(input.date, f),
    received: input.received.slice(0, limits.maxReceived).map((r) => cut(r, f)),
    fields,
    text: cutOrNull(input.text, limits.maxTextChars),
    html: cutOrNull(input.html, limits.maxHtmlChars),
    urls: input.urls.slice(0, limits.maxUrls).map((u) => cut(u, limits.maxUrlChars)),
    attachments: input.attachments.slice(0, limits.maxAttachments).map((a) => ({ type: cut(a.type, 255), filename: cutOrNull(a.filename, 255), flags: a.flags.slice(0, 20) })),
    charsets: input.charsets.slice(0, 10).map((c) => cut(c, 64)),
    defects: input.defects.slice(0, 50),
    languages: input.languages.slice(0, 3).map((l) => cut(l, 16)),
    envelope: env ? { clientIp: cut(env.clientIp, 64), clientHostname: cutOrNull(env.clientHostname, 255), clientHostnameConfirmed: env.clientHostnameConfirmed ?? null, helo: cut(env.helo, 255), mailFrom: cut(env.mailFrom, f), rcptTo: env.rcptTo.slice(0, limits.maxAddresses).map((r) => cut(r, f)) } : null,
  };
}
