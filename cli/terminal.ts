/**
 * Message data on an operator's terminal. A Subject, a From, a file name or a reason text comes
 * from whoever sent the mail; printed as is, its escape sequences (ESC [ …, OSC 8 links, OSC 52
 * clipboard writes, a title change) or C1 controls act on the terminal, and Unicode bidi controls
 * make it show text other than what is there. Every CLI line that carries message data goes
 * through `printable` (text) or `printableJson` (--json, replay) — one place, used everywhere in cli/.
 */

/**
 * What must not reach a terminal: C0 controls (TAB and line ends too — each value is one field of
 * one line), DEL, C1 controls, and the invisible format characters that reorder or hide text
 * (ALM, zero-width and bidi marks, embeddings/overrides/isolates, line/paragraph separators,
 * word joiner and invisible operators, BOM, interlinear annotation). One character class: linear.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

const escapeOf = (c: string): string => {
  const code = c.charCodeAt(0);
  const named: Record<number, string> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' };
  return named[code] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`);
};

/** The text with every unsafe character shown as an escape (`\x1b`, `\u{202e}`); everything else unchanged. */
export function printable(value: unknown): string {
  return String(value ?? '').replace(UNSAFE, escapeOf);
}

/**
 * JSON.stringify, and then the characters it leaves raw (DEL, C1, bidi and other format marks,
 * U+2028/2029) as \uXXXX escapes: still the same JSON value for any parser, inert on a terminal.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
