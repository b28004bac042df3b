/**
 * The MIME stage's language guess must answer exactly what franc-min answers (the record's
 * `mime.languages` must not change with the faster implementation): compared on samples of every
 * SpamAssassin corpus message, on text in every script and language franc-min has a model for, on
 * random mixes of scripts, and on the edge cases (too short, no letters, empty after cleaning).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { franc } from 'franc-min';
import { data } from 'franc-min/data.js';
import { loadSpamAssassin } from '../../corpus/spam-assassin/index.ts';
import { languageGuesser } from './language.ts';
import { LANGUAGES, languageSample } from './parse.ts';

/** Compares the guesser with franc on every input; returns the answers seen, for the assertions on their spread. */
function compare(inputs: string[], o: { minLength: number; only: string[] }): Map<string, number> {
  const g = languageGuesser(o);
  const seen = new Map<string, number>();
  const differ: string[] = [];
  for (const s of inputs) {
    const want = franc(s, o);
    const got = g.guess(s);
    if (got !== want && differ.length < 5) differ.push(`${JSON.stringify(s.slice(0, 120))}: franc ${want}, guesser ${got}`);
    seen.set(want, (seen.get(want) ?? 0) + 1);
  }
  assert.deepEqual(differ, [], `the guesser differs from franc on ${differ.length}+ of ${inputs.length} inputs`);
  return seen;
}

/** A seeded generator, so a failure repeats. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('languageGuesser = franc-min', () => {
  const corpus = loadSpamAssassin();
  // The body of each message as text, as the stage's sample is cut from the parsed text.
  const bodies = corpus.map((m) => { const t = m.raw.toString('latin1'); const i = t.indexOf('\n\n'); return i < 0 ? t : t.slice(i + 2); });

  it('every SpamAssassin message: the stage sample (400 chars, the stage\'s 20 languages) and a 3,000-char one of every tenth (franc reads 2,048)', () => {
    const opts = { minLength: 80, only: [...LANGUAGES] };
    const seen = compare(bodies.map(languageSample), opts);
    // Not one answer for everything (measured: eng 5,902, fra 139, spa 4, nld 1).
    assert.ok(corpus.length > 6000 && seen.size >= 4 && (seen.get('eng') ?? 0) > 3000, `answers: ${JSON.stringify([...seen])}`);
    compare(bodies.filter((_, i) => i % 10 === 0).map((b) => b.slice(0, 3000)), opts);
  });

  it('text in every script and language of franc-min, alone and mixed, with all languages and with the stage\'s 20', () => {
    const texts: string[] = [];
    for (const [script, languages] of Object.entries(data)) {
      for (const [name, model] of Object.entries(languages)) {
        const words = model.split('|');
        texts.push(words.slice(0, 60).join(' '), words.slice(100, 130).join(''), words.reverse().slice(0, 200).join(' '));
        assert.ok(words.length > 100, `${script}/${name}`);
      }
    }
    // Scripts franc-min knows by their characters only (Han, Hangul, kana, Greek, Thai, …).
    texts.push('这是一个测试邮件，请不要回复。我们的产品非常好，价格便宜，欢迎购买。'.repeat(4), '안녕하세요 이것은 테스트 메일입니다 '.repeat(5), 'これはテストメールです。ご確認ください。'.repeat(5), 'Αυτό είναι ένα δοκιμαστικό μήνυμα '.repeat(4), 'นี่คือข้อความทดสอบ '.repeat(8));
    const r = rng(15);
    const pool = texts.join(' ');
    for (let i = 0; i < 400; i++) {
      let s = '';
      while (s.length < 60 + Math.floor(r() * 600)) { const at = Math.floor(r() * pool.length); s += pool.slice(at, at + 5 + Math.floor(r() * 40)) + (r() < 0.2 ? ' 123 !? ' : ' '); }
      texts.push(s);
    }
    const all = compare(texts, { minLength: 10, only: [] });
    assert.ok(all.size > 60, `answers with every language: ${all.size}`);
    const stage = compare(texts, { minLength: 80, only: [...LANGUAGES] });
    assert.ok(stage.size >= 12, `answers with the stage's languages: ${stage.size}`);
  });

  it('edge cases: too short, no letters, nothing left after cleaning, one repeated trigram', () => {
    const opts = { minLength: 80, only: [...LANGUAGES] };
    const g = languageGuesser(opts);
    assert.equal(g.guess('short text'), 'und');
    assert.equal(g.guess(''), 'und');
    const seen = compare(['1234567890 '.repeat(10), '!!!! ???? '.repeat(10), '@'.repeat(100), 'a'.repeat(100), ' '.repeat(100), 'ab '.repeat(40), `${'x'.repeat(79)}`, `${'the quick brown fox '.repeat(4)}`], opts);
    assert.ok((seen.get('und') ?? 0) >= 3 && seen.has('eng'), `answers: ${JSON.stringify([...seen])}`);
  });
});
