/**
 * A bounded structural pass over the raw message: the part tree's shape (parts, depth, declared
 * charsets) and the defects a parser silently repairs — missing boundaries, unknown charsets or
 * transfer encodings, bad header lines, 8-bit bytes where 7-bit is due, oversize headers, deep
 * nesting. Hand-written because neither mailparser nor postal-mime reports defects or the tree;
 * it only reads, never decodes bodies, and stops at the limits. Every search is bounded by the end
 * of the part it belongs to, so each nesting level reads each byte at most a few times: hostile
 * input costs O(size × depth), depth ≤ maxDepth.
 */
// isUtf8 validates without decoding (a fatal TextDecoder built and run per header block did both).
import { isUtf8 } from 'node:buffer';
import type { MimeDefect } from '../../schemas/types.ts';
import { rawFieldName } from '../../runtime/header-fields.ts';

export interface MimeLimits {
  /** Deepest multipart / message nesting walked (and parsed). */
  maxDepth: number;
  /** Most parts walked (and parsed). */
  maxParts: number;
  /** Most bytes of one header block. */
  maxHeaderBytes: number;
  /** Most header fields in one header block. */
  maxHeaders: number;
  /** Characters kept of the text and of the HTML body. */
  maxTextChars: number;
  maxHtmlChars: number;
  /**
   * Largest HTML part mailparser renders to text (html-to-text builds a DOM: ~80 bytes of heap and
   * up to 0.2 µs of CPU per input byte on link-dense HTML, synchronous). Larger parts keep their
   * HTML and give no text; the text kept is maxTextChars anyway.
   */
  maxHtmlToTextBytes: number;
  maxUrls: number;
  /** Most attachments described (the rest are counted as a defect). */
  maxAttachments: number;
}

export const DEFAULT_LIMITS: MimeLimits = {
  maxDepth: 20,
  maxParts: 500,
  maxHeaderBytes: 256 * 1024,
  maxHeaders: 1000,
  maxTextChars: 256 * 1024,
  maxHtmlChars: 512 * 1024,
  maxHtmlToTextBytes: 1024 * 1024,
  maxUrls: 500,
  maxAttachments: 100,
};

export interface HeaderField {
  name: string;
  /** Unfolded raw value (latin1 view of the bytes; decode as UTF-8 where needed). */
  value: string;
}

export interface PartInfo {
  path: string;
  depth: number;
  contentType: string;
  charset: string | null;
  transferEncoding: string | null;
}

export interface Structure {
  headers: HeaderField[];
  headerBytes: number;
  parts: PartInfo[];
  depth: number;
  charsets: string[];
  defects: MimeDefect[];
  /** A limit stopped the walk: the parser must not be run on this input at full depth. */
  limitsExceeded: boolean;
  utf8Headers: boolean;
  encodedWords: boolean;
}

const KNOWN_CTE = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable', 'x-uuencode', 'uuencode', 'x-uue']);
const HEADER_NAME = /^[!-9;-~]+$/;

/**
 * Answers by label: building a TextDecoder to ask costs about a microsecond, and the scan asks for
 * every part and every encoded word. Real mail uses a few dozen labels; the map is bounded so that
 * hostile labels cannot grow it (past the bound every label is asked again).
 */
const LABELS_KNOWN = new Map<string, boolean>();
export const MAX_REMEMBERED_LABELS = 256;

export function charsetKnown(charset: string): boolean {
  const label = charset.trim().toLowerCase();
  let known = LABELS_KNOWN.get(label);
  if (known !== undefined) return known;
  try {
    new TextDecoder(label);
    known = true;
  } catch {
    known = false;
  }
  if (LABELS_KNOWN.size < MAX_REMEMBERED_LABELS) LABELS_KNOWN.set(label, known);
  return known;
}

/**
 * Drops comments (RFC 5322 3.2.2: parenthesised, nestable, with quoted-pairs) outside quoted
 * strings, in one linear pass: `text/plain (plain text); charset=us-ascii (ASCII)` is valid.
 */
export function stripComments(value: string): string {
  // Kept text is sliced out in runs, not appended a character at a time: one header value can be
  // hundreds of KB of attacker text, and a string built by the character costs an allocation each.
  const kept: string[] = [];
  let depth = 0;
  let quoted = false;
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === BACKSLASH && (quoted || depth > 0)) i++; // a quoted pair: kept in a quoted string, dropped in a comment
    else if (depth === 0 && c === DQUOTE) quoted = !quoted;
    else if (quoted) continue;
    else if (c === LPAREN) {
      if (depth === 0) kept.push(value.slice(from, i));
      depth++;
    } else if (c === RPAREN && depth > 0 && --depth === 0) from = i + 1;
  }
  if (depth === 0) kept.push(value.slice(from));
  return kept.join('');
}

const BACKSLASH = 0x5c, DQUOTE = 0x22, LPAREN = 0x28, RPAREN = 0x29, SEMICOLON = 0x3b;

/** Parses `type/subtype; a=b; c="d"` (RFC 2045, comments dropped, RFC 2231 continuations joined roughly). */
export function parseContentType(value: string): { type: string; params: Record<string, string> } {
  const [head = '', ...rest] = splitParams(stripComments(value));
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    let k = p.slice(0, eq).trim().toLowerCase();
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    const cont = /^([^*]+)\*(\d+)?\*?$/.exec(k);
    if (cont) {
      k = cont[1]!;
      if (/^[^']*'[^']*'/.test(v) && (!cont[2] || cont[2] === '0')) v = v.replace(/^[^']*'[^']*'/, '');
      params[k] = (cont[2] && cont[2] !== '0' ? params[k] ?? '' : '') + v;
    } else {
      params[k] = v;
    }
  }
  return { type: head.trim().toLowerCase(), params };
}

function splitParams(value: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === BACKSLASH && quoted) i++;
    else if (c === DQUOTE) quoted = !quoted;
    else if (c === SEMICOLON && !quoted) {
      out.push(value.slice(from, i));
      from = i + 1;
    }
  }
  out.push(value.slice(from));
  return out;
}

interface Walk {
  s: string;
  /** The same bytes as s: Buffer.indexOf on a subarray is a search that stops at the part's end. */
  buf: Buffer;
  limits: MimeLimits;
  out: Structure;
  defect(code: string, part: string, detail?: string): void;
  /** Seen in header blocks and non-binary bodies: bare LF line ends, CRLF line ends. */
  lf: boolean;
  crlf: boolean;
}

/** Notes which line ends `text` uses (binary bodies are not looked at: bare LF is data there). */
function lineEnds(w: Walk, text: string): void {
  if (!w.lf && /(^|[^\r])\n/.test(text)) w.lf = true;
  if (!w.crlf && text.includes('\r\n')) w.crlf = true;
}

/**
 * The first `needle` in s[from, end), or -1. String.indexOf has no end bound: searching a part with
 * it reads on to the end of the message, so every part of a hostile message costs the whole message
 * (499 parts whose headers never end in 20 MiB: seconds). Every search of the walk goes through here.
 */
function findWithin(w: Walk, needle: string, from: number, end: number): number {
  if (from >= end) return -1;
  const i = w.buf.subarray(from, end).indexOf(needle, 0, 'latin1');
  return i < 0 ? -1 : from + i;
}

/** Splits a header block into unfolded fields, recording defects; returns the fields and where the body starts. */
function readHeader(w: Walk, start: number, end: number, path: string): { fields: HeaderField[]; bodyStart: number; bytes: number } {
  const { s } = w;
  let sep = findWithin(w, '\r\n\r\n', start, end);
  let sepLen = 4;
  // A bare-LF blank line counts only before the first CRLF one: no second pass over the part.
  const lf = findWithin(w, '\n\n', start, sep < 0 ? end : sep);
  if (lf >= 0) { sep = lf; sepLen = 2; }
  // A part that starts with its blank line has no header (RFC 5322 2.1); all of it is body. (This was
  // written as a separator just before `start`, which at the top of the message is -2, read as "no
  // separator": the whole message became the header; found by the headers fuzz target.)
  const blankFirst = start < end && (s[start] === '\r' || s[start] === '\n');
  let headerEnd: number;
  let bodyStart: number;
  if (blankFirst) {
    headerEnd = start;
    bodyStart = Math.min(end, start + (s[start] === '\r' && s[start + 1] === '\n' ? 2 : 1));
  } else if (sep < 0 || sep >= end) {
    headerEnd = end;
    bodyStart = end;
    if (end > start) w.defect('missing-header-body-separator', path);
  } else {
    headerEnd = Math.max(start, sep);
    bodyStart = Math.min(end, sep + sepLen);
  }
  const bytes = headerEnd - start;
  let scanEnd = headerEnd;
  if (bytes > w.limits.maxHeaderBytes) {
    w.defect('header-too-large', path, `${bytes} bytes, limit ${w.limits.maxHeaderBytes}`);
    w.out.limitsExceeded = true;
    scanEnd = start + w.limits.maxHeaderBytes;
  }
  const fields: HeaderField[] = [];
  const lines = s.slice(start, scanEnd).split(/\r?\n/);
  let badLines = 0;
  // A continuation belongs to the line before it: after a line that is not a field it is part of
  // that bad line, not of the last good field (which the other readers of the header never extend).
  let lastIsField = false;
  for (const line of lines) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t')) {
      const last = fields[fields.length - 1];
      if (last && lastIsField) last.value += line; // unfold: the CRLF goes, the whitespace stays
      else if (!last) badLines++;
      continue;
    }
    const colon = line.indexOf(':');
    const name = rawFieldName(line) ?? '';
    lastIsField = false;
    if (!name || !HEADER_NAME.test(name)) { badLines++; continue; }
    if (fields.length >= w.limits.maxHeaders) {
      w.defect('too-many-headers', path, `over ${w.limits.maxHeaders} fields`);
      w.out.limitsExceeded = true;
      break;
    }
    fields.push({ name, value: line.slice(colon + 1).replace(/^[ \t]+/, '') });
    lastIsField = true;
  }
  if (badLines) w.defect('invalid-header-line', path, `${badLines} line(s)`);
  if (/[\x80-\xff]/.test(s.slice(start, scanEnd))) {
    const bytesView = Buffer.from(s.slice(start, scanEnd), 'latin1');
    if (isUtf8(bytesView)) w.out.utf8Headers = true;
    else w.defect('non-utf8-header-bytes', path);
  }
  for (const f of fields) {
    if (!f.value.includes('=?')) continue;
    for (const m of f.value.matchAll(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g)) {
      w.out.encodedWords = true;
      const cs = m[1]!.split('*')[0]!.toLowerCase();
      addCharset(w.out, cs);
      if (!charsetKnown(cs)) w.defect('unknown-charset', path, `${cs} in ${f.name}`);
      if (/^[bB]$/.test(m[2]!) && !/^[A-Za-z0-9+/]*={0,2}$/.test(m[3]!)) w.defect('invalid-encoded-word', path, f.name);
      if (/[\x80-\xff]/.test(m[3]!)) w.defect('invalid-encoded-word', path, `8-bit bytes inside an encoded word in ${f.name}`);
    }
  }
  return { fields, bodyStart, bytes };
}

function addCharset(out: Structure, cs: string): void {
  const c = cs.trim().toLowerCase();
  if (c && !out.charsets.includes(c) && out.charsets.length < 50) out.charsets.push(c);
}

const header = (fields: HeaderField[], name: string): string | undefined => fields.find((f) => f.name.toLowerCase() === name)?.value;

function walkEntity(w: Walk, start: number, end: number, path: string, depth: number, defaultType: string): void {
  const { out, limits } = w;
  if (out.parts.length >= limits.maxParts) {
    if (!out.defects.some((d) => d.code === 'too-many-parts')) w.defect('too-many-parts', path, `limit ${limits.maxParts}`);
    out.limitsExceeded = true;
    return;
  }
  if (depth > limits.maxDepth) {
    if (!out.defects.some((d) => d.code === 'nesting-too-deep')) w.defect('nesting-too-deep', path, `limit ${limits.maxDepth}`);
    out.limitsExceeded = true;
    return;
  }
  const { fields, bodyStart, bytes } = readHeader(w, start, end, path);
  lineEnds(w, w.s.slice(start, Math.min(bodyStart, start + (1 << 16))));
  if (depth === 0) { out.headers = fields; out.headerBytes = bytes; }
  out.depth = Math.max(out.depth, depth);
  const ctRaw = header(fields, 'content-type');
  const ct = ctRaw ? parseContentType(ctRaw) : { type: defaultType, params: {} as Record<string, string> };
  let type = ct.type;
  if (ctRaw && !/^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(type)) {
    w.defect('invalid-content-type', path, ctRaw.slice(0, 100));
    type = 'text/plain';
  }
  const cteRaw = header(fields, 'content-transfer-encoding');
  const cte = cteRaw === undefined ? null : stripComments(cteRaw).trim().toLowerCase();
  if (cte && !KNOWN_CTE.has(cte)) w.defect('unknown-transfer-encoding', path, cte.slice(0, 50));
  const charset = ct.params.charset?.toLowerCase() ?? null;
  if (charset) {
    addCharset(out, charset);
    if (!charsetKnown(charset)) w.defect('unknown-charset', path, charset.slice(0, 50));
  }
  out.parts.push({ path, depth, contentType: type, charset, transferEncoding: cte });

  const body = w.s.slice(bodyStart, end);
  if (type.startsWith('multipart/')) {
    if (cte && !['7bit', '8bit', 'binary'].includes(cte)) w.defect('multipart-with-encoding', path, cte);
    const boundary = ct.params.boundary;
    if (!boundary) {
      w.defect('multipart-without-boundary', path);
      return;
    }
    if (boundary.length > 70) w.defect('boundary-too-long', path);
    // Delimiter lines: "--boundary" at a line start, optional trailing whitespace.
    const delim = `--${boundary}`;
    const positions: { at: number; bodyFrom: number; close: boolean }[] = [];
    let from = bodyStart;
    while (from < end) {
      const i = findWithin(w, delim, from, end);
      if (i < 0) break;
      const atLineStart = i === bodyStart || w.s[i - 1] === '\n';
      const after = i + delim.length;
      if (atLineStart) {
        const close = w.s.startsWith('--', after);
        let eol = findWithin(w, '\n', after, end);
        if (eol < 0) eol = end;
        positions.push({ at: i, bodyFrom: Math.min(end, eol + 1), close });
        if (close) break;
        from = Math.min(end, eol + 1);
      } else {
        from = after;
      }
    }
    if (positions.length === 0) {
      w.defect('missing-boundary', path, `boundary "${boundary.slice(0, 70)}" never appears`);
      return;
    }
    if (!positions[positions.length - 1]!.close) w.defect('missing-close-boundary', path);
    const childDefault = type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    let n = 0;
    for (let k = 0; k < positions.length; k++) {
      const p = positions[k]!;
      if (p.close) break;
      const next = positions[k + 1];
      // The CRLF before the next delimiter belongs to the delimiter.
      let partEnd = next ? next.at : end;
      if (next) {
        if (w.s[partEnd - 1] === '\n') partEnd--;
        if (w.s[partEnd - 1] === '\r') partEnd--;
      }
      n++;
      walkEntity(w, p.bodyFrom, Math.max(p.bodyFrom, partEnd), path ? `${path}.${n}` : String(n), depth + 1, childDefault);
      if (out.limitsExceeded && (out.parts.length >= limits.maxParts)) return;
    }
    if (n === 0) w.defect('multipart-without-parts', path);
    return;
  }
  if (type === 'message/rfc822' || type === 'message/global') {
    if (cte && ['base64', 'quoted-printable'].includes(cte)) return; // an encoded message is opaque here
    walkEntity(w, bodyStart, end, path ? `${path}.1` : '1', depth + 1, 'text/plain');
    return;
  }
  // Leaf checks, bounded to the first 1 MiB so a huge part costs little.
  const sample = body.length > 1 << 20 ? body.slice(0, 1 << 20) : body;
  if ((!cte || cte === '7bit') && /[\x80-\xff]/.test(sample)) w.defect('8bit-in-7bit-part', path);
  if (cte === 'base64' && /[^A-Za-z0-9+/=\s]/.test(sample)) w.defect('invalid-base64', path);
  // Binary content (RFC 2045 2.9) is any octets: NUL and bare CR/LF are data there, defects elsewhere.
  if (cte === 'binary') return;
  if (cte !== 'base64' && sample.includes('\0')) w.defect('nul-byte', path);
  lineEnds(w, sample.length > 1 << 16 ? sample.slice(0, 1 << 16) : sample);
}

export function scanStructure(raw: Buffer, limits: MimeLimits = DEFAULT_LIMITS): Structure {
  const out: Structure = { headers: [], headerBytes: 0, parts: [], depth: 0, charsets: [], defects: [], limitsExceeded: false, utf8Headers: false, encodedWords: false };
  const w: Walk = {
    s: raw.toString('latin1'), // one char per byte: offsets stay byte offsets
    buf: raw,
    limits,
    out,
    lf: false,
    crlf: false,
    defect(code, part, detail = '') {
      if (out.defects.length < 200 && !out.defects.some((d) => d.code === code && d.part === part)) out.defects.push({ code, part, detail });
    },
  };
  walkEntity(w, 0, w.s.length, '', 0, 'text/plain');
  if (w.lf && w.crlf) w.defect('mixed-line-endings', '');
  for (const name of ['from', 'date']) if (!header(out.headers, name)) w.defect(`missing-${name}`, '');
  for (const name of ['from', 'sender', 'to', 'subject', 'date', 'message-id', 'content-type']) {
    if (out.headers.filter((f) => f.name.toLowerCase() === name).length > 1) w.defect('duplicate-header', '', name);
  }
  return out;
}
