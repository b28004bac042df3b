/**
 * Header field names as every reader of a raw header section takes them: the MIME stage's structure
 * scan, the spam stage's raw fields, the DKIM signer's sender policy, the egress relay's forged-field
 * removal and the operator's quarantine listing. Each used to carry its own copy and they agreed only
 * as far as fuzzing had found (a form feed before the colon once made egress and MIME disagree);
 * cli/header-field-names.test.ts pins the agreement on a table of tricky names.
 *
 * Readers pass the raw bytes decoded one char per byte (latin1, see headerBlock), so every reader
 * sees the same characters: a UTF-8 decoder turns C2 A0 into a no-break space that trimEnd drops,
 * while a latin1 reader keeps the `Â` before it. Values that are UTF-8 (RFC 6532) are decoded after.
 */

/**
 * The most characters of an address field's value any stage hands to an address parser: the auth
 * stage's From (all From fields together) and Return-Path (mailauth's `maxFromLength`), the DKIM
 * signer's From and Sender. Why 8 KiB: a From is one mailbox (RFC 5322 §3.6.2) whose address is at
 * most a 256-octet path (RFC 5321 §4.5.3.1.3), on lines of at most 998 characters (RFC 5322 §2.1.1),
 * so eight such lines hold any real one with its display name; past it the parsers cost CPU out of
 * proportion, synchronously (a token per character of a run of ":" or ";": 1 MB took ~1.2 s in
 * nodemailer's parser inside mailauth, ~0.9 s in postal-mime's). One constant, so the signer never
 * signs a From longer than the auth stage — ours or a receiver's like it — reads.
 */
export const MAX_ADDRESS_FIELD_LENGTH = 8 * 1024;

/**
 * The name of the field that `field` starts, as written, or null when it starts none: the text
 * before the first colon of its first line, white space before the colon dropped. The obsolete
 * syntax allows only space and tab there (RFC 5322 4.5.1 obs-optional); a lenient reader drops any
 * (String.trimEnd: form feed, vertical tab, bare CR, no-break space…), so we all drop the most. A
 * colon after a line break (a fold inside the name), an empty name, and a name that starts with white
 * space (a continuation line, or a form feed no reader takes for a name) start no field. Whether the
 * characters are valid in a name (RFC 5322 ftext) is the caller's question: a structure scan refuses
 * them, a filter of forged fields had better not.
 */
export function rawFieldName(field: string): string | null {
  const colon = field.indexOf(':');
  if (colon <= 0) return null;
  // Looked for before the colon only: the value may be megabytes long.
  if (field.lastIndexOf('\n', colon) >= 0) return null;
  const name = field.slice(0, colon).trimEnd();
  if (name === '' || name.trimStart() !== name) return null;
  return name;
}

/**
 * The canonical name of the field that `field` starts (rawFieldName, lower-cased), or null. Only
 * ASCII letters are lower-cased: Unicode case mapping turns the Kelvin sign (U+212A) into `k`, which
 * would make `D\u212AIM-Signature` a DKIM-Signature for a reader that decoded UTF-8.
 */
export function fieldName(field: string): string | null {
  const name = rawFieldName(field);
  return name === null ? null : asciiLower(name);
}

/** A name as given (configuration, code), canonical: ASCII letters lower-cased. */
export function asciiLower(name: string): string {
  return name.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The top-level header section of a raw message as latin1 text, up to the blank line that ends it:
 * the first CRLF CRLF, or a bare LF LF before it (as the MIME stage reads it); none when the message
 * starts with its blank line (RFC 5322 2.1); at most `maxBytes`.
 */
export function headerBlock(raw: Buffer, maxBytes = raw.length): string {
  if (raw[0] === 0x0a || (raw[0] === 0x0d && raw[1] === 0x0a)) return '';
  let end = raw.indexOf('\r\n\r\n');
  const lf = raw.subarray(0, end < 0 ? raw.length : end).indexOf('\n\n');
  if (lf >= 0) end = lf;
  if (end < 0) end = raw.length;
  return raw.toString('latin1', 0, Math.min(end, maxBytes));
}

/**
 * The fields of a header block: each field's text, its first line with its continuation lines (those
 * that start with space or tab) and their line breaks. A continuation stays with the line before it
 * even when that line is not a field, as the MIME stage reads it.
 */
export function splitFields(block: string): string[] {
  return block === '' ? [] : block.split(/\r?\n(?![ \t])/);
}

/** The text after the colon of a field that fieldName accepted: its value, folds and all. */
export function fieldValue(field: string): string {
  return field.slice(field.indexOf(':') + 1);
}

/** RFC 5322 ftext: a field name is printable US-ASCII but the colon. */
const FTEXT_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/**
 * The fields of a header block that start no valid field and continue none, each with its
 * continuation lines: lines the shared reading takes for no field (no colon on the first line, a
 * leading form feed or no-break space, an empty name, a continuation with nothing before it) and
 * names outside RFC 5322 ftext (a NUL, another control character, a non-ASCII byte). Every reader
 * here skips such a line or reads a name no check asks for; a receiver's parser may take `\fFrom:`
 * or `From\0:` for a From field. The empty text after a block's last line break is no line.
 */
export function malformedFields(block: string): string[] {
  const fields = splitFields(block);
  if (fields.at(-1) === '') fields.pop();
  return fields.filter((f) => {
    const name = rawFieldName(f);
    return name === null || !FTEXT_NAME.test(name);
  });
}

/*
 * The lenient view: a header field as a reader outside scop might take it (a mail client or filter
 * that stops at NUL, drops control characters, unfolds before it splits at the colon, or decodes
 * UTF-8 and trims). No reader in scop reads a field this way; the egress removes the fields that only
 * we may write when either view finds one (egress/relay/README.md, lookalikes), and the headers fuzz
 * target checks that none is left. For removing fields, never for reading them.
 */

/**
 * Longest lenient name read, in characters: longer than any name it is compared with. A longer one is
 * cut to one character more, so it equals no name up to this long and starts with the same prefix.
 */
export const MAX_LENIENT_NAME = 256;

/**
 * The name a lenient reader might take `text` (a field's text up to, not including, its first
 * colon, continuation lines and all) for: only its printable ASCII characters, ASCII lower-cased.
 * A mail client or filter that stops at NUL, drops control characters, unfolds before it splits
 * at the colon, or decodes UTF-8 and trims a no-break space or a zero-width character reads
 * `Authentication-Results\0`, `\x01Authentication-Results`, `Authentication-Results\r\n ` and
 * `Authentication-Results\xc2\xa0` as Authentication-Results. A valid name (ftext) is its own
 * lookalike. Bounded: at most MAX_LENIENT_NAME + 1 characters come back, and the scan stops there
 * (a name of megabytes of letters costs no more than a short one; one of control characters is
 * one pass that allocates nothing).
 */
export function lookalikeName(text: string): string {
  let name = '';
  for (let i = 0; i < text.length && name.length <= MAX_LENIENT_NAME; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) name += String.fromCharCode(c | 0x20);
    else if (c >= 0x21 && c <= 0x7e) name += text[i];
  }
  return name;
}

/** A field in the lenient view: its lookalike name and the text after the colon that ends it (folds and all). */
export interface LenientField {
  name: string;
  value: string;
}

/**
 * The field that `field` (a field's text with its continuation lines, as splitFields gives it) is in
 * the lenient view, or null when it has no colon: the name is the lookalike (lookalikeName) of the
 * text before its first colon, which may come after a fold (a reader that unfolds first finds it
 * there), and may be empty. Unlike fieldName, a line that starts with white space or names nothing
 * valid still has a lenient name. Linear: one search for the colon, one pass over the name; the
 * value is a slice.
 */
export function lenientField(field: string): LenientField | null {
  const colon = field.indexOf(':');
  if (colon < 0) return null;
  return { name: lookalikeName(field.slice(0, colon)), value: field.slice(colon + 1) };
}

/** Longest authserv-id read: no id of ours is longer than a host name; a longer one is not ours. */
const MAX_AUTHSERV_ID = 1024;

/** What the lenient reading of an authserv-id drops: line breaks and control characters but tab. */
const lenientDrops = (c: number) => (c <= 0x1f && c !== 0x09) || c === 0x7f;
const TOKEN_END = /[\s;()"]/;

/**
 * The authserv-id an Authentication-Results value starts with (RFC 8601 §2.2: CFWS, then a token or
 * quoted-string), lower-cased, reading `value` as if the characters `drops` takes were not there;
 * null when it cannot be read. Linear and allocation-free over the CFWS (comments nest), then at
 * most MAX_AUTHSERV_ID characters.
 */
function readAuthservId(value: string, drops: (c: number) => boolean): string | null {
  const n = value.length;
  let i = 0;
  const kept = () => {
    while (i < n && drops(value.charCodeAt(i))) i++;
  };
  // CFWS: white space and comments, which nest and may hold quoted pairs.
  let depth = 0;
  for (kept(); i < n; i++, kept()) {
    const c = value[i]!;
    if (depth > 0) {
      if (c === '\\') {
        i++;
        kept();
      } else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') depth++;
    else if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n') break;
  }
  if (i >= n) return null;
  let id = '';
  if (value[i] === '"') {
    for (i++, kept(); i < n && value[i] !== '"' && id.length <= MAX_AUTHSERV_ID; i++, kept()) {
      if (value[i] === '\\') {
        i++;
        kept();
        id += value[i] ?? '';
      } else id += value[i];
    }
    if (i >= n) return null; // unterminated quoted-string
  } else {
    for (; i < n && id.length < MAX_AUTHSERV_ID && !TOKEN_END.test(value[i]!); i++, kept()) id += value[i];
    if (id === '') return null;
  }
  return id.trim().toLowerCase() || null;
}

/**
 * The authserv-id an Authentication-Results value starts with (RFC 8601 §2.2: CFWS, then a token or
 * quoted-string), lower-cased; null when it cannot be read. This is the strict reading: as every
 * reader in scop reads the value (folds are white space, a control character ends the CFWS).
 */
export const authservIdOf = (value: string): string | null => readAuthservId(value, () => false);

/** The two readings of an authserv-id: null where one cannot be read. */
export interface AuthservIdReadings {
  /** As every reader in scop reads it (authservIdOf). */
  strict: string | null;
  /** In the lenient view: line breaks and control characters but tab dropped first (`mx.scop\x01.test` is `mx.scop.test`). */
  lenient: string | null;
}

/**
 * The authserv-id of an Authentication-Results value (folds and all) in both readings. They differ on
 * control characters: `(c) \fe"mx.t-` is unreadable strictly (the form feed ends the CFWS) and reads
 * `e` leniently, so a field is ours or unreadable when either reading says so. The lenient reading
 * skips what it drops as it goes: no copy of the value.
 */
export function authservIdReadings(value: string): AuthservIdReadings {
  return { strict: authservIdOf(value), lenient: readAuthservId(value, lenientDrops) };
}
