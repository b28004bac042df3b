/**
 * Obfuscated spellings (`v1agra`, `c!al!s`, `$ex`, `v@lium`, `v-i-a-g-r-a`, `V.I.A.G.R.A`,
 * `v i a g r a`, a zero-width space or soft hyphen inside a word, a Cyrillic `а` inside a Latin
 * word) → the plain spelling, so the word's evidence is found, and a count of such words, which is
 * evidence of its own. Hand-written scans over the characters, one pass per word, no regular
 * expressions: the input is attacker text (redos.test.ts covers the tokenizer with it).
 */

/** Invisible inside a word: zero-width space / non-joiner / joiner, word joiner, BOM, soft hyphen. */
const INVISIBLE = new Set(['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad']);

/** Cyrillic and Greek letters drawn like a Latin one (lower case: the words are lower-cased first). */
const HOMOGLYPHS: Record<string, string> = {
  'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x',
  'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ɡ': 'g', 'ӏ': 'l',
  'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
};

/** Digits and symbols written for a letter, taken as that letter only between two letters (`$` also first, before a letter: `$ex`; not `@`, which starts a handle). */
const LOOKALIKES: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', '$': 's', '!': 'i', '|': 'l' };

/** Separators between single letters inside one word (`v-i-a-g-r-a`, `v.i.a.g.r.a`). */
const SEPARATORS = new Set(['-', '.', '_', '*', "'", '/', '~', '+', '=']);

/** Letters split apart must be this many: `a.k.a`, `u.s.a` and `i.e.` are not obfuscation. */
export const MIN_SPACED = 4;
/** A word with look-alikes in it must have this many letters (`$ex`). */
export const MIN_PLAIN = 3;
/** …and at most this many (the tokenizer's longest word). */
export const MAX_PLAIN = 12;

const isAsciiLetter = (c: string | undefined) => c !== undefined && c >= 'a' && c <= 'z';
const isLetterLike = (c: string | undefined) => c !== undefined && (isAsciiLetter(c) || HOMOGLYPHS[c] !== undefined);

/**
 * The plain spelling of a lower-cased word (leading/trailing punctuation already stripped), or null
 * when it is not an obfuscated word: a plain word, a number, a version string, real Cyrillic or Greek
 * text, a word with other symbols in it. Bounded: words longer than 4 × MAX_PLAIN are not looked at.
 */
export function plainSpelling(word: string): string | null {
  const n = word.length;
  if (n < 3 || n > 4 * MAX_PLAIN) return null;
  // Fast path: most words are plain a–z.
  let plain = true;
  for (let i = 0; i < n; i++) { const c = word.charCodeAt(i); if (c < 97 || c > 122) { plain = false; break; } }
  if (plain) return null;
  return spacedInWord(word) ?? substituted(word);
}

/** `v-i-a-g-r-a`: single letters, each pair split by the same separator. */
function spacedInWord(word: string): string | null {
  const n = word.length;
  if (n % 2 === 0 || (n + 1) / 2 < MIN_SPACED || (n + 1) / 2 > MAX_PLAIN) return null;
  const sep = word[1]!;
  if (!SEPARATORS.has(sep)) return null;
  let out = '';
  for (let i = 0; i < n; i++) {
    const c = word[i]!;
    if (i % 2 === 1) { if (c !== sep) return null; continue; }
    if (isAsciiLetter(c)) out += c;
    else if (HOMOGLYPHS[c]) out += HOMOGLYPHS[c];
    else return null;
  }
  return out;
}

/** Look-alike digits and symbols between letters, homoglyphs inside a Latin word, invisible characters. */
function substituted(word: string): string | null {
  let out = '';
  let latin = 0;
  let changed = false;
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (isAsciiLetter(c)) { out += c; latin++; continue; }
    if (INVISIBLE.has(c)) { changed = true; continue; }
    const h = HOMOGLYPHS[c];
    if (h) { out += h; changed = true; continue; }
    const l = LOOKALIKES[c];
    // Between letters (the neighbours, invisible characters skipped, may be look-alikes themselves: `c!al!s`); `$ex` at the start.
    if (l && ((out.length > 0 && isLetterLike(out[out.length - 1]) && nextLetterLike(word, i + 1)) || (i === 0 && c === '$' && isLetterLike(word[1])))) {
      out += l;
      changed = true;
      continue;
    }
    return null;
  }
  // A word of Cyrillic or Greek letters is that language, not a disguise: at least two Latin letters as written.
  if (!changed || latin < 2 || out.length < MIN_PLAIN || out.length > MAX_PLAIN) return null;
  return out;
}

/** The next character that is not invisible is a letter or another look-alike followed by a letter (bounded: look-alike runs of 2 at most). */
function nextLetterLike(word: string, from: number): boolean {
  let i = from;
  while (i < word.length && INVISIBLE.has(word[i]!)) i++;
  const c = word[i];
  if (isLetterLike(c)) return true;
  return c !== undefined && LOOKALIKES[c] !== undefined && isLetterLike(word[i + 1]);
}

/**
 * `v i a g r a`: a run of single letters given as separate words. Fed word by word; `end()` gives the
 * plain spelling of the run that just ended, if it was long enough (MIN_SPACED–MAX_PLAIN letters).
 */
export class SpacedLetters {
  private run = '';
  private overflow = false;

  /** Whether a one-character word (lower-cased) continues a run; anything else ends it (`end()`). */
  static isLetter(c: string): boolean {
    return isLetterLike(c);
  }

  /** A one-letter word (`isLetter`). */
  push(c: string): void {
    if (this.run.length >= MAX_PLAIN) { this.overflow = true; return; }
    this.run += HOMOGLYPHS[c] ?? c;
  }

  end(): string | null {
    const r = !this.overflow && this.run.length >= MIN_SPACED ? this.run : null;
    this.reset();
    return r;
  }

  private reset(): void {
    this.run = '';
    this.overflow = false;
  }
}

/** The count of obfuscated words as a structure token's bucket. */
export function obfuscatedBucket(n: number): string {
  return n <= 1 ? '1' : n <= 4 ? '2-4' : '5+';
}
