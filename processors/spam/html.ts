/**
 * HTML → visible text for tokenizing, plus structural evidence: hidden text, images, forms, links and
 * the text of each link.
 *
 * A hand-written single-pass scanner, linear in the input: every character is looked at a bounded
 * number of times and no pattern backtracks over the document. Measured and rejected: the former
 * regex pass (a `<a ` repeated 60,000 times took ~50 s: each unterminated tag was rescanned to the
 * end) and htmlparser2 10 (quadratic in nesting depth: `<div>` × 100,000 then `</span>` × 100,000
 * takes 44 s, its open-element stack is an array it unshifts and searches). Here the element stack
 * is capped (MAX_DEPTH), so matching a close tag costs a bounded search.
 */
import { decodeHTML } from 'entities';

export interface HtmlAnchor {
  /** The href, entity-decoded. */
  href: string;
  /** The link's visible text (capped at MAX_ANCHOR_TEXT characters). */
  text: string;
}

export interface HtmlInfo {
  /** Visible text: tags removed, entities decoded, block elements as line breaks, hidden elements left out. */
  text: string;
  /** Characters of text inside hidden elements (display:none, visibility:hidden, zero-size fonts, `hidden`). */
  hiddenChars: number;
  /** href/src/action targets, in document order. */
  links: string[];
  /** Links with their visible text (at most MAX_ANCHORS). */
  anchors: HtmlAnchor[];
  features: string[];
}

/** Open elements tracked; deeper nesting is flattened (a document that deep is hostile anyway). */
const MAX_DEPTH = 256;
const MAX_ANCHORS = 100;
const MAX_ANCHOR_TEXT = 200;
/** Attribute values looked at for style/colour checks (longer ones are cut). */
const MAX_ATTR_CHECK = 1000;
/** Characters of <style> content looked at for hiding rules. */
const MAX_STYLE_CHECK = 20_000;

const BLOCK = new Set(['p', 'br', 'div', 'tr', 'td', 'th', 'li', 'ul', 'ol', 'table', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'title', 'center', 'blockquote', 'pre', 'section', 'article', 'header', 'footer', 'dd', 'dt', 'dl', 'form', 'address']);
/** Elements with no end tag: never pushed on the stack. */
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);
/** Their content is not markup: skipped to the matching end tag. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'xmp', 'noscript', 'iframe', 'noembed', 'noframes', 'title']);

const HIDING_STYLE = /display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*[01](?:px|pt|em)?\b|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$)|max-height\s*:\s*0/i;
const WHITE = /^\s*(?:#?(?:fff|ffffff)|white)\s*$/i;
const STYLE_COLOR = /(?:^|[;\s])color\s*:\s*(#?(?:fff|ffffff)|white)\b/i;

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 58 || c === 95;
}
function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}

interface Tag {
  name: string;
  closing: boolean;
  /** Attributes (first value of each name); null when the tag has none. */
  attrs: Map<string, string> | null;
  /** Index just past the tag's '>'. */
  end: number;
}

/**
 * Reads one tag starting at `<` (src[i] === '<'). Returns null when this is not a tag (the '<' is text)
 * or, with end = -1, when the tag is never closed (the rest of the document is inside it).
 */
function readTag(src: string, i: number): Tag | null {
  const n = src.length;
  let j = i + 1;
  let closing = false;
  if (src.charCodeAt(j) === 47) { closing = true; j++; }
  if (!isLetter(src.charCodeAt(j))) return null;
  const start = j;
  while (j < n && isNameChar(src.charCodeAt(j))) j++;
  const name = src.slice(start, j).toLowerCase();
  let attrs: Map<string, string> | null = null;
  for (;;) {
    while (j < n && (isSpace(src.charCodeAt(j)) || src.charCodeAt(j) === 47)) j++;
    if (j >= n) return { name, closing, attrs, end: -1 };
    if (src.charCodeAt(j) === 62) return { name, closing, attrs, end: j + 1 };
    const an = j;
    while (j < n) {
      const c = src.charCodeAt(j);
      if (isSpace(c) || c === 47 || c === 62 || c === 61) break;
      j++;
    }
    if (j === an) j++; // a stray '=' etc.: step over it
    const attrName = src.slice(an, j).toLowerCase();
    while (j < n && isSpace(src.charCodeAt(j))) j++;
    let value = '';
    if (src.charCodeAt(j) === 61) {
      j++;
      while (j < n && isSpace(src.charCodeAt(j))) j++;
      const q = src.charCodeAt(j);
      if (q === 34 || q === 39) {
        const close = src.indexOf(q === 34 ? '"' : "'", j + 1);
        if (close < 0) return { name, closing, attrs, end: -1 };
        value = src.slice(j + 1, close);
        j = close + 1;
      } else {
        const vs = j;
        while (j < n && !isSpace(src.charCodeAt(j)) && src.charCodeAt(j) !== 62) j++;
        value = src.slice(vs, j);
      }
    }
    if (attrName) {
      attrs ??= new Map();
      if (!attrs.has(attrName)) attrs.set(attrName, value);
    }
  }
}

function hidesContent(tag: Tag): boolean {
  const attrs = tag.attrs;
  if (!attrs) return false;
  const style = attrs.get('style');
  if (style && HIDING_STYLE.test(style.slice(0, MAX_ATTR_CHECK))) return true;
  if (attrs.has('hidden')) return true;
  if (tag.name === 'font') {
    const size = attrs.get('size')?.trim();
    if (size !== undefined && /^(?:0|-[2-9])$/.test(size.slice(0, 4))) return true;
  }
  return false;
}

function whiteText(tag: Tag): boolean {
  if (!tag.attrs) return false;
  const color = tag.attrs.get('color');
  if (color !== undefined && WHITE.test(color.slice(0, 40))) return true;
  const style = tag.attrs.get('style');
  return style !== undefined && STYLE_COLOR.test(style.slice(0, MAX_ATTR_CHECK));
}

export function htmlToText(html: string, maxChars = 256 * 1024): HtmlInfo {
  const src = html.length > maxChars ? html.slice(0, maxChars) : html;
  const lower = src.toLowerCase();
  const n = src.length;
  const features = new Set<string>();
  const links: string[] = [];
  const anchors: HtmlAnchor[] = [];
  const counts = { img: 0, font: 0, table: 0 };
  const out: string[] = [];
  let hiddenChars = 0;
  /** Open elements: name and whether it (or an ancestor) hides its content. */
  const stack: { name: string; hidden: boolean }[] = [];
  let anchor: { href: string; text: string } | null = null;
  let inHead = false;

  const hiddenNow = () => stack.length > 0 && stack[stack.length - 1]!.hidden;
  const emitText = (raw: string) => {
    if (!raw) return;
    const text = raw.includes('&') ? decodeHTML(raw) : raw;
    if (inHead) return;
    if (hiddenNow()) { hiddenChars += text.trim().length; return; }
    out.push(text);
    if (anchor && anchor.text.length < MAX_ANCHOR_TEXT) anchor.text += text.slice(0, MAX_ANCHOR_TEXT - anchor.text.length);
  };
  const closeAnchor = () => {
    if (anchor && anchors.length < MAX_ANCHORS) anchors.push({ href: anchor.href, text: anchor.text.trim() });
    anchor = null;
  };

  let i = 0;
  while (i < n) {
    const lt = src.indexOf('<', i);
    if (lt < 0) { emitText(src.slice(i)); break; }
    if (lt > i) emitText(src.slice(i, lt));
    // Comments and declarations: <!-- … -->, <!DOCTYPE …>, <? … >. An unterminated one runs to the end.
    if (src.startsWith('<!--', lt)) {
      features.add('html:comment');
      const end = src.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    const c1 = src.charCodeAt(lt + 1);
    if (c1 === 33 || c1 === 63) {
      const end = src.indexOf('>', lt + 2);
      i = end < 0 ? n : end + 1;
      continue;
    }
    const tag = readTag(src, lt);
    if (!tag) { emitText('<'); i = lt + 1; continue; }
    if (tag.end < 0) break; // an unterminated tag swallows the rest (as browsers do at end of input)
    i = tag.end;
    const name = tag.name;
    if (BLOCK.has(name) && !inHead) out.push('\n');
    if (tag.closing) {
      if (name === 'head') inHead = false;
      if (name === 'a') closeAnchor();
      // Pop to the matching element; the stack is capped, so this search is bounded.
      for (let k = stack.length - 1; k >= 0; k--) {
        if (stack[k]!.name === name) { stack.length = k; break; }
      }
      continue;
    }
    switch (name) {
      case 'head': inHead = true; break;
      case 'body': inHead = false; break;
      case 'img': counts.img++; break;
      case 'font': counts.font++; break;
      case 'table': counts.table++; break;
      case 'script': features.add('html:script'); break;
      case 'iframe': case 'object': case 'embed': features.add('html:embed'); break;
      case 'form': features.add('html:form'); break;
      case 'style': features.add('html:style'); break;
    }
    const attrs = tag.attrs;
    if (attrs?.has('style')) features.add('html:style');
    const ref = attrs ? attrs.get('href') ?? attrs.get('src') ?? attrs.get('action') : undefined;
    const target = ref !== undefined ? (ref.includes('&') ? decodeHTML(ref) : ref).trim() : undefined;
    if (target) links.push(target);
    if (name === 'a') {
      closeAnchor();
      if (target) anchor = { href: target, text: '' };
    }
    const hides = hidesContent(tag);
    if (hides) features.add('html:hidden-text');
    if (whiteText(tag)) features.add('html:white-text');
    if (RAW_TEXT.has(name)) {
      // Raw text: find the end tag in the lower-cased copy (one indexOf, linear).
      const end = lower.indexOf(`</${name}`, i);
      const content = src.slice(i, end < 0 ? n : end);
      if (name === 'style' && HIDING_STYLE.test(content.slice(0, MAX_STYLE_CHECK))) features.add('html:hidden-text');
      else if (name === 'title' || name === 'textarea') emitText(content);
      if (end < 0) break;
      const gt = src.indexOf('>', end);
      i = gt < 0 ? n : gt + 1;
      if (BLOCK.has(name)) out.push('\n');
      continue;
    }
    if (!VOID.has(name) && stack.length < MAX_DEPTH) stack.push({ name, hidden: hides || hiddenNow() });
  }
  closeAnchor();
  const text = out.join('');
  if (counts.img > 0) features.add(`html:img:${counts.img > 5 ? 'many' : counts.img > 1 ? 'some' : 'one'}`);
  if (counts.font > 0) features.add('html:font');
  if (counts.table > 0) features.add('html:table');
  if (counts.img > 0 && countWords(text, 30) < 30) features.add('html:image-mostly');
  return { text, hiddenChars, links, anchors, features: [...features] };
}

/** Words (runs of non-space) in text, counting at most to `cap`. */
export function countWords(text: string, cap = Infinity): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length && words < cap; i++) {
    const c = text.charCodeAt(i);
    const ws = c === 32 || (c >= 9 && c <= 13) || c === 160;
    if (!ws && !inWord) words++;
    inWord = !ws;
  }
  return words;
}
