/**
 * HTML → text for tokenizing, plus a few structural signals. Hand-written (a regex pass) rather
 * than html-to-text: the scorer's budget is well under a millisecond per message, we need no
 * layout, and the structural signals (hidden text, images, forms) come out of the same pass.
 */
import { decodeHTML } from 'entities';
import { tagHas, upToLast, withoutBlocks } from './linear.ts';

export interface HtmlInfo {
  text: string;
  /** href/src targets, in document order. */
  links: string[];
  features: string[];
}

const MAX_HTML = 256 * 1024;

export function htmlToText(html: string): HtmlInfo {
  const src = html.length > MAX_HTML ? html.slice(0, MAX_HTML) : html;
  const features = new Set<string>();
  const links: string[] = [];
  const tagCounts = { img: 0, a: 0, font: 0, table: 0 };
  const [commented, afterComments] = upToLast(src, '-->');
  if (/<!--[\s\S]*?-->/.test(commented)) features.add('html:comment');
  let body = commented.replace(/<!--[\s\S]*?-->/g, ' ') + afterComments;
  if (/<script\b/i.test(body)) features.add('html:script');
  if (/<(iframe|object|embed)\b/i.test(body)) features.add('html:embed');
  if (/<form\b/i.test(body)) features.add('html:form');
  if (/<style\b|\sstyle\s*=/i.test(body)) features.add('html:style');
  if (/display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*[01](px|pt)?\b/i.test(body) || tagHas(body, 'font', /[\s\S]size\s*=\s*["']?[-]?[01]\b/i)) features.add('html:hidden-text');
  if (tagHas(body, 'font|td|body|div|span|p', /[\s\S]color\s*=\s*["']?#?(fff|ffffff|white)\b/i)) features.add('html:white-text');
  body = withoutBlocks(body);
  const [tagged, afterTags] = upToLast(body, '>');
  body = tagged.replace(/<\/?([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>/g, (_m, tagName: string, attrs: string) => {
    const tag = tagName.toLowerCase();
    if (tag in tagCounts) tagCounts[tag as keyof typeof tagCounts]++;
    const ref = /\b(?:href|src|action)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(attrs);
    if (ref) links.push(decodeHTML(ref[1] ?? ref[2] ?? ref[3] ?? ''));
    // Block elements separate words; inline ones (b, font, span) may split a word to fool filters.
    return /^(p|br|div|tr|td|th|li|table|h[1-6]|hr|title|center|blockquote)$/.test(tag) ? '\n' : '';
  }) + afterTags;
  const [rest, afterRest] = upToLast(body, '>');
  body = rest.replace(/<\/?[^>]*>/g, '') + afterRest;
  const text = decodeHTML(body);
  if (tagCounts.img > 0) features.add(`html:img:${tagCounts.img > 5 ? 'many' : tagCounts.img > 1 ? 'some' : 'one'}`);
  if (tagCounts.font > 0) features.add('html:font');
  if (tagCounts.table > 0) features.add('html:table');
  const words = text.split(/\s+/).filter(Boolean).length;
  if (tagCounts.img > 0 && words < 30) features.add('html:image-mostly');
  return { text, links, features: [...features] };
}
