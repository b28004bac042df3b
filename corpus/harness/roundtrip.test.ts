/**
 * The round trip on a bounded sample (CI): generated messages through the MIME stage's parse, the
 * re-encoding of that parse and a second parse, on worker threads; no mismatch allowed beyond the
 * documented differences. SCOP_CORPUS_SAMPLE sets the sample size (default 10,000).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkMessage, type Finding } from './check.ts';
import { documented, KNOWN } from './known.ts';
import { runPool } from './pool.ts';
import { expectedTree } from '../src/expected.ts';
import { generateMessage } from '../src/generate.ts';
import type { Entity } from '../src/model.ts';
import type { MailTreeNode } from '../../processors/mime/mailparser.ts';

/** The first leaf with a non-empty body, depth first. */
function firstLeaf(e: Entity): Entity | null {
  if (e.body.kind === 'leaf') return e.body.data.length ? e : null;
  if (e.body.kind === 'message') return firstLeaf(e.body.message);
  for (const p of e.body.parts) {
    const l = firstLeaf(p);
    if (l) return l;
  }
  return null;
}

/** The first inline text node with text in mailparser's tree. */
function firstText(n: MailTreeNode): MailTreeNode | null {
  if (n.textContent) return n;
  for (const c of n.children) {
    const t = firstText(c);
    if (t) return t;
  }
  return null;
}

const mismatches = (findings: Finding[]) => findings.filter((f) => f.known === null).map((f) => `${f.pass} ${f.d.class}`);

const SAMPLE = Number(process.env.SCOP_CORPUS_SAMPLE ?? 10_000);

describe('corpus round trip through the MIME stage', () => {
  it(`${SAMPLE} generated messages: parse, re-encode, parse again — no undocumented mismatch`, { timeout: 900_000 }, async () => {
    const r = await runPool({ worker: new URL('./worker.ts', import.meta.url), workerData: { seed: 'ci', maxDepth: 20 }, count: SAMPLE, label: 'roundtrip', progress: false });
    const t = r.tally;
    console.log(`roundtrip: ${t.messages} messages in ${r.seconds.toFixed(1)} s (${(t.messages / r.seconds).toFixed(0)}/s), ${t.mismatched} mismatched, ${t.documentedOnly} documented only`);
    assert.equal(t.messages, SAMPLE);
    // The workers' own CPU is counted, and it is part of the process's.
    assert.ok(r.workerCpuSeconds > 0 && r.workerCpuSeconds <= r.cpuSeconds, `workers ${r.workerCpuSeconds} s of process ${r.cpuSeconds} s`);
    const mismatches = [...t.rows.values()].filter((row) => row.known === null);
    assert.deepEqual(mismatches.map((m) => `${m.pass} ${m.cls}: ${m.messages} e.g. ${JSON.stringify(m.examples[0])}`), []);
  });

  it('checks each message in three passes and reports what differs', async () => {
    const c = await checkMessage('ci', 0);
    assert.equal(c.id, expectedTree(generateMessage('ci', 0)).id);
    for (const f of c.findings) assert.ok(['parse', 'section', 'reencode'].includes(f.pass));
  });

  it('a parser that misreads is caught: a changed text comes out as mismatches of the parse and of the re-encoding', async () => {
    let checked = 0;
    for (let i = 0; i < 20; i++) {
      const clean = await checkMessage('ci', i);
      let broke = false;
      const c = await checkMessage('ci', i, {}, {
        parsed: (p) => {
          const t = firstText(p.tree);
          if (t) { t.textContent = `${t.textContent}!`; broke = true; }
        },
      });
      if (!broke) continue;
      checked++;
      assert.deepEqual(mismatches(clean.findings), [], `ci ${i} is clean without the fault`);
      const found = mismatches(c.findings);
      assert.ok(found.includes('parse body.text'), `ci ${i}: ${found.join(', ')}`);
      assert.ok(found.includes('reencode body.text'), `ci ${i}: ${found.join(', ')}`);
    }
    assert.ok(checked >= 10, `only ${checked} messages with text`);
  });

  it('an encoder that miswrites is caught: a changed byte or date in the re-encoding comes out as a mismatch of the re-encoding only', async () => {
    let checked = 0;
    for (let i = 0; i < 20; i++) {
      const c = await checkMessage('ci', i, {}, {
        reencodeModel: (m) => {
          const leaf = firstLeaf(m);
          if (leaf && leaf.body.kind === 'leaf') {
            const data = Buffer.from(leaf.body.data);
            data[0] = data[0]! ^ 0x01;
            leaf.body = { ...leaf.body, data, text: null };
          }
          for (const f of m.fields) if (f.value.kind === 'date') f.value = { kind: 'date', date: { ...f.value.date, epochMs: f.value.date.epochMs + 60_000 } };
        },
      });
      checked++;
      const found = mismatches(c.findings);
      assert.ok(found.includes('reencode header.date'), `ci ${i}: ${found.join(', ')}`);
      assert.ok(found.some((x) => x === 'reencode body.bytes' || x === 'reencode body.text'), `ci ${i}: ${found.join(', ')}`);
      assert.ok(!found.some((x) => x.startsWith('parse ') || x.startsWith('section ')), `ci ${i}: ${found.join(', ')}`);
    }
    assert.equal(checked, 20);
  });

  it('a documented difference is recognised narrowly: only a name that is the address comment', () => {
    const g = generateMessage('known', 0);
    const exp = expectedTree(g);
    exp.root.headers = [{ name: 'To', kind: 'address', addresses: [{ name: '', address: 'a@example.com', comment: 'Jane' }] }];
    const d = (actual: string) => ({ class: 'address.name', path: '', detail: 'To', expected: '', actual });
    assert.equal(documented('parse', d('Jane'), exp), 'comment-as-name');
    assert.equal(documented('parse', d('Mallory'), exp), null);
    assert.equal(documented('parse', { ...d('Jane'), class: 'address.addr' }, exp), null);
    assert.deepEqual(KNOWN.map((k) => k.id), ['comment-as-name']);
  });
});
