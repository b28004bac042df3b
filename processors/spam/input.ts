/**
 * MailRecord → what the tokenizer reads. Everything decoded comes from the MIME stage's section
 * (subject, addresses, bodies, URLs, attachments); the few header fields that section does not
 * carry (mailer, priority, top-level Content-Type) are read from the raw header block, which needs
 * no decoding. So training, evaluation and production all tokenize the same thing.
 */
import type { AuthSection, MailRecord, MimeSection } from '../../schemas/types.ts';
import { fieldName, fieldValue, headerBlock, splitFields } from '../../runtime/header-fields.ts';

export interface SpamAddress { name: string; address: string }

export interface SpamInput {
  subject: string | null;
  from: SpamAddress[];
  replyTo: SpamAddress[];
  to: SpamAddress[];
  cc: SpamAddress[];
  messageId: string | null;
  inReplyTo: string | null;
  date: string | null;
  /** Received values, newest first. */
  received: string[];
  /** Raw top-level header fields the MIME section does not decode (lower-case names). */
  fields: Record<string, string>;
  /** Plain-text body (or the HTML as text when there is no text part). */
  text: string | null;
  html: string | null;
  /**
   * The HTML is the only body (the MIME stage's `html-only` tag: no text part with anything in it,
   * whatever the container); `text` is then the HTML rendered by the MIME stage, hidden text and all.
   * Absent on inputs built before the tag existed: then only a top-level text/html tells.
   */
  htmlOnly?: boolean;
  urls: string[];
  attachments: { type: string; filename: string | null; flags: string[] }[];
  charsets: string[];
  defects: string[];
  /** MIME structure from the MIME stage: part count, nesting depth, body languages (Content-Language, else guessed). */
  parts: number;
  depth: number;
  languages: string[];
  envelope: {
    clientIp: string; clientHostname: string | null; helo: string; mailFrom: string; rcptTo: string[];
    /** The ingress's forward confirmation of clientHostname (Envelope.clientHostnameConfirmed): false = the name does not resolve back to clientIp; null/absent = not checked. */
    clientHostnameConfirmed?: boolean | null;
  } | null;
  auth: AuthSection | null;
  /**
   * Training corpora only: the message is a subject and a body with no header (Enron-Spam's
   * preprocessed text), so only word tokens exist for it.
   */
  headerless?: boolean;
  /**
   * Training corpora only: token prefixes to drop because the collector anonymised the field they
   * come from (a From of `user@…` or `[removed]`, a Message-ID `<[removed]>`): their shape says who
   * collected the message, not what it is (corpus/shared-corpora.ts, cli/spam-corpus.ts).
   */
  masked?: string[];
}

/** Header fields read from the raw header block (first value of each). */
export const RAW_FIELDS = ['x-mailer', 'user-agent', 'x-priority', 'x-msmail-priority', 'importance', 'content-type', 'mime-version', 'content-transfer-encoding', 'organization', 'references', 'to'] as const;
const WANTED = new Set<string>(RAW_FIELDS);
const MAX_HEADER_BYTES = 64 * 1024;

/** Unfolded first values of RAW_FIELDS from the top-level header block (names read as every stage reads them: runtime/header-fields.ts). */
export function rawFields(raw: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of splitFields(headerBlock(raw, MAX_HEADER_BYTES))) {
    const name = fieldName(field);
    if (name !== null && WANTED.has(name) && !(name in out)) out[name] = fieldValue(field).replace(/\r?\n[ \t]+/g, ' ').trim();
  }
  return out;
}

export function spamInputFromMime(mime: MimeSection, raw: Buffer, envelope: SpamInput['envelope'], auth: AuthSection | null): SpamInput {
  const h = mime.headers;
  const addr = (list: { name: string; address: string }[]) => list.map((x) => ({ name: x.name, address: x.address }));
  return {
    subject: h.subject,
    from: addr(h.from),
    replyTo: addr(h.replyTo),
    to: addr(h.to),
    cc: addr(h.cc),
    messageId: h.messageId,
    inReplyTo: h.inReplyTo,
    date: h.date,
    received: h.received,
    fields: rawFields(raw),
    text: mime.text,
    html: mime.html,
    htmlOnly: mime.tags.includes('html-only'),
    urls: mime.urls,
    attachments: mime.attachments.map((x) => ({ type: x.sniffedType ?? x.declaredType, filename: x.filename, flags: x.flags })),
    charsets: mime.charsets,
    defects: mime.defects.map((d) => d.code),
    parts: mime.parts,
    depth: mime.depth,
    languages: mime.languages,
    envelope,
    auth,
  };
}

export class MissingMimeSectionError extends Error {
  override name = 'MissingMimeSectionError';
}

/** The record as the scorer sees it; the MIME stage runs before, so a record without its section is a pipeline error. */
export function spamInputFromRecord(record: MailRecord): SpamInput {
  if (!record.mime) throw new MissingMimeSectionError(`record ${record.envelope.id} has no mime section (the MIME stage must run before the spam stage)`);
  const e = record.envelope;
  const input = spamInputFromMime(record.mime, e.raw.subarray(e.traceLength ?? 0), { clientIp: e.clientIp, clientHostname: e.clientHostname, clientHostnameConfirmed: e.clientHostnameConfirmed, helo: e.helo, mailFrom: e.mailFrom, rcptTo: e.rcptTo }, record.auth ?? null);
  // The MIME stage parsed our ingress's trace too: its one Received header is the envelope, already here.
  return (e.traceLength ?? 0) > 0 ? { ...input, received: input.received.slice(1) } : input;
}
