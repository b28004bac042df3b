import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { domainToASCII } from 'node:url';
import { ASCII_DOMAINS_MAX, compareEntity, FULL, normalizeAddress, type ActualEntity } from './compare.ts';
import { expectedTexts, expectedTree, sha256 } from './expected.ts';
import { compareFlat } from './flat.ts';
import { openSink, readJsonl, readMbox, type Format } from './formats.ts';
import { generateMessage } from './generate.ts';
import type { TreeEntity } from './tree.ts';

/** An implementation that reads everything exactly as the expected tree says. */
function perfect(e: TreeEntity): ActualEntity {
  return {
    headers: e.headers.map((f) => ({ name: f.name, value: f.value, addresses: f.addresses, date: f.date, ids: f.ids })),
    type: e.type, params: { ...e.params }, disposition: e.disposition, filename: e.filename, transferEncoding: e.transferEncoding,
    body: e.body && { ...e.body, text: e.body.text && { ...e.body.text } },
    parts: e.parts?.map(perfect),
    message: e.message && perfect(e.message),
  };
}

const find = (e: ActualEntity, pred: (x: ActualEntity) => boolean): ActualEntity | undefined => {
  if (pred(e)) return e;
  for (const c of [...(e.parts ?? []), ...(e.message ? [e.message] : [])]) { const r = find(c, pred); if (r) return r; }
  return undefined;
};

describe('equivalence', () => {
  const trees = Array.from({ length: 60 }, (_, i) => expectedTree(generateMessage('cmp', i)));

  it('a faithful reading is equivalent', () => {
    for (const t of trees) assert.deepEqual(compareEntity(t.root, perfect(t.root)), []);
  });

  it('each kind of difference is found and classed', () => {
    const t = trees.find((x) => x.root.parts && x.root.headers.some((f) => f.name.toLowerCase() === 'subject' && f.value))!;
    const cases: [string, (a: ActualEntity) => void][] = [
      ['header.subject', (a) => { a.headers!.find((f) => f.name.toLowerCase() === 'subject')!.value += 'x'; }],
      ['header.order', (a) => { a.headers!.reverse(); }],
      ['header.fields', (a) => { a.headers!.pop(); }],
      ['structure.parts', (a) => { a.parts!.pop(); }],
      ['type', (a) => { a.parts![0]!.type = 'application/x-other'; }],
      ['param.boundary', (a) => { a.params!.boundary = 'other'; }],
      ['body.bytes', (a) => { find(a, (x) => !!x.body?.sha256 && !x.message)!.body!.sha256 = sha256('x'); }],
    ];
    for (const [cls, change] of cases) {
      const a = perfect(t.root);
      change(a);
      assert.ok(compareEntity(t.root, a).some((d) => d.class === cls), cls);
    }
  });

  it('addresses compare by name, local part and domain (case and IDNA aside); other fields with whitespace runs as one', () => {
    assert.equal(normalizeAddress('"john doe"@Example.COM'), 'john doe@example.com');
    assert.equal(normalizeAddress('a@bücher.example'), normalizeAddress('a@xn--bcher-kva.example'));
    assert.notEqual(normalizeAddress('A@example.com'), normalizeAddress('a@example.com'));
    const t = trees.find((x) => x.root.headers.some((f) => f.kind === 'raw' && f.value!.includes(' ')))!;
    const a = perfect(t.root);
    for (const f of a.headers!) if (f.value) f.value = ` ${f.value.replace(/ /g, '\t ')} `;
    assert.deepEqual(compareEntity(t.root, a, { ...FULL, textFields: [] }), []);
  });

  it('remembered domains give the answers domainToASCII gives, past the bound of the memory too', () => {
    const domains = Array.from({ length: ASCII_DOMAINS_MAX + 100 }, (_, i) => (i % 3 === 0 ? `Bücher${i}.Example` : i % 3 === 1 ? `[192.0.2.${i % 256}]` : `Host${i}.EXAMPLE.org`));
    const want = (d: string) => (d.startsWith('[') ? d : domainToASCII(d.toLowerCase()) || d.toLowerCase()).toLowerCase();
    // Twice over, so the second pass reads what the first remembered (and what survived the clearing).
    for (let pass = 0; pass < 2; pass++) for (const d of domains) assert.equal(normalizeAddress(`a@${d}`), `a@${want(d)}`, d);
    assert.equal(normalizeAddress('x@BÜCHER.example'), 'x@xn--bcher-kva.example');
    assert.equal(normalizeAddress('x@bücher.example'), 'x@xn--bcher-kva.example');
  });

  it('what an implementation does not expose is not held against it', () => {
    const t = trees[0]!;
    assert.deepEqual(compareEntity(t.root, { ...perfect(t.root), headers: undefined }), []);
    const a = perfect(t.root);
    a.headers!.reverse();
    assert.deepEqual(compareEntity(t.root, a, { ...FULL, headerOrder: false }), []);
  });
});

describe('flat comparison', () => {
  it('a message whose leaves are all attachments or text is equivalent; a changed or lost one is not', () => {
    for (let i = 0; i < 40; i++) {
      const g = generateMessage('flat', i);
      const t = expectedTree(g);
      const texts = expectedTexts(g.generated.root);
      const attachments = [];
      let text = '';
      for (const [e] of [...(function* w(x: TreeEntity): Generator<[TreeEntity]> { yield [x]; for (const p of x.parts ?? []) yield* w(p); if (x.message) yield* w(x.message); })(t.root)]) {
        if (!e.body || e.parts || e.message) continue;
        if (texts.has(e.path) && e.type === 'text/plain') text += texts.get(e.path) + '\n';
        else attachments.push({ type: e.type, filename: e.filename, size: e.body.size, sha256: e.body.sha256 });
      }
      const headers = perfect(t.root).headers!;
      assert.deepEqual(compareFlat(t, { headers, text, html: null, attachments }, FULL, texts), [], t.id);
      if (attachments.length) {
        const changed = attachments.map((a, k) => (k === 0 ? { ...a, sha256: sha256('other'), size: a.size + 1 } : a));
        assert.ok(compareFlat(t, { headers, text, html: null, attachments: changed }, FULL, texts).some((d) => d.class === 'attachment.bytes'));
        assert.ok(compareFlat(t, { headers, text, html: null, attachments: attachments.slice(1) }, FULL, texts).some((d) => d.class === 'attachment.missing' || d.class === 'text.missing'));
      }
    }
  });
});

describe('formats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corpus-formats-'));
  const gs = Array.from({ length: 30 }, (_, i) => generateMessage('fmt', i));
  const write = (format: Format, out: string) => {
    const sink = openSink(format, out);
    for (const g of gs) sink.write(g.encoded.bytes, expectedTree(g));
    sink.close();
  };

  it('mbox, JSONL and folder keep every message byte for byte', () => {
    gs.push(...[generateMessage('fmt', 9999)].map((g) => ({ ...g, encoded: { ...g.encoded, bytes: Buffer.from('From: a@b\r\nSubject: x\r\n\r\nFrom here\r\n>From there\r\nno final newline') } })));
    write('mbox', join(dir, 'c.mbox'));
    assert.deepEqual(readMbox(join(dir, 'c.mbox')).map((b) => b.toString('base64')), gs.map((g) => g.encoded.bytes.toString('base64')));
    assert.equal(readFileSync(join(dir, 'c.mbox.trees.jsonl'), 'utf8').trim().split('\n').length, gs.length);
    write('jsonl', join(dir, 'c.jsonl'));
    assert.deepEqual([...readJsonl(readFileSync(join(dir, 'c.jsonl'), 'utf8'))].map((r) => r.raw.toString('base64')), gs.map((g) => g.encoded.bytes.toString('base64')));
    write('dir', join(dir, 'd'));
    assert.equal(readdirSync(join(dir, 'd')).filter((f) => f.endsWith('.eml')).length, gs.length, 'one file per message');
    assert.ok(readFileSync(join(dir, 'd', `${gs[0]!.generated.id}.eml`)).equals(gs[0]!.encoded.bytes));
    rmSync(dir, { recursive: true, force: true });
  });
});
