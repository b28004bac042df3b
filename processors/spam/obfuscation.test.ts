/**
 * Obfuscated spellings give their plain spelling as a word and are counted in `body:obfuscated:<n>`;
 * plain words, numbers, version strings, handles, initialisms and real Cyrillic text are left alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { obfuscatedBucket, plainSpelling, SpacedLetters } from './obfuscation.ts';
import { spamInput } from './testing.ts';
import { tokenize } from './tokenizer.ts';

describe('obfuscated spellings', () => {
  it('look-alikes between letters, `$` first, invisible characters, homoglyphs and split letters give the plain word', () => {
    const cases: [string, string][] = [
      ['v1agra', 'viagra'], ['c!al!s', 'cialis'], ['c1al1s', 'cialis'], ['$ex', 'sex'], ['v@lium', 'valium'], ['r0lex', 'rolex'], ['m0rtg4ge', 'mortgage'],
      ['v-i-a-g-r-a', 'viagra'], ['v.i.a.g.r.a', 'viagra'], ['r_e_p_l_i_c_a', 'replica'],
      ['vi\u200bagra', 'viagra'], ['vi\u00adagra', 'viagra'], ['vi\u0430gra', 'viagra'], ['pαypal', 'paypal'],
    ];
    for (const [word, plain] of cases) assert.equal(plainSpelling(word), plain, word);
  });

  it('near misses stay as they are', () => {
    for (const word of ['viagra', 'hello', 'win10', 'ipv4', 'i18n', 'mp3', '1st', 'b2b', '$100', '@home', 'free!', 'e-mail', 'a.k.a', 'u.s.a', 'нет', 'привет', 'αβγ', '2024-01-05', 'x'.repeat(60), 'v-i']) {
      assert.equal(plainSpelling(word), null, word);
    }
  });

  it('split letters across words: runs of 4–12 single letters', () => {
    const s = new SpacedLetters();
    for (const c of 'viagra') s.push(c);
    assert.equal(s.end(), 'viagra');
    for (const c of 'usa') s.push(c);
    assert.equal(s.end(), null, 'three letters are an initialism');
    for (const c of 'abcdefghijklmnop') s.push(c);
    assert.equal(s.end(), null, 'longer than a word');
    assert.ok(SpacedLetters.isLetter('v') && SpacedLetters.isLetter('\u0430') && !SpacedLetters.isLetter('1'));
  });

  it('the tokenizer adds the plain spelling as a word and counts obfuscated words, subject included', () => {
    const t = tokenize(spamInput({ subject: 'Cheap V1AGRA', text: 'Buy c!al!s and V I A G R A today, also v-a-l-i-u-m and vi\u0430gra' }));
    for (const w of ['subject:viagra', 'cialis', 'viagra', 'valium', 'body:obfuscated:5+']) assert.ok(t.includes(w), `${w} missing from ${t.join(' ')}`);
    const one = tokenize(spamInput({ text: 'Get your r0lex watch here' }));
    assert.ok(one.includes('rolex') && one.includes('body:obfuscated:1'));
    const plain = tokenize(spamInput({ text: 'Version 2.1 of ipv4 tools for win10, see @home and the u.s.a. office; e-mail me.' }));
    assert.ok(!plain.some((x) => x.startsWith('body:obfuscated')), plain.join(' '));
    assert.deepEqual([obfuscatedBucket(1), obfuscatedBucket(2), obfuscatedBucket(4), obfuscatedBucket(5), obfuscatedBucket(50)], ['1', '2-4', '2-4', '5+', '5+']);
  });

  it('headerless training text (Enron-Spam) is read the same way', () => {
    const t = tokenize(spamInput({ headerless: true, subject: 'v1agra', text: 'c i a l i s' }));
    assert.ok(t.includes('subject:viagra') && t.includes('cialis') && t.includes('body:obfuscated:2-4'), t.join(' '));
  });
});

describe('word pairs within the leading words (hash-busting)', () => {
  it('pairs come from the first 100 words of each text; later words still count alone', () => {
    const lead = Array.from({ length: 100 }, (_, i) => `lead${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`);
    const padding = ['medieval', 'castles', 'were', 'built', 'from', 'stone'];
    const t = tokenize(spamInput({ text: [...lead, ...padding].join(' ') }));
    assert.ok(t.includes(`${lead[98]} ${lead[99]}`), 'a pair inside the first 100 words');
    for (const w of padding) assert.ok(t.includes(w), `${w} counts as a word`);
    assert.ok(!t.includes(`${lead[99]} medieval`) && !t.includes('medieval castles'), 'no pair past the first 100 words');
    // Each text on its own: the HTML's words start their own count.
    const both = tokenize(spamInput({ text: [...lead, ...padding].join(' '), html: '<p>medieval castles</p>' }));
    assert.ok(both.includes('medieval castles'));
  });
});
