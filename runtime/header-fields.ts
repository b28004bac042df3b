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

/**
 * The name a lenient reader might take `text` (a field's text up to, not including, its first
 * colon, continuation lines and all) for: only its printable ASCII characters, ASCII lower-cased.
 * A mail client or filter that stops at NUL, drops control characters, unfolds before it splits
 * at the colon, or decodes UTF-8 and trims a no-break space or a zero-width character reads
 * `Authentication-Results\0`, `\x01Authentication-Results`, `Authentication-Results\r\n ` and
 * `Authentication-Results\xc2\xa0` as Authentication-Results. A valid name (ftext) is its own
 * lookalike. For removing fields that only we may write, never for reading.
 */
export function lookalikeName(text: string): string {
  return asciiLower(text.replace(/[^\x21-\x7e]+/g, ''));
}
