/**
 * The generator's model of a message: what each header and body means (decoded) together with
 * every choice of how it is written (charset and B/Q of each encoded word, RFC 2231 continuations,
 * transfer encodings, boundaries). The encoder turns a model into bytes; the expected tree is
 * computed from the model alone.
 */

/** How a run of words is written: an encoded word (RFC 2047), or as it is (ASCII, or UTF-8 per RFC 6532). */
export interface WordEncoding {
  charset: string;
  method: 'B' | 'Q';
}

/** A word of header text and how it is written; words are separated by one space when decoded. */
export interface Word {
  text: string;
  enc: WordEncoding | null;
}

/** Display name of a mailbox or group. */
export interface Phrase {
  /** atoms: words as atoms or encoded words; quoted: one quoted-string (ASCII or RFC 6532 UTF-8). */
  style: 'atoms' | 'quoted';
  words: Word[];
}

export interface Mailbox {
  kind: 'mailbox';
  name: Phrase | null;
  /** Local part as it means (unquoted); `localQuoted` writes it as a quoted-string. */
  local: string;
  localQuoted: boolean;
  domain: string;
  /** `<addr>` even without a display name. */
  angle: boolean;
  /** A comment after the address: `a@b (comment)`; not part of the display name. */
  comment: string | null;
}

export interface Group {
  kind: 'group';
  name: Phrase;
  members: Mailbox[];
}

export type Address = Mailbox | Group;

export interface DateValue {
  /** The instant, in milliseconds since the epoch (whole seconds). */
  epochMs: number;
  /** Zone offset in minutes, written as ±hhmm. */
  offsetMinutes: number;
  dayName: boolean;
  seconds: boolean;
  /** Comment after the zone, e.g. `(CET)`. */
  comment: string | null;
  /** Day of month written with two digits (`01`) instead of one. */
  padDay: boolean;
}

/** A parameter of Content-Type or Content-Disposition and how it is written. */
export interface Param {
  /** Name as written (case varies); compared in lower case. */
  name: string;
  value: string;
  /**
   * token: `a=b`; quoted: `a="b"`; ext: RFC 2231 `a*=charset'lang'pct`; cont: RFC 2231 continuations
   * `a*0="…"; a*1="…"` (plain, ASCII); extcont: `a*0*=charset''…; a*1*=…` (encoded continuations).
   */
  style: 'token' | 'quoted' | 'ext' | 'cont' | 'extcont';
  charset: string | null;
  language: string | null;
  /** Characters per continuation segment (cont/extcont). */
  segment: number;
}

export type FieldValue =
  | { kind: 'text'; words: Word[] }
  | { kind: 'address'; list: Address[] }
  | { kind: 'date'; date: DateValue }
  | { kind: 'ids'; ids: string[] }
  /** Structured fields we do not model further: written and compared as unfolded text. */
  | { kind: 'raw'; segments: string[] }
  /** The entity's Content-Type / Content-Disposition / Content-Transfer-Encoding, written from the entity. */
  | { kind: 'content-type' }
  | { kind: 'content-disposition' }
  | { kind: 'content-transfer-encoding' };

export interface Field {
  /** Field name as written (case varies). */
  name: string;
  value: FieldValue;
  /** No space after the colon (`Subject:x`), valid and rare. */
  tight?: boolean;
}

export interface LeafBody {
  kind: 'leaf';
  /** The decoded body: the bytes after the transfer encoding is undone. */
  data: Buffer;
  /** For text: the text the bytes mean in the part's charset (CRLF line ends). */
  text: string | null;
  /** Line length of base64 (a multiple of 4, ≤ 76) or quoted-printable (≤ 76). */
  lineLength: number;
}

export interface MultipartBody {
  kind: 'multipart';
  boundary: string;
  preamble: string | null;
  epilogue: string | null;
  /** Whitespace after delimiters (transport padding, RFC 2046 5.1.1). */
  padding: string;
  parts: Entity[];
}

export interface MessageBody {
  kind: 'message';
  message: Entity;
}

export type Body = LeafBody | MultipartBody | MessageBody;

export interface Entity {
  fields: Field[];
  /** Media type as written (case varies); `declared: false` writes no Content-Type (the default applies). */
  type: string;
  subtype: string;
  declared: boolean;
  params: Param[];
  /** Comment after the Content-Type value: `text/plain (comment); charset=…`. */
  typeComment: string | null;
  disposition: { type: string; params: Param[] } | null;
  /** Content-Transfer-Encoding as written (case varies); null writes none (7bit). */
  cte: string | null;
  body: Body;
}

/** A generated message: the model, its features and the options it was generated with. */
export interface Generated {
  id: string;
  seed: string;
  index: number;
  root: Entity;
  /** Names of what the message exercises (encoded-words, rfc2231, digest, deep, 998-line, …). */
  features: string[];
}
