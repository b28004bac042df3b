/**
 * Raw message → the `mime` section: the structural scan (structure.ts) for the tree, defects and
 * limits, mailparser for decoding (headers per RFC 2047/6532/2231, bodies in their charsets,
 * attachments), then the attachment policy and optional ClamAV scan. Pure apart from clamd, so
 * tests and the bench call it without Kafka.
 */
import { isUtf8 } from 'node:buffer';
import type { AddressObject, ParsedMail } from 'mailparser';
import type { MailAddress, MimeAttachment, MimeSection } from '../../schemas/types.ts';
import { describeAttachment, identifyAttachment } from './attachments.ts';
import { clamdScan, type ClamdAddress } from './clamd.ts';
import { languageGuesser } from './language.ts';
import { MAILPARSER_OPTIONS, parseMail, type MailTreeNode, type ParsedWithTree } from './mailparser.ts';
import { DEFAULT_LIMITS, scanStructure, type HeaderField, type MimeLimits, type Structure } from './structure.ts';

export const STAGE_VERSION = '1.0.0';

/** ISO 639-3 codes franc may answer (the most common languages of mail). */
export const LANGUAGES = ['eng', 'spa', 'fra', 'deu', 'por', 'ita', 'nld', 'rus', 'ukr', 'pol', 'tur', 'cmn', 'jpn', 'kor', 'arb', 'hin', 'ind', 'vie', 'swe', 'ces'] as const;
/** franc-min's guess over those languages, computed once per trigram instead of once per trigram and language (language.ts). */
const GUESSER = languageGuesser({ minLength: 80, only: LANGUAGES });

/**
 * The text franc reads: franc costs about as much as the parse itself on long samples with all 82
 * languages; 400 characters over the 20 most common mail languages keep it near a fifth of that.
 */
export const languageSample = (text: string) => text.slice(0, 2000).replace(/\s+/g, ' ').slice(0, 400);

export interface ParseOptions {
  limits?: MimeLimits;
  clamd?: { address: ClamdAddress; timeoutMs: number };
  signal?: AbortSignal;
  now?: () => number;
  /** Guess the language of the text (franc); on by default. The corpus round trip, which checks the parse, turns it off. */
  guessLanguage?: boolean;
  /**
   * Look into the content once it is parsed: sniff each attachment's type from its bytes and flag it
   * (executable, macros, encrypted archive, type mismatch…), and extract the URLs. On by default.
   * Off, attachments are still listed with name, declared type, size and SHA-256, and nothing of the
   * parse changes; the corpus round trip, which compares neither flags nor URLs, turns it off.
   */
  contentChecks?: boolean;
}


/** At most this many addresses per header are kept (a group's members count one by one). */
export const MAX_ADDRESSES_PER_HEADER = 500;

function toAddresses(v: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  for (const obj of v === undefined ? [] : Array.isArray(v) ? v : [v]) {
    for (const a of obj.value ?? []) {
      for (const m of a.group ? a.group.map((g) => ({ name: g.name ?? '', address: g.address ?? '', group: a.name ?? '' })) : [{ name: a.name ?? '', address: a.address ?? '', group: null }]) {
        if (out.length >= MAX_ADDRESSES_PER_HEADER) return out;
        out.push(m);
      }
    }
  }
  return out;
}

/** Header bytes were read as latin1 (one char per byte); show them as UTF-8 when they are (RFC 6532). */
function headerText(value: string): string {
  if (!/[\x80-\xff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  // Validated first, so one shared decoder serves every call and no error is built for non-UTF-8 bytes.
  return isUtf8(bytes) ? UTF8.decode(bytes) : value;
}

const UTF8 = new TextDecoder('utf-8');

/** The top-level fields by lower-cased name, in order: built once, read for each field the section keeps. */
function byName(fields: HeaderField[]): Map<string, HeaderField[]> {
  const out = new Map<string, HeaderField[]>();
  for (const f of fields) {
    const name = f.name.toLowerCase();
    const list = out.get(name);
    if (list) list.push(f);
    else out.set(name, [f]);
  }
  return out;
}

function fieldValues(fields: Map<string, HeaderField[]>, name: string): string[] {
  return (fields.get(name) ?? []).map((f) => headerText(f.value).trim());
}

const URL_RE = /\b(?:(?:https?|ftp):\/\/|www\.)[^\s<>"'`{}|\\^\u0000-\u001f\u007f]+/gi;
const ATTR_URL_RE = /\b(?:href|src|action)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;

const TRAILING_PUNCTUATION = new Set([')', '.', ',', ';', ':', '!', '?', ']']);

/**
 * Sentence punctuation after a URL is not part of it. A loop from the end: the regex it replaces,
 * `/[).,;:!?\]]+$/`, is quadratic on a long run of such characters followed by another one (a URL of
 * 160,000 `!` and an `x` took 23 s; the text keeps 256 K characters, the HTML 512 K).
 */
export function trimTrailingPunctuation(url: string): string {
  let end = url.length;
  while (end > 0 && TRAILING_PUNCTUATION.has(url[end - 1]!)) end--;
  return url.slice(0, end);
}

/** URLs from the text and the HTML's href/src/action attributes, distinct, in order; hand-written regexes, bounded. */
export function extractUrls(text: string, html: string, max: number): string[] {
  const seen = new Set<string>();
  const add = (u: string) => {
    const url = trimTrailingPunctuation(u.replace(/&amp;/g, '&'));
    if (url.length > 4 && url.length <= 2048 && /^(?:(?:https?|ftp):\/\/|www\.)/i.test(url)) seen.add(url);
  };
  for (const m of html.matchAll(ATTR_URL_RE)) { if (seen.size >= max) break; add((m[1] ?? m[2] ?? m[3] ?? '').trim()); }
  for (const src of [text, html]) {
    for (const m of src.matchAll(URL_RE)) { if (seen.size >= max) break; add(m[0]); }
  }
  return [...seen].slice(0, max);
}

function allAttachments(r: ParsedWithTree): ParsedMail['attachments'] {
  const out: ParsedMail['attachments'] = [];
  r.mail.attachments.forEach((a, i) => {
    out.push(a);
    const inner = r.embedded.get(i);
    if (inner) out.push(...allAttachments(inner));
  });
  return out;
}

/**
 * The message has an HTML body and no text body with anything in it, whatever the container
 * (text/html at the top, multipart/mixed with attachments, multipart/related, an empty text/plain
 * beside the HTML): mailparser then renders the HTML as the `text`, so a reader of `text` alone
 * cannot tell. Read off mailparser's part tree (the inline text/plain parts it took as text); without
 * a tree (a limit kept the body out, the parse failed) off the structure scan's part types.
 */
function htmlOnlyBody(full: ParsedWithTree | null, structure: Structure): boolean {
  if (!full) return !structure.parts.some((p) => p.contentType === 'text/plain');
  const stack: MailTreeNode[] = [full.tree];
  // The tree is bounded by the structure scan's limits (MIME_MAX_PARTS, MIME_MAX_DEPTH); a stack, not recursion.
  while (stack.length) {
    const node = stack.pop()!;
    if ((node.contentType === 'text/plain' || node.contentType === 'message/delivery-status') && typeof node.textContent === 'string' && /\S/.test(node.textContent)) return false;
    if (node.children) stack.push(...node.children);
  }
  return true;
}

function cut(s: string | null | undefined, max: number): { value: string | null; truncated: boolean } {
  if (s === undefined || s === null || s === '') return { value: null, truncated: false };
  return s.length > max ? { value: s.slice(0, max), truncated: true } : { value: s, truncated: false };
}

export interface MimeAnalysis {
  section: MimeSection;
  /** mailparser's part tree of the message, null when the parse failed or a limit kept the body out. */
  parsed: ParsedWithTree | null;
  /** The decoded bytes of each attachment described in `section.attachments`, same order (the ClamAV attribution scans them). */
  contents: Buffer[];
}

export async function parseMime(raw: Buffer, opts: ParseOptions = {}): Promise<MimeSection> {
  return (await analyseMime(raw, opts)).section;
}

/** parseMime, also handing back mailparser's tree (the corpus round trip compares it). */
export async function analyseMime(raw: Buffer, opts: ParseOptions = {}): Promise<MimeAnalysis> {
  const analysis = await analyseContent(raw, opts);
  if (opts.clamd) await scanMime(analysis.section, raw, analysis.contents, opts.clamd, opts.signal);
  return analysis;
}

/**
 * The ClamAV scan of a parsed message, in place: the whole message by INSTREAM (clamd decodes MIME
 * itself); when it is infected, each attachment (`contents`, as analyseMime describes them) to
 * attribute the signature. Network only, no parsing: the stage runs it on the main thread also for
 * messages parsed in a worker (service.ts).
 */
export async function scanMime(section: MimeSection, raw: Buffer, contents: Buffer[], clamd: { address: ClamdAddress; timeoutMs: number }, signal?: AbortSignal): Promise<void> {
  const r = await clamdScan(clamd.address, raw, clamd.timeoutMs, signal);
  section.scan = { engine: 'clamd', result: r.result, detail: r.detail };
  if (r.result !== 'infected') return;
  // First, as when the tag was set before the others.
  section.tags = ['virus', ...section.tags.filter((t) => t !== 'virus')];
  // Attribute the signature to the attachments that carry it.
  const { attachments } = section;
  for (let i = 0; i < attachments.length; i++) {
    const one = await clamdScan(clamd.address, contents[i]!, clamd.timeoutMs, signal);
    if (one.result === 'infected') {
      attachments[i]!.virus = one.detail;
      attachments[i]!.flags = [...attachments[i]!.flags, 'virus'];
    }
  }
  section.attachmentFlags = [...new Set(attachments.flatMap((a) => a.flags))];
}

/** Everything but the ClamAV scan: the part of the work whose cost a sender controls (parse-worker.ts runs it in a worker). */
export async function analyseContent(raw: Buffer, opts: Omit<ParseOptions, 'clamd' | 'signal'> = {}): Promise<MimeAnalysis> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const structure: Structure = scanStructure(raw, limits);
  const options = { ...MAILPARSER_OPTIONS, maxHtmlLengthToParse: limits.maxHtmlToTextBytes };
  const defects = [...structure.defects];
  const tags = new Set<string>();
  let parsed: ParsedMail | undefined;
  let full: ParsedWithTree | null = null;
  let parseFailed = false;
  try {
    // Past a limit only the header is decoded: the walk stopped, and so must the parser.
    const budget = { depth: limits.maxDepth, left: { messages: limits.maxAttachments } };
    const r = await parseMail(structure.limitsExceeded ? raw.subarray(0, Math.min(raw.length, structure.headerBytes, limits.maxHeaderBytes)) : raw, budget, options);
    parsed = r.mail;
    if (!structure.limitsExceeded) full = r;
  } catch (e) {
    parseFailed = true;
    defects.push({ code: 'parse-failed', part: '', detail: (e as Error).message.slice(0, 300) });
    parsed = (await parseMail(raw.subarray(0, Math.min(raw.length, structure.headerBytes, limits.maxHeaderBytes)), undefined, options).catch(() => undefined))?.mail;
  }
  const h = byName(structure.headers);
  const dateRaw = fieldValues(h, 'date')[0] ?? null;
  const dateParsed = parsed?.date && !Number.isNaN(parsed.date.getTime()) ? parsed.date.getTime() : null;
  if (dateRaw && dateParsed === null) defects.push({ code: 'invalid-date', part: '', detail: dateRaw.slice(0, 100) });
  const list: Record<string, string> = {};
  for (const [name, fields] of h) if (name.startsWith('list-')) list[name] = headerText(fields[0]!.value).trim();

  const text = cut(typeof parsed?.text === 'string' ? parsed.text : null, limits.maxTextChars);
  const html = cut(typeof parsed?.html === 'string' ? parsed.html : null, limits.maxHtmlChars);
  const checks = opts.contentChecks !== false;
  const urls = checks ? extractUrls(text.value ?? '', html.value ?? '', limits.maxUrls) : [];

  const languages: string[] = [];
  for (const v of fieldValues(h, 'content-language')) for (const l of v.split(',')) { const t = l.trim().toLowerCase(); if (t && !languages.includes(t)) languages.push(t); }
  const sample = opts.guessLanguage === false ? '' : languageSample(text.value ?? '');
  if (sample.trim().length >= 80) {
    const guess = GUESSER.guess(sample);
    if (guess !== 'und' && !languages.includes(guess)) languages.push(guess);
  }

  const attachments: MimeAttachment[] = [];
  // Attachments of attached messages too: a forwarded .eml must not carry an executable past the policy.
  const parts = full ? allAttachments(full) : parsed?.attachments ?? [];
  if (parts.length > limits.maxAttachments) defects.push({ code: 'too-many-attachments', part: '', detail: `${parts.length}, described ${limits.maxAttachments}` });
  for (const a of parts.slice(0, limits.maxAttachments)) {
    const input = { filename: a.filename ?? null, contentType: a.contentType, disposition: a.contentDisposition ?? null, content: a.content };
    attachments.push(checks ? await describeAttachment(input) : identifyAttachment(input));
  }

  const attachmentFlags = [...new Set(attachments.flatMap((a) => a.flags))];
  if (text.value) tags.add('has-text');
  if (html.value) tags.add('has-html');
  if (html.value && htmlOnlyBody(full, structure)) tags.add('html-only');
  if (attachments.length) tags.add('has-attachments');
  if (defects.length) tags.add('has-defects');
  if (structure.utf8Headers) tags.add('utf8-headers');
  if (structure.encodedWords) tags.add('encoded-headers');
  // No 'dangerous-attachment' tag any more: which flags are dangerous is the policy file's to say (the
  // attachments group of MIME_* symbols), not a second list here.
  if (parseFailed) tags.add('parse-failed');
  if (structure.limitsExceeded) tags.add('limits-exceeded');
  if (text.truncated || html.truncated) tags.add('truncated');

  const section: MimeSection = {
    stageVersion: STAGE_VERSION,
    parsedAt: (opts.now ?? Date.now)(),
    tags: [...tags],
    headers: {
      from: toAddresses(parsed?.from),
      sender: toAddresses(parsed?.headers.get('sender') as AddressObject | undefined),
      replyTo: toAddresses(parsed?.replyTo),
      to: toAddresses(parsed?.to),
      cc: toAddresses(parsed?.cc),
      subject: parsed?.subject ?? (fieldValues(h, 'subject')[0] ?? null),
      date: dateRaw,
      dateParsed,
      messageId: parsed?.messageId ?? (fieldValues(h, 'message-id')[0] ?? null),
      inReplyTo: parsed?.inReplyTo ?? null,
      returnPath: fieldValues(h, 'return-path')[0] ?? null,
      list,
      received: fieldValues(h, 'received').slice(0, 100),
      authenticationResults: fieldValues(h, 'authentication-results').slice(0, 50),
      count: structure.headers.length,
      bytes: structure.headerBytes,
    },
    text: text.value,
    html: html.value,
    textTruncated: text.truncated,
    htmlTruncated: html.truncated,
    urls,
    languages,
    charsets: structure.charsets,
    parts: structure.parts.length,
    depth: structure.depth,
    defects: defects.slice(0, 200),
    attachments,
    attachmentFlags,
    scan: null,
  };
  return { section, parsed: full, contents: parts.slice(0, limits.maxAttachments).map((a) => a.content) };
}
