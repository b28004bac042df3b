/**
 * The tokenizer on the hostile shapes the fuzzer (fuzz/targets/spam-tokenizer.ts) and the review found:
 * the inputs (')' × 200,000 then 'a', a subject of spaces, '<a ' repeated) and their relatives,
 * 256 KiB each, through the whole tokenizer (redos.test.ts checks each pattern with a ReDoS checker).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToText } from './html.ts';
import { spamInput } from './testing.ts';
import { tokenize } from './tokenizer.ts';

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
