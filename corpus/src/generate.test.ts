import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import { encodeMessage, encodedWords, lineProblems, paramSegments, foldField } from './encode.ts';
import { expectedTree } from './expected.ts';
import { generateMessage } from './generate.ts';
import type { Entity } from './model.ts';
import { walk } from './tree.ts';
import { decodeText } from './charsets.ts';

const N = 400;
const sample = Array.from({ length: N }, (_, i) => generateMessage('test', i));

const binaryInside = (e: Entity): boolean => (e.cte ?? '').toLowerCase() === 'binary' || (e.body.kind === 'multipart' && e.body.parts.some(binaryInside)) || (e.body.kind === 'message' && binaryInside(e.body.message));

describe('generator', () => {
  it('is deterministic: the same seed and index give the same bytes, another index other bytes', () => {
    for (const i of [0, 7, 123]) {
      assert.ok(generateMessage('test', i).encoded.bytes.equals(sample[i]!.encoded.bytes));
      assert.deepEqual(expectedTree(generateMessage('test', i)), expectedTree(sample[i]!));
    }
    assert.ok(!generateMessage('other', 0).encoded.bytes.equals(sample[0]!.encoded.bytes));
    assert.equal(new Set(sample.map((g) => g.encoded.bytes.toString('base64'))).size, N);
  });

  it('writes valid messages: CRLF lines of at most 998 bytes outside binary bodies, Date and From in every message', () => {
    for (const g of sample) {
      if (!binaryInside(g.generated.root)) assert.deepEqual(lineProblems(g.encoded.bytes), [], g.generated.id);
      const t = expectedTree(g);
      for (const [e] of walk(t.root)) {
        if (e.path !== '' && !(e.type === 'message/rfc822' || e.type === 'message/global')) continue;
        const m = e.path === '' ? e : e.message!;
        const names = m.headers.map((f) => f.name.toLowerCase());
        assert.ok(names.includes('from') && names.includes('date'), `${g.generated.id} ${e.path}: From and Date`);
      }
    }
  });

  it('covers what the corpus promises', () => {
    const seen = new Set(sample.flatMap((g) => g.generated.features));
    for (const f of ['encoded-words', 'multibyte-charset', 'rfc2231', 'rfc2231-continuation', 'utf8-headers', 'group', 'comment', 'folded',
      'alternative', 'mixed', 'related', 'digest', 'digest-default-type', 'report', 'signed', 'rfc822', 'base64', 'quoted-printable', '8bit', '7bit', 'binary',
      'preamble', 'epilogue', 'long-boundary', 'empty-body', 'empty-attachment', 'long-filename', 'line-998', 'deep']) {
      assert.ok(seen.has(f), `feature ${f} in ${N} messages`);
    }
    const types = new Set(sample.flatMap((g) => [...walk(expectedTree(g).root)].map(([e]) => e.type)));
    for (const t of ['multipart/digest', 'multipart/report', 'message/rfc822', 'message/delivery-status', 'image/png', 'application/pdf', 'text/html']) assert.ok(types.has(t), t);
  });

  it('nests up to maxDepth and never deeper', () => {
    let deepest = 0;
    for (let i = 0; i < 5000 && deepest < 20; i++) {
      const g = i < N ? sample[i]! : generateMessage('test', i);
      if (i >= N && !g.generated.features.includes('max-depth')) continue;
      for (const [, d] of walk(expectedTree(g).root)) deepest = Math.max(deepest, d);
    }
    assert.equal(deepest, 20, 'some message reaches depth 20');
    for (let i = 0; i < 300; i++) for (const [, d] of walk(expectedTree(generateMessage('shallow', i, { maxDepth: 4 })).root)) assert.ok(d <= 4);
  });

  it('expected trees follow schema/tree.schema.json', () => {
    const ajv = new Ajv2020.default({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(new URL('../schema/tree.schema.json', import.meta.url), 'utf8')));
    for (const g of sample.slice(0, 200)) assert.ok(validate(expectedTree(g)), JSON.stringify(validate.errors?.slice(0, 3)));
    const bad = expectedTree(sample[0]!) as unknown as Record<string, unknown>;
    delete bad.root;
    assert.equal(validate(bad), false, 'the schema can fail');
  });
});

describe('encoder', () => {
  it('splits encoded words at characters and keeps them within 75 characters (RFC 2047)', () => {
    for (const method of ['B', 'Q'] as const) {
      for (const charset of ['UTF-8', 'Shift_JIS', 'GB18030']) {
        const text = charset === 'Shift_JIS' ? 'ありがとうございます 日本語のテキスト です ABC' : 'ありがとうございます 日本語のテキスト 😀 Grüße';
        const words = encodedWords(text, { charset, method });
        assert.ok(words.length > 1);
        let decoded = '';
        for (const w of words) {
          assert.ok(w.length <= 75, w);
          const [, cs, m, data] = /^=\?([^?]+)\?([BQ])\?([^?]*)\?=$/.exec(w)!;
          const bytes = m === 'B' ? Buffer.from(data!, 'base64') : Buffer.from(data!.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
          const piece = decodeText(bytes, cs!);
          assert.ok(!piece.includes('\ufffd'), `${charset} ${method}: ${w} holds whole characters`);
          decoded += piece;
        }
        assert.equal(decoded, text);
      }
    }
  });

  it('writes RFC 2231 parameters: extended, continued, and continued mid-character', () => {
    const p = (style: 'ext' | 'cont' | 'extcont', value: string, segment = 10) => paramSegments({ name: 'filename', value, style, charset: 'UTF-8', language: style === 'cont' ? null : 'en', segment });
    assert.deepEqual(p('ext', 'Grüße.pdf'), ["filename*=UTF-8'en'Gr%C3%BC%C3%9Fe.pdf"]);
    assert.deepEqual(p('cont', 'a long "name".txt', 8), ['filename*0="a long \\""', 'filename*1="name\\".tx"', 'filename*2="t"']);
    assert.deepEqual(p('extcont', 'éé', 4), ["filename*0*=UTF-8'en'%C3", 'filename*1*=%A9', 'filename*2*=%C3', 'filename*3*=%A9']);
  });

  it('folds at segment boundaries, keeps lines within 998 bytes, and refuses what cannot fit', () => {
    const folded = foldField('Subject', Array.from({ length: 40 }, (_, i) => `word${i}`));
    assert.ok(folded.split('\r\n').every((l) => l.length <= 78));
    assert.equal(folded.replace(/\r\n(?=[ \t])/g, ''), `Subject: ${Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ')}\r\n`);
    assert.equal(foldField('X-Long', ['a'.repeat(990)]).length, 998 + 2);
    assert.throws(() => foldField('X-Long', ['a'.repeat(991)]), /998/);
  });

  it('refuses a boundary that occurs inside a part', () => {
    const leaf = (text: string): Entity => ({ fields: [], type: 'text', subtype: 'plain', declared: false, params: [], typeComment: null, disposition: null, cte: null, body: { kind: 'leaf', data: Buffer.from(text), text, lineLength: 76 } });
    const mp = (boundary: string, text: string): Entity => ({ fields: [{ name: 'Content-Type', value: { kind: 'content-type' } }], type: 'multipart', subtype: 'mixed', declared: true, params: [{ name: 'boundary', value: boundary, style: 'quoted', charset: null, language: null, segment: 0 }], typeComment: null, disposition: null, cte: null, body: { kind: 'multipart', boundary, preamble: null, epilogue: null, padding: '', parts: [leaf(text)] } });
    assert.ok(encodeMessage(mp('abc', 'hello\r\n--ab\r\n')).bytes.length > 0);
    assert.throws(() => encodeMessage(mp('abc', 'hello\r\n--abcdef\r\n')), /boundary/);
    const withPreamble = mp('n', 'hello');
    (withPreamble.body as { preamble: string | null }).preamble = 'Preamble\r\n--not-a-boundary';
    assert.throws(() => encodeMessage(withPreamble), /preamble/);
  });
});
