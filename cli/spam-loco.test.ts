import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { BayesModel, LinearPart, type Label } from '../processors/spam/model.ts';
import { readTokenCache, topHamCount, topHamOf, topHamReport, writeTokenCache, type LocoExample } from './spam-loco.ts';
import { ConfigError } from '../runtime/config.ts';
import { TOKENIZER_VERSION } from '../processors/spam/tokenizer.ts';

/** A model whose linear part is given by hand: the contributions can be checked by arithmetic. */
function handModel(weights: Record<string, number>, bias = 0): BayesModel {
  const m = new BayesModel(TOKENIZER_VERSION);
  const lin = new LinearPart({ learningRate: 1, lengthNorm: 0.5, epochs: 1, nbScale: null });
  lin.bias = bias;
  for (const [t, w] of Object.entries(weights)) lin.weights.set(t, [w, 1]);
  m.linear = lin;
  return m;
}

const item = (label: Label, tokens: string[]) => ({ label, tokens, source: 's' });

describe('spam eval --loco --top-ham', () => {
  const model = handModel({ viagra: 2, 'url:p:msgid': 1.5, hello: -1, patch: -2, 'mailer:none': 0.5 });
  const items = [
    item('ham', ['patch', 'hello']),
    item('ham', ['viagra', 'hello', 'unknown-token', 'mailer:none']),
    item('spam', ['viagra', 'url:p:msgid']),
    item('ham', ['url:p:msgid', 'patch']),
    item('spam', ['viagra']),
    item('spam', ['hello']),
  ];
  const ids = ['h1', 'h2', 's1', 'h3', 's2', 's3'];

  it('lists only ham, highest probability first, with the share of spam below each', () => {
    const top = topHamOf(model, items, ids, 2);
    assert.deepEqual(top.map((h) => h.id), ['h2', 'h3']);
    assert.ok(top[0]!.probability >= top[1]!.probability);
    // h2's margin (2 − 1 + 0.5)/√3 ≈ 0.87 is above s3's (−1), below s1's and s2's (2.47, 2): a third of the spam below it.
    assert.equal(top[0]!.spamBelow, 1 / 3);
    assert.equal(topHamOf(model, items, ids, 10).length, 3, 'never more than the ham there is');
  });

  it('gives each ham its spam-side tokens, largest first, each its weight × known^-0.5 (unknown tokens do not count)', () => {
    const [h2] = topHamOf(model, items, ids, 1);
    const s = 1 / Math.sqrt(3);
    assert.deepEqual(h2!.strongest.map(([t]) => t), ['viagra', 'mailer:none']);
    assert.ok(Math.abs(h2!.strongest[0]![1] - 2 * s) < 1e-12);
    assert.ok(Math.abs(h2!.strongest[1]![1] - 0.5 * s) < 1e-12);
    assert.deepEqual(topHamOf(model, items, ids, 1, 1)[0]!.strongest.map(([t]) => t), ['viagra'], 'k limits the tokens');
  });

  it('reports token names and numbers, and the tokens the top ham share', () => {
    const text = topHamReport('lists + phishing', topHamOf(model, items, ids, 3));
    assert.match(text, /^highest-scoring held-out ham, lists \+ phishing/);
    assert.match(text, /h2 0\.\d{3} 33 % \| viagra 1\.15, mailer:none 0\.29/);
    assert.match(text, /most shared: viagra \(1, 1\.2\), url:p:msgid \(1, 1\.1\), mailer:none \(1, 0\.3\)/);
  });

  it('a model without a linear part, or n = 0, gives nothing', () => {
    assert.deepEqual(topHamOf(new BayesModel(TOKENIZER_VERSION), items, ids, 5), []);
    assert.deepEqual(topHamOf(model, items, ids, 0), []);
  });

  it('--top-ham takes a whole number from 1 to 1000; anything else names the option and the fix', () => {
    assert.equal(topHamCount('20'), 20);
    for (const bad of ['0', '-3', '2.5', 'x', '1001']) assert.throws(() => topHamCount(bad), (e: unknown) => e instanceof ConfigError && /--top-ham/.test(String((e as Error).message)) && /whole number/.test(String((e as Error).message)), bad);
  });
});

describe('spam eval --loco: the token cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scop-token-cache-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const examples: LocoExample[] = [
    { id: 'a', corpus: 'enron', source: 'enron', origin: 'enron', label: 'ham', tokens: ['hello', 'subject:meeting'] },
    { id: 'b', corpus: 'enron', source: 'enron-spam-spam', origin: 'enron', label: 'spam', tokens: [] },
  ];

  it('stores no origin (the reader sets it from the corpus) and reads back what was written', () => {
    const file = join(dir, 'enron.tokens.jsonl.gz');
    writeTokenCache(file, examples);
    const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n');
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => !('origin' in JSON.parse(l))), lines[0]);
    assert.deepEqual(readTokenCache(file, 'enron'), examples);
    assert.deepEqual(readTokenCache(file, 'other').map((e) => e.origin), ['other', 'other']);
  });

  it('reads a file written when origin was stored: the stored one is replaced', () => {
    const file = join(dir, 'old.tokens.jsonl.gz');
    writeFileSync(file, gzipSync(examples.map((e) => JSON.stringify({ ...e, origin: 'stale' })).join('\n')));
    assert.deepEqual(readTokenCache(file, 'enron'), examples);
  });

  it('a cut file fails to read rather than giving part of the corpus', () => {
    const file = join(dir, 'cut.tokens.jsonl.gz');
    writeTokenCache(file, examples);
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 10));
    assert.throws(() => readTokenCache(file, 'enron'), /unexpected end of file/);
  });
});
