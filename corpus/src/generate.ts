/**
 * The generator: (seed, index) → a message model. Structurally varied and valid: nested
 * multiparts (mixed, alternative, related, digest, report, signed, unknown subtypes),
 * message/rfc822 and message/global parts, every transfer encoding, RFC 2047 words in many
 * charsets, RFC 2231 parameters with continuations, RFC 6532 UTF-8 headers, folded headers,
 * groups and comments, attachments of many types, and the limits (998-byte lines, nesting to
 * `maxDepth`, many parts, many header fields).
 *
 * Determinism: every choice comes from the message's own stream (random.ts); nothing reads the
 * clock or Math.random. Changing any choice changes the corpus: bump GENERATOR_VERSION then.
 */
import { CHARSETS, encodeText, repertoire, writtenLabel, type Charset } from './charsets.ts';
import { charBytes, encodeMessage, formatDate as dateText, type Encoded } from './encode.ts';
import type { Address, DateValue, Entity, Field, Generated, Group, Mailbox, Param, Phrase, Word, WordEncoding } from './model.ts';
import { Rng, rngFor } from './random.ts';
import { alnum, asciiWord, domain, localPart, nativeWord, punctWord } from './words.ts';

export const GENERATOR_VERSION = '1.0.0';

export interface GenerateOptions {
  /** Deepest entity nesting (the top-level message is depth 0); the parser's limit. */
  maxDepth: number;
}

export const DEFAULT_OPTIONS: GenerateOptions = { maxDepth: 20 };

/** Most entities in one message (bodies, containers, embedded messages). */
const MAX_ENTITIES = 150;

interface Ctx {
  rng: Rng;
  opts: GenerateOptions;
  features: Set<string>;
  boundaries: string[];
  entities: number;
}

const CRLF = '\r\n';
const cap = (w: string) => (w ? w[0]!.toUpperCase() + w.slice(1) : w);

/** The charsets by weight, built once (rebuilding the list for every pick showed in profiles). */
const CHARSET_WEIGHTS = CHARSETS.map((c) => [c.weight, c] as const);

function pickCharset(rng: Rng): Charset {
  return rng.weighted(CHARSET_WEIGHTS);
}

/** A name as real mail varies it: `Content-Type`, `Content-type`, `CONTENT-TYPE`, … */
function fieldName(ctx: Ctx, name: string): string {
  if (!ctx.rng.chance(0.05)) return name;
  return ctx.rng.pick([name.toLowerCase(), name.toUpperCase(), name[0] + name.slice(1).toLowerCase()]);
}

function field(ctx: Ctx, name: string, value: Field['value']): Field {
  const f: Field = { name: fieldName(ctx, name), value };
  if (ctx.rng.chance(0.02)) f.tight = true;
  return f;
}

// ---------------------------------------------------------------- header text

type TextMode = 'ascii' | 'encoded' | 'mixed' | 'utf8';

function wordEncoding(ctx: Ctx, cs: Charset): WordEncoding {
  ctx.features.add('encoded-words');
  if (cs.multibyte && cs.label !== 'UTF-8') ctx.features.add('multibyte-charset');
  return { charset: writtenLabel(cs.label, ctx.rng.int(0, 7)), method: ctx.rng.chance(0.5) ? 'B' : 'Q' };
}

const RAW_TOKENS = ['Re:', 'Fwd:', '[list]', '50%', '#123', '(draft)', '&', '-', '...', 'a/b', '!!!', "it's", '$9.99', '=', '?', '2024-01-31', '"quoted"', '@home', 'v1.2.3'];

function textMode(ctx: Ctx, utf8: boolean): TextMode {
  return ctx.rng.weighted<TextMode>([[45, 'ascii'], [30, 'encoded'], [15, 'mixed'], [utf8 ? 12 : 0, 'utf8']]);
}

/**
 * Words of header text. `atext`: only atoms may be written raw (display names); otherwise any
 * printable ASCII token may. Raw words never contain `=?`, so they cannot be taken for encoded words.
 */
function headerWords(ctx: Ctx, n: number, mode: TextMode, atext: boolean): Word[] {
  const { rng } = ctx;
  const words: Word[] = [];
  const cs = pickCharset(rng);
  const enc = mode === 'encoded' || mode === 'mixed' ? wordEncoding(ctx, cs) : null;
  const enc2 = mode === 'mixed' && rng.chance(0.3) ? wordEncoding(ctx, pickCharset(rng)) : enc;
  if (mode === 'utf8') ctx.features.add('utf8-headers');
  for (let i = 0; i < n; i++) {
    const r = rng.next() / 0x1_0000_0000;
    if (mode === 'ascii' || (mode === 'mixed' && r < 0.5)) {
      words.push({ text: !atext && r < 0.1 ? rng.pick(RAW_TOKENS) : rng.chance(0.3) ? cap(asciiWord(rng)) : asciiWord(rng), enc: null });
    } else if (mode === 'utf8') {
      words.push({ text: r < 0.6 ? nativeWord(rng, 'UTF-8').replace(/[^\p{L}\p{N}]/gu, 'x') : asciiWord(rng), enc: null });
    } else {
      const e = mode === 'mixed' && r > 0.8 ? enc2! : enc!;
      const text = r < 0.55 ? nativeWord(rng, e.charset) : r < 0.85 ? asciiWord(rng) : punctWord(rng);
      words.push({ text, enc: e });
    }
  }
  return words;
}

function subject(ctx: Ctx, utf8: boolean): Word[] {
  const long = ctx.rng.chance(0.03);
  if (long) ctx.features.add('folded');
  return headerWords(ctx, long ? ctx.rng.int(20, 80) : ctx.rng.int(0, 12), textMode(ctx, utf8), false);
}

// ---------------------------------------------------------------- addresses

function phrase(ctx: Ctx, utf8: boolean): Phrase {
  const { rng } = ctx;
  const n = rng.int(1, 3);
  const style = rng.weighted<string>([[35, 'atoms'], [20, 'quoted'], [30, 'encoded'], [utf8 ? 10 : 0, 'quoted-utf8'], [utf8 ? 5 : 0, 'atoms-utf8']]);
  switch (style) {
    case 'atoms':
      return { style: 'atoms', words: Array.from({ length: n }, () => ({ text: cap(asciiWord(rng)), enc: null })) };
    case 'quoted': {
      const specials = [',', '.', '@', '(', ')', '"', '\\', ':', ';', '<', '>', '[', ']'];
      const words = Array.from({ length: n }, () => ({ text: cap(asciiWord(rng)), enc: null }));
      const w = words[rng.int(0, words.length - 1)]!;
      w.text = rng.chance(0.5) ? w.text + rng.pick(specials) : rng.pick(specials) + w.text;
      return { style: 'quoted', words };
    }
    case 'quoted-utf8':
    case 'atoms-utf8':
      ctx.features.add('utf8-headers');
      return {
        style: style === 'quoted-utf8' ? 'quoted' : 'atoms',
        words: Array.from({ length: n }, () => ({ text: nativeWord(rng, 'UTF-8').replace(/[^\p{L}\p{N}]/gu, 'x'), enc: null })),
      };
    default:
      return { style: 'atoms', words: headerWords(ctx, n, rng.chance(0.7) ? 'encoded' : 'mixed', true) };
  }
}

function mailbox(ctx: Ctx, utf8: boolean): Mailbox {
  const { rng } = ctx;
  const named = rng.chance(0.65);
  const utf8Addr = utf8 && rng.chance(0.3);
  if (utf8Addr) ctx.features.add('utf8-headers');
  let dom = rng.chance(0.01) ? `[192.0.2.${rng.int(1, 254)}]` : domain(rng, utf8Addr);
  if (/[^\x00-\x7f]/.test(dom)) ctx.features.add('idn');
  if (rng.chance(0.03) && !dom.startsWith('[')) dom = dom.replace(/^./, (c) => c.toUpperCase()).replace(/\.([a-z]+)$/, (m) => m.toUpperCase());
  const quoted = rng.chance(0.02);
  if (quoted) ctx.features.add('quoted-local');
  const comment = rng.chance(0.04) ? `${cap(asciiWord(rng))} ${asciiWord(rng)}` : null;
  if (comment) ctx.features.add('comment');
  return {
    kind: 'mailbox',
    name: named ? phrase(ctx, utf8) : null,
    local: quoted ? rng.pick([`${asciiWord(rng)} ${asciiWord(rng)}`, `${asciiWord(rng)}..${asciiWord(rng)}`, `${asciiWord(rng)}@home`]) : localPart(rng, utf8Addr),
    localQuoted: quoted,
    domain: dom,
    angle: !named && rng.chance(0.15),
    comment,
  };
}

function addressList(ctx: Ctx, n: number, utf8: boolean, groups: boolean): Address[] {
  const out: Address[] = [];
  for (let i = 0; i < n; i++) {
    if (groups && ctx.rng.chance(0.06)) {
      ctx.features.add('group');
      const g: Group = { kind: 'group', name: phrase(ctx, utf8), members: Array.from({ length: ctx.rng.int(0, 3) }, () => mailbox(ctx, utf8)) };
      out.push(g);
    } else out.push(mailbox(ctx, utf8));
  }
  return out;
}

// ---------------------------------------------------------------- other header values

const OFFSETS = [0, 0, 60, 120, -300, -240, -420, -480, 330, 345, 540, 480, 600, -210, 180, 780, 840, -600, -720, 720, 200 - 20];

function dateValue(ctx: Ctx): DateValue {
  const { rng } = ctx;
  const seconds = rng.chance(0.9);
  let epoch = Date.UTC(1995, 0, 1) / 1000 + rng.int(0, 41 * 365 * 86400);
  if (!seconds) epoch -= epoch % 60;
  return {
    epochMs: epoch * 1000,
    offsetMinutes: rng.pick(OFFSETS),
    dayName: rng.chance(0.85),
    seconds,
    comment: rng.chance(0.05) ? rng.pick(['UTC', 'CET', 'EST', 'PDT', 'JST']) : null,
    padDay: rng.chance(0.3),
  };
}

function messageId(ctx: Ctx): string {
  const { rng } = ctx;
  return `${alnum(rng, rng.int(6, 24))}${rng.chance(0.5) ? '.' + rng.int(0, 99999) : ''}${rng.chance(0.2) ? '$' + alnum(rng, 4) : ''}@${domain(rng, false)}`;
}

function received(ctx: Ctx): Field {
  const { rng } = ctx;
  const host = `${rng.pick(['mx', 'smtp', 'relay'])}${rng.int(1, 9)}.${domain(rng, false)}`;
  const segs = ['from', `${alnum(rng, 5).toLowerCase()}.example.net`, `(${alnum(rng, 5).toLowerCase()}.example.net`, `[192.0.2.${rng.int(1, 254)}])`, 'by', host, '(Postfix)', 'with', rng.pick(['ESMTP', 'ESMTPS', 'SMTP', 'LMTP']), 'id', alnum(rng, 10), 'for', `<${localPart(rng, false)}@${domain(rng, false)}>;`];
  const d = dateValue(ctx);
  d.dayName = true;
  d.seconds = true;
  return field(ctx, 'Received', { kind: 'raw', segments: [...segs, ...formatDateSegs(d)] });
}

/** Same writer as Date fields, so a Received date is as valid as a Date. */
function formatDateSegs(d: DateValue): string[] {
  return dateText(d).split(' ');
}

// ---------------------------------------------------------------- parameters

function paramStyleFor(ctx: Ctx, value: string): Param['style'] {
  const { rng } = ctx;
  const ascii = !/[^\x20-\x7e]/.test(value);
  const token = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/.test(value);
  if (!ascii) {
    ctx.features.add('rfc2231');
    const s = rng.chance(value.length > 30 ? 0.6 : 0.25) ? 'extcont' : 'ext';
    if (s === 'extcont') ctx.features.add('rfc2231-continuation');
    return s;
  }
  const long = value.length > 40;
  const style = rng.weighted<Param['style']>([[token ? 30 : 0, 'token'], [50, 'quoted'], [long ? 30 : 5, 'cont'], [5, 'ext'], [long ? 10 : 2, 'extcont']]);
  if (style === 'cont' || style === 'extcont') ctx.features.add('rfc2231-continuation');
  if (style === 'ext') ctx.features.add('rfc2231');
  return style;
}

function param(ctx: Ctx, name: string, value: string, charset?: string): Param {
  const { rng } = ctx;
  const style = paramStyleFor(ctx, value);
  const ext = style === 'ext' || style === 'extcont';
  return {
    name: rng.chance(0.03) ? name.toUpperCase() : name,
    value,
    style,
    charset: ext ? writtenLabel(charset ?? 'UTF-8', rng.int(0, 7)) : null,
    language: ext && rng.chance(0.2) ? rng.pick(['en', 'de', 'ja', 'en-US', 'fr']) : null,
    segment: rng.int(8, 60),
  };
}

const tokenParam = (name: string, value: string): Param => ({ name, value, style: 'token', charset: null, language: null, segment: 0 });
const quotedParam = (name: string, value: string): Param => ({ name, value, style: 'quoted', charset: null, language: null, segment: 0 });

function filename(ctx: Ctx, ext: string): { value: string; charset: string } {
  const { rng } = ctx;
  switch (rng.int(0, 9)) {
    case 0:
    case 1:
    case 2:
      return { value: `${asciiWord(rng)}-${rng.int(1, 9999)}.${ext}`, charset: 'UTF-8' };
    case 3:
    case 4:
      return { value: `${cap(asciiWord(rng))} ${asciiWord(rng)} (${rng.int(1, 9)}) [copy]; final.${ext}`, charset: 'UTF-8' };
    case 5: {
      const long = Array.from({ length: rng.int(8, 30) }, () => asciiWord(rng)).join('_');
      ctx.features.add('long-filename');
      return { value: `${long}.${ext}`, charset: 'UTF-8' };
    }
    default: {
      const cs = pickCharset(rng);
      const label = repertoire(cs.label).length ? cs.label : 'UTF-8';
      const words = Array.from({ length: rng.int(1, rng.chance(0.2) ? 12 : 3) }, () => nativeWord(rng, label).replace(/[\\"]/g, ''));
      return { value: `${words.join(' ')}.${ext}`, charset: label };
    }
  }
}

// ---------------------------------------------------------------- entities

function newBoundary(ctx: Ctx): string {
  const { rng } = ctx;
  for (;;) {
    let b: string;
    switch (rng.weighted<number>([[40, 0], [30, 1], [15, 2], [5, 3], [5, 4], [5, 5]])) {
      case 0:
        b = `----=_Part_${rng.int(0, 99999)}_${alnum(rng, 10)}.${rng.int(1e9, 2e9)}`;
        break;
      case 1:
        b = alnum(rng, rng.int(16, 40));
        break;
      case 2:
        b = `${alnum(rng, 6)}'()+_,-./:=? ${alnum(rng, 8)}`;
        break;
      case 3: // the longest allowed
        b = alnum(rng, 8) + rng.pick(['=', '_', '-', '.']) + alnum(rng, 61);
        ctx.features.add('long-boundary');
        break;
      case 4:
        b = alnum(rng, rng.int(1, 4));
        break;
      default:
        b = `=_${alnum(rng, 20)}`.replace(/^=/, 'b');
    }
    // No boundary of a message may be a prefix of another: delimiters match lines by prefix.
    if (!ctx.boundaries.some((o) => o.startsWith(b) || b.startsWith(o))) {
      ctx.boundaries.push(b);
      return b;
    }
  }
}

function entity(ctx: Ctx, type: string, subtype: string, body: Entity['body'], params: Param[] = []): Entity {
  ctx.entities++;
  const { rng } = ctx;
  const vary = rng.chance(0.04);
  return {
    fields: [],
    type: vary ? cap(type) : type,
    subtype: vary ? cap(subtype) : subtype,
    declared: true,
    params,
    typeComment: rng.chance(0.01) ? `${asciiWord(rng)} ${asciiWord(rng)}` : null,
    disposition: null,
    cte: null,
    body,
  };
}

const nonAscii = (s: string) => /[^\x00-\x7f]/.test(s);
const rawWords8 = (words: Word[]) => words.some((w) => !w.enc && nonAscii(w.text));
const mailbox8 = (m: Mailbox) => (m.name !== null && rawWords8(m.name.words)) || nonAscii(m.local) || nonAscii(m.domain) || (m.comment !== null && nonAscii(m.comment));

/** Header fields written with raw 8-bit bytes (RFC 6532). */
function fields8(fields: Field[]): boolean {
  return fields.some((f) => {
    const v = f.value;
    if (v.kind === 'text') return rawWords8(v.words);
    if (v.kind === 'address') return v.list.some((a) => (a.kind === 'mailbox' ? mailbox8(a) : rawWords8(a.name.words) || a.members.some(mailbox8)));
    if (v.kind === 'raw') return v.segments.some(nonAscii);
    return false;
  });
}

/** 0: 7-bit, 1: 8-bit, 2: binary — of the entity's bytes, its header included. */
function eightBit(e: Entity): number {
  let level = fields8(e.fields) ? 1 : 0;
  for (const p of [...e.params, ...(e.disposition?.params ?? [])]) if ((p.style === 'quoted' || p.style === 'token') && /[^\x00-\x7f]/.test(p.value)) level = 1;
  const b = e.body;
  if (b.kind === 'leaf') {
    const cte = (e.cte ?? '7bit').toLowerCase();
    if (cte === 'binary') level = 2;
    else if (cte === '8bit' && b.data.some((x) => x >= 0x80)) level = Math.max(level, 1);
  } else if (b.kind === 'multipart') {
    for (const p of b.parts) level = Math.max(level, eightBit(p));
  } else level = Math.max(level, eightBit(b.message));
  return level;
}

/** The Content-Transfer-Encoding a container must declare for what it holds (RFC 2045 6.4). */
function containerCte(ctx: Ctx, e: Entity): void {
  const level = eightBit({ ...e, fields: [] });
  const { rng } = ctx;
  if (level === 2) e.cte = rng.chance(0.9) ? 'binary' : 'BINARY';
  else if (level === 1) e.cte = rng.chance(0.9) ? '8bit' : '8BIT';
  else e.cte = rng.chance(0.8) ? null : rng.pick(['7bit', '7BIT', '7Bit']);
}

/** The Content-* fields of an entity (and any extra fields), in a usual order, shuffled now and then. */
function contentFields(ctx: Ctx, e: Entity, extra: Field[] = []): Field[] {
  const { rng } = ctx;
  const fields: Field[] = [];
  if (e.declared) fields.push(field(ctx, rng.chance(0.3) ? 'Content-type' : 'Content-Type', { kind: 'content-type' }));
  if (e.cte !== null) fields.push(field(ctx, 'Content-Transfer-Encoding', { kind: 'content-transfer-encoding' }));
  if (e.disposition) fields.push(field(ctx, 'Content-Disposition', { kind: 'content-disposition' }));
  fields.push(...extra);
  if (rng.chance(0.05)) fields.push(field(ctx, 'Content-Description', { kind: 'text', words: headerWords(ctx, rng.int(1, 6), textMode(ctx, false), false) }));
  if (rng.chance(0.03)) fields.push(field(ctx, 'Content-Language', { kind: 'raw', segments: [rng.pick(['en', 'de-DE', 'ja', 'fr, en'])] }));
  if (rng.chance(0.1)) for (let i = fields.length - 1; i > 0; i--) { const j = rng.int(0, i); [fields[i], fields[j]] = [fields[j]!, fields[i]!]; }
  return fields;
}

interface TextOptions {
  /** Written with 7bit/8bit/binary (lines ≤ 998 bytes, CRLF only) rather than quoted-printable/base64. */
  raw: boolean;
  /** Bytes the caller adds to each line (`<p>…</p>` for HTML), kept off the 998-byte limit. */
  reserve: number;
}

/** Body text in `cs`: paragraphs of words, CRLF line ends, and now and then the awkward lines. */
function bodyText(ctx: Ctx, cs: Charset, opts: TextOptions): string {
  const { rng } = ctx;
  const native = cs.label !== 'US-ASCII';
  const lines: string[] = [];
  const n = rng.skewed(1, 12);
  for (let i = 0; i < n; i++) {
    const r = rng.next() / 0x1_0000_0000;
    if (r < 0.08) { lines.push(''); continue; }
    if (r < 0.1) { lines.push(rng.pick(['-- ', '.', 'From the desk of the editor', '>From here', '> quoted line', '=', '=?utf-8?Q?not_a_word?=', 'a=3D b', '  indented', '\tindented with a tab'])); continue; }
    const words: string[] = [];
    const k = rng.int(1, 10);
    for (let j = 0; j < k; j++) words.push(native && rng.chance(0.6) ? nativeWord(rng, cs.label) : rng.chance(0.05) ? punctWord(rng).replace(/^-+/, '') || 'x' : asciiWord(rng));
    let line = words.join(' ');
    if (!opts.raw && rng.chance(0.05)) line += rng.pick([' ', '  ', '\t', ' \t']);
    lines.push(line);
  }
  if (opts.raw && rng.chance(0.01)) {
    ctx.features.add('line-998');
    lines.push(lineOfBytes(rng, cs, 998 - opts.reserve));
  } else if (!opts.raw && rng.chance(0.02)) {
    ctx.features.add('long-line');
    lines.push(lineOfBytes(rng, cs, rng.int(999, 3000)));
  }
  let text = lines.join(CRLF);
  if (rng.chance(0.88)) text += CRLF;
  else ctx.features.add('no-final-newline');
  return text;
}

/** A line of exactly `n` bytes in `cs`, no trailing whitespace. */
function lineOfBytes(rng: Rng, cs: Charset, n: number): string {
  let line = '';
  let bytes = 0;
  const rep = repertoire(cs.label);
  while (bytes < n - 8) {
    const ch = rep.length && rng.chance(0.3) ? rng.pick(rep) : rng.chance(0.15) ? ' ' : String.fromCharCode(rng.int(97, 122));
    const b = charBytes(ch, cs.label).length;
    if (ch === ' ' && (line.endsWith(' ') || line === '')) continue;
    line += ch;
    bytes += b;
  }
  while (bytes < n) { line += 'x'; bytes++; }
  return line;
}

function html(text: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const paras = text.split(CRLF).map((l) => (l ? `<p>${esc(l)}</p>` : '<br>'));
  return ['<html><head><title>message</title></head><body>', ...paras, '</body></html>', ''].join(CRLF);
}

type Cte = string | null;

function leafCte(ctx: Ctx, ascii: boolean, raw: boolean): Cte {
  const { rng } = ctx;
  let cte: Cte;
  if (raw) cte = ascii ? rng.weighted<Cte>([[40, null], [35, '7bit'], [15, '8bit'], [10, 'binary']]) : rng.weighted<Cte>([[85, '8bit'], [15, 'binary']]);
  else cte = rng.chance(0.5) ? 'quoted-printable' : 'base64';
  if (cte && rng.chance(0.08)) cte = rng.chance(0.5) ? cte.toUpperCase() : cap(cte);
  if (cte) ctx.features.add(cte.toLowerCase());
  return cte;
}

function lineLength(ctx: Ctx, cte: Cte): number {
  if ((cte ?? '').toLowerCase() === 'base64') return ctx.rng.weighted<number>([[85, 76], [5, 72], [5, 64], [2, 4], [3, 75]]);
  return ctx.rng.weighted<number>([[90, 76], [5, 40], [5, 10]]);
}

interface TextLeafOptions {
  subtype?: string;
  disposition?: 'inline' | 'attachment' | null;
  utf8Only?: boolean;
}

function textLeaf(ctx: Ctx, o: TextLeafOptions = {}): Entity {
  const { rng } = ctx;
  const subtype = o.subtype ?? 'plain';
  const declareCharset = rng.chance(0.92);
  const cs = o.utf8Only ? CHARSETS[0]! : declareCharset ? pickCharset(rng) : CHARSETS.find((c) => c.label === 'US-ASCII')!;
  const raw = rng.chance(0.45);
  let text = bodyText(ctx, cs, { raw, reserve: subtype === 'html' ? 7 : 0 });
  if (subtype === 'html') text = html(text);
  if (rng.chance(0.01)) { text = ''; ctx.features.add('empty-body'); }
  const data = encodeText(text, cs.label);
  const ascii = !data.some((b) => b >= 0x80);
  const cte = leafCte(ctx, ascii, raw);
  const params: Param[] = [];
  if (declareCharset || o.utf8Only) params.push(rng.chance(0.9) ? tokenParam('charset', writtenLabel(cs.label, rng.int(0, 7))) : quotedParam('charset', writtenLabel(cs.label, rng.int(0, 7))));
  if (cs.multibyte && cs.label !== 'UTF-8') ctx.features.add('multibyte-charset');
  const e = entity(ctx, 'text', subtype, { kind: 'leaf', data, text, lineLength: lineLength(ctx, cte) }, params);
  e.cte = cte;
  // Without a charset the text is US-ASCII, so the whole Content-Type may go (text/plain is the default).
  if (!declareCharset && !o.utf8Only && subtype === 'plain' && rng.chance(0.5)) e.declared = false;
  const disp = o.disposition !== undefined ? o.disposition : rng.weighted<'inline' | 'attachment' | null>([[80, null], [15, 'inline'], [5, 'attachment']]);
  if (disp === 'attachment') {
    e.declared = true;
    const f = filename(ctx, subtype === 'html' ? 'html' : 'txt');
    e.disposition = { type: disp, params: [param(ctx, 'filename', f.value, f.charset)] };
  } else if (disp) e.disposition = { type: rng.chance(0.9) ? disp : disp.toUpperCase(), params: [] };
  e.fields = contentFields(ctx, e);
  return e;
}

const ATTACHMENTS: readonly [string, string, string, number[]][] = [
  ['application', 'pdf', 'pdf', [0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x34]],
  ['application', 'zip', 'zip', [0x50, 0x4b, 0x03, 0x04]],
  ['application', 'octet-stream', 'bin', []],
  ['application', 'vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx', [0x50, 0x4b, 0x03, 0x04]],
  ['application', 'vnd.ms-excel', 'xls', [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]],
  ['application', 'gzip', 'gz', [0x1f, 0x8b, 0x08]],
  ['image', 'png', 'png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['image', 'jpeg', 'jpg', [0xff, 0xd8, 0xff, 0xe0]],
  ['image', 'gif', 'gif', [0x47, 0x49, 0x46, 0x38, 0x39, 0x61]],
  ['audio', 'mpeg', 'mp3', [0x49, 0x44, 0x33, 0x03]],
  ['video', 'mp4', 'mp4', [0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70]],
  ['font', 'woff2', 'woff2', [0x77, 0x4f, 0x46, 0x32]],
  ['application', 'x-unknown-type', 'dat', []],
];

const TEXT_ATTACHMENTS: readonly [string, string, string][] = [
  ['text', 'csv', 'csv'], ['text', 'calendar', 'ics'], ['application', 'json', 'json'], ['text', 'xml', 'xml'], ['text', 'markdown', 'md'], ['text', 'x-diff', 'patch'],
];

function binaryLeaf(ctx: Ctx, forImage = false): Entity {
  const { rng } = ctx;
  const kinds = forImage ? ATTACHMENTS.filter((a) => a[0] === 'image') : ATTACHMENTS;
  const [type, subtype, ext, magic] = rng.pick(kinds);
  const size = rng.weighted<number>([[2, 0], [3, rng.int(1, 3)], [94, rng.skewed(8, 1200)], [1, rng.int(1200, 16000)]]);
  if (size === 0) ctx.features.add('empty-attachment');
  let data = Buffer.concat([Buffer.from(magic), rng.bytes(Math.max(0, size - magic.length))]).subarray(0, size);
  let cte = rng.weighted<string>([[88, 'base64'], [6, 'binary'], [6, 'quoted-printable']]);
  if (cte === 'quoted-printable') data = Buffer.from(data.map((b) => (b === 10 || b === 13 ? b + 1 : b))); // QP cannot carry bare CR/LF
  if (rng.chance(0.05)) cte = cte.toUpperCase();
  ctx.features.add(cte.toLowerCase());
  const f = filename(ctx, ext);
  const placement = rng.weighted<number>([[60, 0], [30, 1], [10, 2]]);
  const params: Param[] = placement !== 1 ? [param(ctx, 'name', f.value, f.charset)] : [];
  const e = entity(ctx, type, subtype, { kind: 'leaf', data, text: null, lineLength: lineLength(ctx, cte) }, params);
  e.cte = cte;
  if (placement !== 2) {
    const dp = [param(ctx, 'filename', f.value, f.charset)];
    if (rng.chance(0.1)) dp.push(tokenParam('size', String(size)));
    if (rng.chance(0.05)) dp.push(quotedParam('creation-date', dateText(dateValue(ctx))));
    e.disposition = { type: forImage && rng.chance(0.6) ? 'inline' : 'attachment', params: dp };
  }
  e.fields = contentFields(ctx, e, forImage ? [field(ctx, 'Content-ID', { kind: 'ids', ids: [messageId(ctx)] })] : []);
  return e;
}

function textAttachment(ctx: Ctx): Entity {
  const { rng } = ctx;
  const [type, subtype, ext] = rng.pick(TEXT_ATTACHMENTS);
  const e = textLeaf(ctx, { subtype, disposition: 'attachment' });
  e.type = type;
  const f = filename(ctx, ext);
  e.disposition = { type: 'attachment', params: [param(ctx, 'filename', f.value, f.charset)] };
  e.fields = contentFields(ctx, e);
  return e;
}

function multipart(ctx: Ctx, subtype: string, parts: Entity[], extra: Param[] = []): Entity {
  const { rng } = ctx;
  // Inside a digest an undeclared part is message/rfc822, so only messages may leave the type out.
  for (const p of parts) {
    if (!p.declared && (subtype !== 'digest') !== (p.body.kind !== 'message')) {
      p.declared = true;
      p.fields = [...p.fields.filter((f) => !f.name.toLowerCase().startsWith('content-')), ...contentFields(ctx, { ...p, fields: [] })];
    }
  }
  const boundary = newBoundary(ctx);
  const bp = /^[0-9A-Za-z'+_\-.]+$/.test(boundary) && rng.chance(0.5) ? tokenParam('boundary', boundary) : quotedParam('boundary', boundary);
  const params = rng.chance(0.7) ? [bp, ...extra] : [...extra, bp];
  const preamble = rng.weighted<string | null>([[60, null], [30, 'This is a multi-part message in MIME format.'], [5, ''], [5, `Preamble line one.${CRLF}--not-a-boundary${CRLF}Preamble line three.`]]);
  const epilogue = rng.weighted<string | null>([[80, null], [5, ''], [15, `Epilogue text.${CRLF}`]]);
  const padding = rng.weighted<string>([[95, ''], [3, ' '], [2, ' \t ']]);
  if (preamble) ctx.features.add('preamble');
  if (epilogue) ctx.features.add('epilogue');
  if (padding) ctx.features.add('padding');
  const e = entity(ctx, 'multipart', subtype, { kind: 'multipart', boundary, preamble, epilogue, padding, parts }, params);
  containerCte(ctx, e);
  e.fields = contentFields(ctx, e);
  return e;
}

// ---------------------------------------------------------------- messages

interface MessageOptions {
  depth: number;
  /** Raw UTF-8 allowed in headers (top level with SMTPUTF8, or message/global). */
  utf8: boolean;
  top: boolean;
}

function messageFields(ctx: Ctx, o: MessageOptions): Field[] {
  const { rng } = ctx;
  const f: Field[] = [];
  if (o.top && rng.chance(0.3)) f.push(field(ctx, 'Return-Path', { kind: 'raw', segments: [`<${localPart(rng, false)}@${domain(rng, false)}>`] }));
  if (o.top) for (let i = rng.weighted<number>([[80, 0], [17, 1], [2, 2], [1, 3]]); i > 0; i--) f.push(received(ctx));
  f.push(field(ctx, 'Date', { kind: 'date', date: dateValue(ctx) })); // required (RFC 5322 3.6), as From is
  const fromN = rng.chance(0.03) ? 2 : 1;
  f.push(field(ctx, 'From', { kind: 'address', list: addressList(ctx, fromN, o.utf8, false) }));
  if (fromN > 1 || rng.chance(0.03)) f.push(field(ctx, 'Sender', { kind: 'address', list: [mailbox(ctx, o.utf8)] }));
  if (rng.chance(0.1)) f.push(field(ctx, 'Reply-To', { kind: 'address', list: addressList(ctx, rng.int(1, 2), o.utf8, false) }));
  const manyTo = rng.chance(0.02);
  if (manyTo) ctx.features.add('folded');
  if (rng.chance(0.95)) f.push(field(ctx, 'To', { kind: 'address', list: addressList(ctx, manyTo ? rng.int(15, 40) : rng.skewed(1, 3), o.utf8, true) }));
  if (rng.chance(0.15)) f.push(field(ctx, 'Cc', { kind: 'address', list: addressList(ctx, rng.skewed(1, 6), o.utf8, true) }));
  if (rng.chance(0.02)) f.push(field(ctx, 'Bcc', { kind: 'address', list: addressList(ctx, 1, o.utf8, true) }));
  if (rng.chance(0.95)) f.push(field(ctx, 'Subject', { kind: 'text', words: subject(ctx, o.utf8) }));
  if (rng.chance(0.9)) f.push(field(ctx, 'Message-ID', { kind: 'ids', ids: [messageId(ctx)] }));
  if (rng.chance(0.15)) f.push(field(ctx, 'In-Reply-To', { kind: 'ids', ids: [messageId(ctx)] }));
  if (rng.chance(0.1)) f.push(field(ctx, 'References', { kind: 'ids', ids: Array.from({ length: rng.chance(0.1) ? rng.int(12, 30) : rng.skewed(1, 6) }, () => messageId(ctx)) }));
  if (o.top || rng.chance(0.5)) f.push(field(ctx, 'MIME-Version', { kind: 'raw', segments: rng.chance(0.05) ? ['1.0', '(Generated)'] : ['1.0'] }));
  if (rng.chance(0.03)) f.push(field(ctx, 'Comments', { kind: 'text', words: headerWords(ctx, rng.int(1, 8), textMode(ctx, o.utf8), false) }));
  if (rng.chance(0.03)) f.push(field(ctx, 'Keywords', { kind: 'raw', segments: keywords(ctx) }));
  if (rng.chance(0.2)) f.push(field(ctx, 'X-Mailer', { kind: 'text', words: [{ text: rng.pick(['Generator', 'Mailer', 'Composer']), enc: null }, { text: `${rng.int(1, 9)}.${rng.int(0, 9)}`, enc: null }] }));
  if (rng.chance(0.1)) f.push(field(ctx, `X-${cap(asciiWord(rng))}`, { kind: 'text', words: headerWords(ctx, rng.int(1, 10), textMode(ctx, o.utf8), false) }));
  if (rng.chance(0.05)) f.push(field(ctx, 'List-Id', { kind: 'raw', segments: [`${cap(asciiWord(rng))}`, `<${asciiWord(rng)}.${domain(rng, false)}>`] }));
  if (rng.chance(0.004)) {
    ctx.features.add('header-998');
    const name = 'X-Long-Token';
    f.push({ name, value: { kind: 'raw', segments: [alnum(rng, 998 - name.length - 2)] } });
  }
  if (rng.chance(0.003)) {
    ctx.features.add('many-headers');
    for (let i = rng.int(100, 300); i > 0; i--) f.push(field(ctx, 'X-Trace', { kind: 'raw', segments: [alnum(rng, 12), String(i)] }));
  }
  if (rng.chance(0.05)) for (let i = f.length - 1; i > 0; i--) { const j = rng.int(0, i); [f[i], f[j]] = [f[j]!, f[i]!]; }
  return f;
}

function keywords(ctx: Ctx): string[] {
  const words = Array.from({ length: ctx.rng.int(1, 4) }, () => asciiWord(ctx.rng));
  return words.map((w, i) => (i < words.length - 1 ? w + ',' : w));
}

/** Whether an entity may be made at `depth` (the limit itself included). */
function canNest(ctx: Ctx, depth: number): boolean {
  return depth <= ctx.opts.maxDepth && ctx.entities < MAX_ENTITIES;
}

function messagePart(ctx: Ctx, depth: number, global = false, inside: (depth: number) => Entity = (d) => body(ctx, d, false)): Entity {
  const { rng } = ctx;
  const inner = messageEntity(ctx, { depth: depth + 1, utf8: global && rng.chance(0.5), top: false }, inside);
  ctx.features.add(global ? 'global' : 'rfc822');
  const e = entity(ctx, 'message', global ? 'global' : 'rfc822', { kind: 'message', message: inner });
  containerCte(ctx, e);
  const disp = rng.weighted<number>([[50, 0], [25, 1], [25, 2]]);
  if (disp === 1) e.disposition = { type: 'inline', params: [] };
  if (disp === 2) e.disposition = { type: 'attachment', params: [param(ctx, 'filename', rng.chance(0.7) ? 'forwarded message.eml' : filename(ctx, 'eml').value)] };
  e.fields = contentFields(ctx, e);
  return e;
}

/** A body for depth `depth`: its shape is drawn first, then filled. */
function body(ctx: Ctx, depth: number, top: boolean): Entity {
  const { rng } = ctx;
  if (!canNest(ctx, depth + 1)) return textLeaf(ctx);
  const two = canNest(ctx, depth + 2); // an embedded message sits two levels down
  const shape = rng.weighted<string>([
    [36, 'text'], [5, 'html'], [15, 'alternative'], [14, 'mixed'], [4, 'related'], [two ? 5 : 0, 'forward'], [2, 'digest'],
    [3, 'report'], [1.5, 'signed'], [7, 'random'], [top ? 1 : 0, 'deep'], [top ? 0.5 : 0, 'deep-messages'], [top ? 0.5 : 0, 'many-parts'], [top && two ? 0.5 : 0, 'global'],
  ]);
  ctx.features.add(shape);
  switch (shape) {
    case 'text':
      return textLeaf(ctx, { disposition: null });
    case 'html':
      return textLeaf(ctx, { subtype: 'html', disposition: null });
    case 'alternative':
      return alternative(ctx, depth);
    case 'mixed': {
      const first = rng.chance(0.4) && canNest(ctx, depth + 2) ? alternative(ctx, depth + 1) : textLeaf(ctx, { disposition: rng.chance(0.8) ? null : 'inline' });
      const n = rng.skewed(1, 3);
      const parts = [first];
      for (let i = 0; i < n; i++) parts.push(rng.chance(0.75) ? binaryLeaf(ctx) : textAttachment(ctx));
      return multipart(ctx, 'mixed', parts);
    }
    case 'related':
      return related(ctx);
    case 'forward':
      return multipart(ctx, 'mixed', [textLeaf(ctx, { disposition: null }), messagePart(ctx, depth + 1)]);
    case 'digest':
      return digest(ctx, depth);
    case 'report':
      return report(ctx, depth);
    case 'signed':
      return signed(ctx, depth);
    case 'deep':
      return deep(ctx, depth, rng.chance(0.5) ? ctx.opts.maxDepth : rng.int(depth + 3, ctx.opts.maxDepth));
    case 'deep-messages':
      return deepMessages(ctx, depth, rng.int(Math.min(depth + 2, ctx.opts.maxDepth), ctx.opts.maxDepth));
    case 'many-parts':
      return multipart(ctx, 'mixed', Array.from({ length: rng.int(20, 40) }, () => (rng.chance(0.5) ? textLeaf(ctx) : binaryLeaf(ctx))));
    case 'global':
      return multipart(ctx, 'mixed', [textLeaf(ctx, { disposition: null }), messagePart(ctx, depth + 1, true)]);
    default:
      return randomEntity(ctx, depth);
  }
}

function alternative(ctx: Ctx, depth: number): Entity {
  const { rng } = ctx;
  const parts = [textLeaf(ctx, { disposition: null }), textLeaf(ctx, { subtype: 'html', disposition: null })];
  if (rng.chance(0.05)) parts.push(textLeaf(ctx, { subtype: 'calendar', disposition: null }));
  if (rng.chance(0.15) && canNest(ctx, depth + 2)) parts[1] = related(ctx);
  return multipart(ctx, 'alternative', parts);
}

function related(ctx: Ctx): Entity {
  const { rng } = ctx;
  const images = Array.from({ length: rng.int(1, 3) }, () => binaryLeaf(ctx, true));
  const htmlPart = textLeaf(ctx, { subtype: 'html', disposition: null });
  const extra = [quotedParam('type', 'text/html')];
  return multipart(ctx, 'related', [htmlPart, ...images], rng.chance(0.8) ? extra : []);
}

function digest(ctx: Ctx, depth: number): Entity {
  const { rng } = ctx;
  const parts: Entity[] = [];
  for (let i = rng.int(2, 6); i > 0 && canNest(ctx, depth + 2); i--) {
    if (rng.chance(0.05)) { parts.push(textLeaf(ctx, { disposition: null })); continue; }
    const p = messagePart(ctx, depth + 1);
    if (rng.chance(0.75)) {
      // The digest default (RFC 2046 5.1.5): no Content-Type means message/rfc822.
      p.declared = false;
      p.disposition = null;
      p.fields = contentFields(ctx, p);
      ctx.features.add('digest-default-type');
    }
    parts.push(p);
  }
  if (parts.length === 0) parts.push(textLeaf(ctx));
  return multipart(ctx, 'digest', parts);
}

function statusLeaf(ctx: Ctx, subtype: string, lines: string[]): Entity {
  const text = lines.join(CRLF) + CRLF;
  const e = entity(ctx, 'message', subtype, { kind: 'leaf', data: Buffer.from(text, 'utf8'), text, lineLength: 76 });
  e.cte = /[^\x00-\x7f]/.test(text) ? '8bit' : null;
  e.fields = contentFields(ctx, e);
  return e;
}

function report(ctx: Ctx, depth: number): Entity {
  const { rng } = ctx;
  const rcpt = `${localPart(rng, false)}@${domain(rng, false)}`;
  const kind = rng.weighted<string>([[60, 'delivery-status'], [20, 'disposition-notification'], [20, 'feedback-report']]);
  let status: Entity;
  if (kind === 'delivery-status') {
    const global = rng.chance(0.1);
    const who = global ? `${localPart(rng, true)}@${domain(rng, true)}` : rcpt;
    status = statusLeaf(ctx, global ? 'global-delivery-status' : 'delivery-status', [
      `Reporting-MTA: dns; mx.${domain(rng, false)}`, `Arrival-Date: ${dateText(dateValue(ctx))}`, '',
      `Final-Recipient: ${global ? 'utf-8' : 'rfc822'}; ${who}`, 'Action: failed', 'Status: 5.1.1', 'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
    ]);
  } else if (kind === 'disposition-notification') {
    status = statusLeaf(ctx, 'disposition-notification', [
      `Reporting-UA: mail.${domain(rng, false)}; Generator`, `Final-Recipient: rfc822;${rcpt}`, `Original-Message-ID: <${messageId(ctx)}>`, 'Disposition: manual-action/MDN-sent-manually; displayed',
    ]);
  } else {
    status = statusLeaf(ctx, 'feedback-report', ['Feedback-Type: abuse', 'User-Agent: Generator/1.0', 'Version: 1', `Original-Rcpt-To: ${rcpt}`]);
  }
  const parts = [textLeaf(ctx, { disposition: null }), status];
  if (canNest(ctx, depth + 2) && rng.chance(0.7)) parts.push(messagePart(ctx, depth + 1));
  else {
    const headers = `From: <${rcpt}>${CRLF}Subject: ${asciiWord(rng)}${CRLF}Message-ID: <${messageId(ctx)}>${CRLF}`;
    const h = entity(ctx, 'text', 'rfc822-headers', { kind: 'leaf', data: Buffer.from(headers), text: headers, lineLength: 76 });
    h.fields = contentFields(ctx, h);
    parts.push(h);
  }
  return multipart(ctx, 'report', parts, [tokenParam('report-type', kind)]);
}

function signed(ctx: Ctx, depth: number): Entity {
  const { rng } = ctx;
  const content = canNest(ctx, depth + 2) && rng.chance(0.5) ? alternative(ctx, depth + 1) : textLeaf(ctx, { disposition: null });
  const armour = `-----BEGIN PGP SIGNATURE-----${CRLF}${CRLF}${rng.bytes(96).toString('base64').replace(/(.{64})/g, `$1${CRLF}`)}${CRLF}=${alnum(rng, 4)}${CRLF}-----END PGP SIGNATURE-----${CRLF}`;
  const sig = entity(ctx, 'application', 'pgp-signature', { kind: 'leaf', data: Buffer.from(armour), text: null, lineLength: 76 }, rng.chance(0.5) ? [quotedParam('name', 'signature.asc')] : []);
  sig.cte = rng.chance(0.5) ? '7bit' : null;
  if (rng.chance(0.5)) sig.disposition = { type: 'attachment', params: [quotedParam('filename', 'signature.asc')] };
  sig.fields = contentFields(ctx, sig);
  return multipart(ctx, 'signed', [content, sig], [quotedParam('protocol', 'application/pgp-signature'), tokenParam('micalg', 'pgp-sha256')]);
}

function randomEntity(ctx: Ctx, depth: number): Entity {
  const { rng } = ctx;
  if (!canNest(ctx, depth + 1) || rng.chance(0.25 + depth * 0.15)) {
    return rng.weighted<() => Entity>([[45, () => textLeaf(ctx)], [35, () => binaryLeaf(ctx)], [10, () => textAttachment(ctx)], [canNest(ctx, depth + 2) ? 10 : 0, () => messagePart(ctx, depth)]])();
  }
  const subtype = rng.weighted<string>([[45, 'mixed'], [20, 'alternative'], [10, 'related'], [5, 'parallel'], [5, 'x-unknown'], [5, 'digest'], [5, 'report'], [5, 'signed']]);
  if (subtype === 'digest') return digest(ctx, depth);
  if (subtype === 'report') return report(ctx, depth);
  if (subtype === 'signed') return signed(ctx, depth);
  const parts = Array.from({ length: rng.int(1, 3) }, () => randomEntity(ctx, depth + 1));
  return multipart(ctx, subtype, parts);
}

/** A chain of multiparts whose deepest entity sits at `target` (up to the parser's depth limit). */
function deep(ctx: Ctx, depth: number, target: number): Entity {
  if (depth >= target || !canNest(ctx, depth + 1)) return textLeaf(ctx);
  if (target >= ctx.opts.maxDepth) ctx.features.add('max-depth');
  const inner = deep(ctx, depth + 1, target);
  const parts = ctx.rng.chance(0.5) ? [textLeaf(ctx), inner] : [inner];
  return multipart(ctx, ctx.rng.pick(['mixed', 'mixed', 'alternative', 'related']), parts);
}

/** Forwards of forwards: message/rfc822 inside message/rfc822 down to `target`. */
function deepMessages(ctx: Ctx, depth: number, target: number): Entity {
  if (depth >= target || !canNest(ctx, depth + 1)) return textLeaf(ctx);
  if (target >= ctx.opts.maxDepth) ctx.features.add('max-depth');
  return messagePart(ctx, depth, false, (d) => deepMessages(ctx, d, target));
}

function messageEntity(ctx: Ctx, o: MessageOptions, inside: (depth: number) => Entity = (d) => body(ctx, d, o.top)): Entity {
  const headers = messageFields(ctx, o);
  const b = inside(o.depth);
  b.fields = [...headers, ...b.fields];
  return b;
}

export interface GeneratedMessage {
  generated: Generated;
  encoded: Encoded;
}

/**
 * Message `index` of `seed`. If the drawn boundaries happen to collide with content (the encoder
 * refuses), the next attempt draws from a derived stream — deterministic all the same.
 */
export function generateMessage(seed: string, index: number, opts: Partial<GenerateOptions> = {}): GeneratedMessage {
  const o = { ...DEFAULT_OPTIONS, ...opts };
  for (let attempt = 0; ; attempt++) {
    const rng = attempt === 0 ? rngFor(seed, index) : rngFor(`${seed}#retry${attempt}`, index);
    const ctx: Ctx = { rng, opts: o, features: new Set(), boundaries: [], entities: 0 };
    const root = messageEntity(ctx, { depth: 0, utf8: rng.chance(0.1), top: true });
    try {
      const encoded = encodeMessage(root);
      const id = `${seed}-${String(index).padStart(7, '0')}`;
      return { generated: { id, seed, index, root, features: [...ctx.features].sort() }, encoded };
    } catch (e) {
      if (attempt >= 5) throw e;
    }
  }
}

