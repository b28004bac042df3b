/**
 * Issue 13: the spam stage must not stall on attacker text.
 *   1. Every regular expression in this folder's code is linear: fuzz/regex-linear.test.ts checks
 *      each literal of the product code with recheck (a ReDoS checker; it flags the former patterns,
 *      e.g. `^[("'[{<*]+|[)"'\]}>*,.;:]+$`).
 *   2. The inputs that took 46–67 s before (`<a ` repeated, `)` × 200,000 + `a`, a subject of
 *      spaces), and a generated family of such inputs in every field the tokenizer reads, are
 *      tokenized in < 50 ms of CPU each (the best of five runs, so a loaded machine does not decide).
 * An absolute budget, not the two-size rule of the MIME and auth families (runtime/linear-testing.ts):
 * < 50 ms passes that rule whatever the ratio, so the budget is the stronger check, and
 * DEFAULT_TOKENIZE_TIMEOUT_MS counts on it; the inputs reach the tokenizer's limits (bounds.ts), where
 * a 4× larger one is cut to the same length and a ratio says nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { SpamInput } from './input.ts';
import { spamInput } from './testing.ts';
import { DEFAULT_LIMITS, tokenize } from './tokenizer.ts';

const BUDGET_MS = 50;

/**
 * CPU time of tokenizing (best of five: a 171 KB HTML of `<\t` costs 19–70 ms of CPU run to run on the loaded
 * box, and the best of three once passed 50 ms in CI): on a shared machine wall time includes waiting for a core,
 * CPU time is the work itself — what a stage spends when the core is its own. A wall-clock bound far
 * above it (WALL_LIMIT_MS) still catches anything that blocks.
 */
function bestMs(input: SpamInput): number {
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    tokenize(input);
    const c = process.cpuUsage(c0);
    assert.ok(performance.now() - t0 < WALL_LIMIT_MS, `wall time ${(performance.now() - t0).toFixed(0)} ms`);
    best = Math.min(best, (c.user + c.system) / 1000);
    if (best < BUDGET_MS / 5) break;
  }
  return best;
}
const WALL_LIMIT_MS = 5_000;

describe('spam tokenizer: linear on hostile input (issue 13)', () => {
  it("the issue's three inputs take < 50 ms each (they took 46–67 s)", () => {
    const cases: [string, Partial<SpamInput>][] = [
      ['`<a ` × 87,000 as HTML', { html: '<a '.repeat(87_000) }],
      ['`<a ` × 87,000 as text', { text: '<a '.repeat(87_000) }],
      ["`)` × 200,000 + `a`", { text: `${')'.repeat(200_000)}a` }],
      ['a subject of 200,000 spaces', { subject: `${' '.repeat(200_000)}x` }],
      ['a subject of 200,000 spaces, no word', { subject: ' '.repeat(200_000) }],
    ];
    for (const [name, over] of cases) {
      const ms = bestMs(spamInput(over));
      assert.ok(ms < BUDGET_MS, `${name}: ${ms.toFixed(1)} ms`);
    }
  });

  it('obfuscated-spelling inputs (split letters, look-alikes, invisible characters, homoglyphs; 200 KB) take < 50 ms each', () => {
    const cases: [string, string][] = [
      ['single letters split by spaces', 'v '.repeat(100_000)],
      ['one word of letters and hyphens', 'v-'.repeat(100_000)],
      ['letters and hyphens in 13-letter words', 'v-i-a-g-r-a-v-i-a-g-r-a-x '.repeat(8_000)],
      ['look-alike words', 'v1agra c!al!s $ex p3n1s '.repeat(8_500)],
      ['look-alikes only', '1!|0$@'.repeat(33_000)],
      ['zero-width inside one word', 'a\u200b'.repeat(100_000)],
      ['Cyrillic letters inside Latin words', 'vi\u0430gr\u0430 '.repeat(25_000)],
      ['an address whose domain never ends (one 200 KB word after @)', `a@${'a-'.repeat(50_000)}`],
      ['an address whose domain is all labels, no dot at the end', `a@${'a.'.repeat(50_000)}!`],
    ];
    for (const [name, text] of cases) {
      for (const over of [{ text }, { subject: text.slice(0, 2_000) }, { html: `<p>${text}</p>` }]) {
        const ms = bestMs(spamInput(over));
        assert.ok(ms < BUDGET_MS, `${name} (${Object.keys(over)[0]}): ${ms.toFixed(1)} ms`);
      }
    }
  });

  it('a generated family of hostile inputs (repeated fragments, up to 260 KB, in any field) takes < 50 ms each', () => {
    const fragments = ['<a ', '<!--', '<font size=', '<p style="', '<script', '<div>', '</span>', ')', '(', ' ', '\t', '\n', '-', '_', '@', '[', ']', 'Re: ', 're:', '&', '&amp', '=', '"', "'", 'a', 'Z', '1', '.', ',', ':', '/', 'http://', 'www.', 'mailing list', '-- ', '~->', ' Yahoo! Groups Sponsor ', '<', '>', '%41', 'é',
      // Obfuscated spellings (obfuscation.ts): look-alikes, split letters, invisible characters, homoglyphs.
      'v1', '$', '!', '|', '0', 'v ', 'v.', 'v-', '\u200b', '\u00ad', '\u0430', 'α', 'v1agra ', 'v i a g r a '];
    const field = fc.constantFrom('text', 'html', 'subject', 'fromName', 'fromAddress', 'messageId', 'date', 'received', 'mailer', 'url', 'contentType', 'attachment');
    const hostile = fc.record({
      parts: fc.array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 4 }),
      tail: fc.constantFrom('', 'a', '!', ' x', '>', '-->'),
      bytes: fc.integer({ min: 1_000, max: 260_000 }),
      field,
    });
    fc.assert(fc.property(hostile, ({ parts, tail, bytes, field: where }) => {
      const unit = parts.join('');
      const s = unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes) + tail;
      const over: Partial<SpamInput> = {
        text: { text: s }, html: { html: s }, subject: { subject: s }, fromName: { from: [{ name: s, address: 'a@b.test' }] },
        fromAddress: { from: [{ name: 'A', address: `${s}@${s}` }] }, messageId: { messageId: `<${s}>` }, date: { date: s },
        received: { received: [`from ${s} (${s} [203.0.113.${s.length % 250}]) by mx; ${s}`, s] },
        mailer: { fields: { 'x-mailer': s, 'content-type': 'text/plain', to: s } }, url: { urls: [`http://${s}/${s}`, s] },
        contentType: { fields: { 'content-type': s } }, attachment: { attachments: [{ type: s, filename: s, flags: [s] }] },
      }[where]!;
      const ms = bestMs(spamInput(over));
      assert.ok(ms < BUDGET_MS, `${where} = ${JSON.stringify(unit)} × ${Math.ceil(bytes / unit.length)} + ${JSON.stringify(tail)}: ${ms.toFixed(1)} ms`);
    }), { numRuns: 150, seed: 13 });
  });

  it('bounds every field before tokenizing', () => {
    const huge = 'w'.repeat(5_000_000);
    const toks = tokenize(spamInput({ subject: huge, messageId: huge, date: huge, from: [{ name: huge, address: `${huge}@x.test` }], received: Array.from({ length: 10_000 }, () => huge.slice(0, 10_000)), urls: Array.from({ length: 10_000 }, () => `http://${huge.slice(0, 100_000)}`) }));
    assert.ok(toks.length <= DEFAULT_LIMITS.maxTokens);
    for (const t of toks) assert.ok(t.length <= DEFAULT_LIMITS.maxFieldChars + 100, `token of ${t.length} characters`);
  });
});
