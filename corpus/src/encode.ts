/**
 * Model → bytes. Written by hand: the writers we know (nodemailer's MimeNode, Python's
 * email.generator) pick their own charsets (UTF-8 only for encoded words and RFC 2231), their own
 * transfer encodings and fold points; the corpus must write exactly what the model says — words
 * in Shift_JIS or KOI8-R, continuations split mid-character, lines of 998 bytes — so every choice
 * comes from the model. Libraries do the parts that are not choices: iconv-lite the charsets,
 * libqp quoted-printable bodies, Buffer base64.
 */
import libqp from 'libqp';
import { encodeText } from './charsets.ts';
import type { Address, DateValue, Entity, Field, Mailbox, Param, Phrase, Word, WordEncoding } from './model.ts';

const CRLF = '\r\n';
/** Preferred line length (RFC 5322 2.1.1 SHOULD); 998 is the hard limit. */
const FOLD_AT = 78;
export const MAX_LINE = 998;
/** An encoded word is at most 75 characters (RFC 2047 2). */
const MAX_WORD = 75;

// ---------------------------------------------------------------- encoded words (RFC 2047)

const byteCache = new Map<string, Map<string, Buffer>>();

/** The bytes of each charset's characters, remembered (bounded by the repertoires: a few thousand per charset). */
function charCache(charset: string): Map<string, Buffer> {
  let m = byteCache.get(charset);
  if (!m) byteCache.set(charset, (m = new Map()));
  return m;
}

/** `ch` encoded in `charset` (encodeText, remembered). */
export function charBytes(ch: string, charset: string, m = charCache(charset)): Buffer {
  let b = m.get(ch);
  if (!b) m.set(ch, (b = encodeText(ch, charset)));
  return b;
}

/** Characters written as themselves in a Q-encoded word anywhere, phrases included (RFC 2047 5(3)). */
const Q_SAFE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/') Q_SAFE[c.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

function qEncode(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) {
    if (Q_SAFE[b]) s += String.fromCharCode(b);
    else if (b === 0x20) s += '_';
    else s += '=' + HEX[b >> 4] + HEX[b & 15];
  }
  return s;
}

function qLength(bytes: Buffer): number {
  let n = 0;
  for (const b of bytes) n += Q_SAFE[b] || b === 0x20 ? 1 : 3;
  return n;
}

/**
 * `text` as encoded words of at most 75 characters each, split only between characters (a
 * character's bytes never straddle two words, RFC 2047 5).
 */
export function encodedWords(text: string, enc: WordEncoding): string[] {
  const prefix = `=?${enc.charset}?${enc.method}?`;
  const room = MAX_WORD - prefix.length - 2;
  const words: string[] = [];
  let chunk: Buffer[] = [];
  let bytes = 0;
  let qlen = 0;
  const flush = () => {
    if (chunk.length === 0) return;
    const all = Buffer.concat(chunk);
    words.push(prefix + (enc.method === 'B' ? all.toString('base64') : qEncode(all)) + '?=');
    chunk = [];
    bytes = 0;
    qlen = 0;
  };
  const cache = charCache(enc.charset);
  for (const ch of text) {
    const b = charBytes(ch, enc.charset, cache);
    const q = enc.method === 'B' ? 0 : qLength(b);
    const next = enc.method === 'B' ? Math.ceil((bytes + b.length) / 3) * 4 : qlen + q;
    if (next > room && chunk.length) flush();
    chunk.push(b);
    bytes += b.length;
    qlen += q;
  }
  flush();
  return words;
}

/**
 * Header words → segments (joined by single foldable spaces). Consecutive words with the same
 * encoding share encoded words; a space between two encoded runs is carried inside the second,
 * because whitespace between adjacent encoded words is not part of the text (RFC 2047 6.2).
 */
function wordSegments(words: Word[]): string[] {
  const out: string[] = [];
  let i = 0;
  let prevEncoded = false;
  while (i < words.length) {
    const w = words[i]!;
    if (!w.enc) {
      out.push(w.text);
      prevEncoded = false;
      i++;
      continue;
    }
    let j = i + 1;
    while (j < words.length && words[j]!.enc && sameEnc(words[j]!.enc!, w.enc)) j++;
    const text = (prevEncoded ? ' ' : '') + words.slice(i, j).map((x) => x.text).join(' ');
    out.push(...encodedWords(text, w.enc));
    prevEncoded = true;
    i = j;
  }
  return out;
}

const sameEnc = (a: WordEncoding, b: WordEncoding) => a.charset === b.charset && a.method === b.method;

export const decodedWords = (words: Word[]): string => words.map((w) => w.text).join(' ');

// ---------------------------------------------------------------- structured values

export function quoteString(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

function phraseSegments(p: Phrase): string[] {
  if (p.style === 'quoted') return [quoteString(decodedWords(p.words))];
  return wordSegments(p.words);
}

export function addrSpec(m: Mailbox): string {
  return (m.localQuoted ? quoteString(m.local) : m.local) + '@' + m.domain;
}

function mailboxSegments(m: Mailbox): string[] {
  const segs = m.name ? [...phraseSegments(m.name), `<${addrSpec(m)}>`] : [m.angle ? `<${addrSpec(m)}>` : addrSpec(m)];
  if (m.comment !== null) segs.push('(' + m.comment.replace(/[\\()]/g, (c) => '\\' + c) + ')');
  return segs;
}

/** Appends `suffix` to the last segment (a separator that must not start a folded line). */
function withSuffix(segs: string[], suffix: string): string[] {
  if (segs.length === 0) return [suffix];
  segs[segs.length - 1] += suffix;
  return segs;
}

function addressSegments(list: Address[]): string[] {
  const out: string[] = [];
  list.forEach((a, i) => {
    let segs: string[];
    if (a.kind === 'mailbox') segs = mailboxSegments(a);
    else {
      segs = withSuffix(phraseSegments(a.name), ':');
      a.members.forEach((m, k) => {
        const ms = mailboxSegments(m);
        segs.push(...(k < a.members.length - 1 ? withSuffix(ms, ',') : ms));
      });
      segs = withSuffix(segs, ';');
    }
    out.push(...(i < list.length - 1 ? withSuffix(segs, ',') : segs));
  });
  return out;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

export function formatDate(d: DateValue): string {
  const local = new Date(d.epochMs + d.offsetMinutes * 60_000);
  const abs = Math.abs(d.offsetMinutes);
  const zone = (d.offsetMinutes < 0 ? '-' : '+') + two(Math.floor(abs / 60)) + two(abs % 60);
  const day = d.padDay ? two(local.getUTCDate()) : String(local.getUTCDate());
  const time = `${two(local.getUTCHours())}:${two(local.getUTCMinutes())}${d.seconds ? ':' + two(local.getUTCSeconds()) : ''}`;
  return `${d.dayName ? DAYS[local.getUTCDay()] + ', ' : ''}${day} ${MONTHS[local.getUTCMonth()]} ${local.getUTCFullYear()} ${time} ${zone}${d.comment ? ` (${d.comment})` : ''}`;
}

// ---------------------------------------------------------------- parameters (RFC 2045, RFC 2231)

/** attribute-char of RFC 2231: ASCII except SPACE, CTLs, `*'%` and tspecials. */
const ATTR_CHAR = /^[!#$&+\-.^_`{|}~0-9A-Za-z]$/;
const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/;

function percentEncode(bytes: Buffer): string[] {
  const out: string[] = [];
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out.push(b < 0x80 && ATTR_CHAR.test(c) ? c : '%' + HEX[b >> 4] + HEX[b & 15]);
  }
  return out;
}

/** Splits `items` into runs whose joined length is at most `size` (at least one item each). */
function chunks(items: string[], size: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const it of items) {
    if (cur && cur.length + it.length > size) {
      out.push(cur);
      cur = '';
    }
    cur += it;
  }
  if (cur || out.length === 0) out.push(cur);
  return out;
}

export function paramSegments(p: Param): string[] {
  switch (p.style) {
    case 'token':
      if (!TOKEN.test(p.value)) throw new Error(`parameter ${p.name}: "${p.value}" is not a token`);
      return [`${p.name}=${p.value}`];
    case 'quoted':
      return [`${p.name}=${quoteString(p.value)}`];
    case 'ext':
      return [`${p.name}*=${p.charset ?? ''}'${p.language ?? ''}'${percentEncode(encodeText(p.value, p.charset ?? 'us-ascii')).join('')}`];
    case 'cont':
      return chunks([...p.value], p.segment).map((s, i) => `${p.name}*${i}=${quoteString(s)}`);
    case 'extcont':
      return chunks(percentEncode(encodeText(p.value, p.charset ?? 'us-ascii')), p.segment).map((s, i) =>
        i === 0 ? `${p.name}*0*=${p.charset ?? ''}'${p.language ?? ''}'${s}` : `${p.name}*${i}*=${s}`);
  }
}

function valueWithParams(value: string, comment: string | null, params: Param[]): string[] {
  const segs = [value];
  if (comment !== null) segs.push(`(${comment})`);
  for (const p of params) {
    for (const s of paramSegments(p)) {
      withSuffix(segs, ';');
      segs.push(s);
    }
  }
  return segs;
}

// ---------------------------------------------------------------- fields and folding

/** The segments of a field value; joined with single spaces they are its unfolded value. */
export function fieldSegments(f: Field, e: Entity): string[] {
  const v = f.value;
  switch (v.kind) {
    case 'text':
      return wordSegments(v.words);
    case 'address':
      return addressSegments(v.list);
    case 'date':
      return formatDate(v.date).split(' ');
    case 'ids':
      return v.ids.map((id) => `<${id}>`);
    case 'raw':
      return v.segments;
    case 'content-type':
      return valueWithParams(`${e.type}/${e.subtype}`, e.typeComment, e.params);
    case 'content-disposition':
      if (!e.disposition) throw new Error('Content-Disposition field without a disposition');
      return valueWithParams(e.disposition.type, null, e.disposition.params);
    case 'content-transfer-encoding':
      if (!e.cte) throw new Error('Content-Transfer-Encoding field without a value');
      return [e.cte];
  }
}

/** Writes a field, folding at spaces between segments to keep lines within 78 characters where it can. */
export function foldField(name: string, segs: string[], tight = false): string {
  let line = name + ':';
  let first = true;
  const lines: string[] = [];
  for (const s of segs) {
    if (first) {
      line += (tight ? '' : ' ') + s;
      first = false;
    } else if (Buffer.byteLength(line) + 1 + Buffer.byteLength(s) <= FOLD_AT) {
      line += ' ' + s;
    } else {
      lines.push(line);
      line = ' ' + s;
    }
  }
  lines.push(line);
  for (const l of lines) if (Buffer.byteLength(l) > MAX_LINE) throw new Error(`header line over ${MAX_LINE} bytes in ${name}`);
  return lines.join(CRLF) + CRLF;
}

// ---------------------------------------------------------------- bodies

export function base64Body(data: Buffer, lineLength: number): string {
  const s = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += lineLength) lines.push(s.slice(i, i + lineLength));
  return lines.join(CRLF);
}

export function qpBody(data: Buffer, lineLength: number): string {
  return libqp.wrap(libqp.encode(data), lineLength);
}

function leafBytes(e: Entity, data: Buffer, lineLength: number): Buffer {
  switch ((e.cte ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(base64Body(data, lineLength), 'latin1');
    case 'quoted-printable':
      return Buffer.from(qpBody(data, lineLength), 'latin1');
    default:
      return data;
  }
}

export interface Encoded {
  bytes: Buffer;
  /** The bytes of each message/rfc822 entity's body (the embedded message as written). */
  messageBodies: Map<Entity, Buffer>;
}

function encodeEntity(e: Entity, out: Encoded): Buffer {
  let head = '';
  for (const f of e.fields) head += foldField(f.name, fieldSegments(f, e), f.tight);
  const headBuf = Buffer.from(head + CRLF, 'utf8');
  const b = e.body;
  if (b.kind === 'leaf') return Buffer.concat([headBuf, leafBytes(e, b.data, b.lineLength)]);
  if (b.kind === 'message') {
    const inner = encodeEntity(b.message, out);
    out.messageBodies.set(e, inner);
    return Buffer.concat([headBuf, inner]);
  }
  const delim = Buffer.from('--' + b.boundary, 'latin1');
  const inside = Buffer.from('\n--' + b.boundary, 'latin1');
  const chunksOut: Buffer[] = [headBuf];
  // RFC 2046 5.1.1: no line of a part may start with the delimiter (lines are matched by prefix),
  // nor of the preamble or epilogue, which a parser reads the same way.
  const clash = (bytes: Buffer) => bytes.includes(inside) || bytes.subarray(0, delim.length).equals(delim);
  for (const text of [b.preamble, b.epilogue]) if (text !== null && clash(Buffer.from(text, 'utf8'))) throw new Error(`boundary "${b.boundary}" occurs in the preamble or epilogue`);
  if (b.preamble !== null) chunksOut.push(Buffer.from(b.preamble + CRLF, 'utf8'));
  for (const p of b.parts) {
    const bytes = encodeEntity(p, out);
    if (clash(bytes)) throw new Error(`boundary "${b.boundary}" occurs inside a part`);
    chunksOut.push(delim, Buffer.from(b.padding + CRLF, 'latin1'), bytes, Buffer.from(CRLF, 'latin1'));
  }
  chunksOut.push(delim, Buffer.from('--' + b.padding, 'latin1'));
  if (b.epilogue !== null) chunksOut.push(Buffer.from(CRLF + b.epilogue, 'utf8'));
  return Buffer.concat(chunksOut);
}

/** Encodes a message. A multipart message always ends in CRLF (in its epilogue). */
export function encodeMessage(root: Entity): Encoded {
  const out: Encoded = { bytes: Buffer.alloc(0), messageBodies: new Map() };
  let bytes = encodeEntity(root, out);
  if (root.body.kind === 'multipart' && !(bytes[bytes.length - 2] === 13 && bytes[bytes.length - 1] === 10)) bytes = Buffer.concat([bytes, Buffer.from(CRLF)]);
  out.bytes = bytes;
  return out;
}

/** Lines longer than 998 bytes, bare CR or LF outside binary bodies: what makes a message invalid. */
export function lineProblems(bytes: Buffer): string[] {
  const problems: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 10) {
      if (i === 0 || bytes[i - 1] !== 13) problems.push(`bare LF at ${i}`);
      if (i - 1 - start > MAX_LINE) problems.push(`line of ${i - 1 - start} bytes at ${start}`);
      start = i + 1;
    } else if (bytes[i] === 13 && bytes[i + 1] !== 10) problems.push(`bare CR at ${i}`);
    if (problems.length > 5) break;
  }
  if (bytes.length - start > MAX_LINE) problems.push(`line of ${bytes.length - start} bytes at ${start}`);
  return problems;
}
