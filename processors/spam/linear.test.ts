/**
 * The linear replacements in linear.ts give what the regexes they replace gave (random text over
 * the characters that matter, where the regexes are still quick), and they stay linear where the
 * regexes were not: the inputs (')' × 200,000 then 'a', a subject of spaces, '<a ' repeated)
 * and their relatives, 256 KiB each, through the whole tokenizer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { htmlToText } from './html.ts';
import { messageIdDomain, shortWordAtEnd, stripPunctuation, tagHas, upToLast, withoutBlocks, wordAfterThreeSpaces } from './linear.ts';
import { spamInput } from './testing.ts';
import { tokenize } from './tokenizer.ts';

const text = (chars: string[], maxLength = 40) => fc.string({ unit: fc.constantFrom(...chars), maxLength });
const same = <T>(arb: fc.Arbitrary<T>, check: (v: T) => void) => fc.assert(fc.property(arb, check), { numRuns: 3000 });

describe('linear replacements agree with the regexes they replace', () => {
  it('stripPunctuation = /^[("\'[{<*]+|[)"\'\\]}>*,.;:]+$/g', () => {
    same(text([...'("\'[{<*)]}>,.;:ab ']), (s) => assert.equal(stripPunctuation(s), s.replace(/^[("'[{<*]+|[)"'\]}>*,.;:]+$/g, ''), JSON.stringify(s)));
  });
  it('wordAfterThreeSpaces = /\\s{3,}\\S+$/', () => {
    same(text([' ', '\t', '\u00a0', 'a', 'b', '\n']), (s) => assert.equal(wordAfterThreeSpaces(s), /\s{3,}\S+$/.test(s), JSON.stringify(s)));
  });
  it('shortWordAtEnd = /[\\s.,!?-]\\s*[a-z]{2,5}\\s*$/', () => {
    same(text([' ', '\t', 'a', 'b', 'Z', '1', '.', ',', '!', '?', '-', ':']), (s) => assert.equal(shortWordAtEnd(s), /[\s.,!?-]\s*[a-z]{2,5}\s*$/.test(s), JSON.stringify(s)));
  });
  it('messageIdDomain = /@([^>\\s]+)>?\\s*$/', () => {
    same(text(['@', '>', '<', ' ', 'a', '.', '\t']), (s) => assert.equal(messageIdDomain(s), /@([^>\s]+)>?\s*$/.exec(s)?.[1], JSON.stringify(s)));
  });
  it('tagHas = /<(names)[^>]+attr/i', () => {
    const attr = /[\s\S]size\s*=\s*["']?[-]?[01]\b/i;
    same(text(['<font', '<FONT', '>', ' ', 'size', '=', '0', '1', '2', '"', '-', 'x', '<p']), (s) => {
      assert.equal(tagHas(s, 'font', attr), /<font[^>]+size\s*=\s*["']?[-]?[01]\b/i.test(s), JSON.stringify(s));
      assert.equal(tagHas(s, 'font|td|p', /[\s\S]color\s*=\s*["']?#?(fff|ffffff|white)\b/i), /<(font|td|p)[^>]+color\s*=\s*["']?#?(fff|ffffff|white)\b/i.test(s), JSON.stringify(s));
    });
  });
  it('withoutBlocks = replace(/<(script|style|head)\\b[\\s\\S]*?<\\/\\1\\s*>/gi, " ")', () => {
    same(text(['<script', '<SCRIPT', '</script', '<style', '</style', '<head', '</head', '>', ' ', 'x', '<', '/'], 30), (s) => {
      assert.equal(withoutBlocks(s), s.replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' '), JSON.stringify(s));
    });
  });
  it('a pattern ending in ">" run up to the last ">" = run on the whole text', () => {
    same(text(['<', '>', 'a', ' ', '/', 'b']), (s) => {
      const [head, tail] = upToLast(s, '>');
      assert.equal(head.replace(/<\/?[^>]*>/g, '') + tail, s.replace(/<\/?[^>]*>/g, ''), JSON.stringify(s));
    });
  });
});

describe('the tokenizer on hostile text (found by fuzz/targets/spam-tokenizer.ts)', () => {
  const N = 256 * 1024;
  const cases: [string, Parameters<typeof spamInput>[0]][] = [
    ["')' × n then 'a' (word strip)", { text: `${')'.repeat(N)}a` }],
    ['a subject of spaces', { subject: ' '.repeat(N) }],
    ['a subject of spaces, then a word', { subject: `${' '.repeat(N)}x ` }],
    ["'<a ' repeated", { html: '<a '.repeat(N / 3) }],
    ['a run of dashes (list footer / sponsor block)', { text: `${'-'.repeat(N)}x` }],
    ['sponsor blocks that never end', { text: '----- Yahoo! Groups Sponsor -----'.repeat(N / 34) }],
    ["a Message-ID of '@'", { messageId: `${'@'.repeat(N)} x` }],
    ['a Received date stamp of zones and open comments', { received: [`from a (b.example.com [203.0.113.9]) by c; ${'+0000 ('.repeat(N / 7)}`], date: 'Mon, 1 Jan 2024 10:00:00 +0000' }],
  ];
  for (const [name, over] of cases) {
    it(`${name}: well under a second for 256 KiB`, () => {
      const t0 = performance.now();
      tokenize(spamInput(over));
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    });
  }
  it('htmlToText the same way', () => {
    const t0 = performance.now();
    htmlToText(`${'<font '.repeat(N / 6)}`);
    assert.ok(performance.now() - t0 < 1000);
  });
});
