/**
 * Linear replacements for regexes of the spam tokenizer and its HTML pass that backtracked on
 * attacker text (found by fuzz/targets/spam-tokenizer.ts: tens of seconds for 64 KiB; a run that a
 * regex scans from each of its positions costs the square of its length). Each function says which
 * regex it stands for; linear.test.ts checks them against those regexes on random text.
 */

// HTML: a regex that must reach a '>', '-->' or closing tag restarts its scan at every '<' when
// none follows ('<a ' × 50,000 took seconds). So each pattern runs only up to the last place it
// can end, or is a loop that gives up on a name once its closing tag is known to be missing.

/** `s` up to and including the last `end`, and the rest (no match of a pattern ending in `end` reaches into it). */
export function upToLast(s: string, end: string): [string, string] {
  const i = s.lastIndexOf(end);
  return i < 0 ? ['', s] : [s.slice(0, i + end.length), s.slice(i + end.length)];
}

/** Whether a tag named by `names` has attributes matching `attr` — /<(names)[^>]+attr/i, linear. */
export function tagHas(html: string, names: string, attr: RegExp): boolean {
  // Every attempt ends at the next '>' or at the end of the text: no attempt fails, none rescans.
  const open = new RegExp(`<(?:${names})([^>]*)(?:>|$)`, 'gi');
  for (const m of html.matchAll(open)) if (attr.test(m[1]!)) return true;
  return false;
}

/** `html` without <script>, <style> and <head> elements — /<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, linear. */
export function withoutBlocks(html: string): string {
  const open = /<(script|style|head)\b/gi;
  const unclosed = new Set<string>();
  let out = '';
  let from = 0;
  for (let m = open.exec(html); m; m = open.exec(html)) {
    const name = m[1]!.toLowerCase();
    if (unclosed.has(name)) continue;
    const close = new RegExp(`<\\/${name}\\s*>`, 'gi');
    close.lastIndex = open.lastIndex;
    if (!close.exec(html)) {
      unclosed.add(name); // no later <name> can find a closing tag either
      continue;
    }
    out += `${html.slice(from, m.index)} `;
    from = close.lastIndex;
    open.lastIndex = from;
  }
  return out + html.slice(from);
}

// Text and header fields.

const STRIP_LEAD = new Set('("\'[{<*');
const STRIP_TRAIL = new Set(')"\']}>*,.;:');

/** `raw` without leading ("'[{<* and trailing )"']}>*,.;: — /^[("'[{<*]+|[)"'\]}>*,.;:]+$/g, linear. */
export function stripPunctuation(raw: string): string {
  let a = 0;
  while (a < raw.length && STRIP_LEAD.has(raw[a]!)) a++;
  let b = raw.length;
  while (b > a && STRIP_TRAIL.has(raw[b - 1]!)) b--;
  return raw.slice(a, b);
}

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

/** The last word of `s` (after trailing white space is dropped) and where it starts. */
function lastWord(s: string): { word: string; start: number; end: number } {
  let end = s.length;
  while (end > 0 && isSpace(s[end - 1])) end--;
  let start = end;
  while (start > 0 && !isSpace(s[start - 1])) start--;
  return { word: s.slice(start, end), start, end };
}

/** /\s{3,}\S+$/: a word at the very end after at least three white-space characters. */
export function wordAfterThreeSpaces(s: string): boolean {
  if (s.length === 0 || isSpace(s[s.length - 1])) return false;
  const { start } = lastWord(s);
  let k = start;
  while (k > 0 && isSpace(s[k - 1])) k--;
  return start - k >= 3;
}

/** /[\s.,!?-]\s*[a-z]{2,5}\s*$/: two to five lower-case letters at the end after white space or .,!?- */
export function shortWordAtEnd(s: string): boolean {
  const { end } = lastWord(s);
  let start = end;
  while (start > 0 && end - start <= 5 && /[a-z]/.test(s[start - 1]!)) start--;
  const n = end - start;
  if (n < 2 || n > 5) return false;
  const before = s[start - 1];
  return before !== undefined && (isSpace(before) || '.,!?-'.includes(before));
}

/** /@([^>\s]+)>?\s*$/ on a Message-ID: what follows the first '@' of its last word. */
export function messageIdDomain(id: string): string | undefined {
  let { word } = lastWord(id);
  if (word.endsWith('>')) word = word.slice(0, -1);
  if (word.includes('>')) word = word.slice(word.lastIndexOf('>') + 1);
  const at = word.indexOf('@');
  return at >= 0 && at < word.length - 1 ? word.slice(at + 1) : undefined;
}
