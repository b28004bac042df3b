/**
 * The round trip on a bounded sample (CI): generated messages through the MIME stage's parse, the
 * re-encoding of that parse and a second parse, on worker threads; no mismatch allowed beyond the
 * documented differences. SCOP_CORPUS_SAMPLE sets the sample size (default 10,000).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkMessage } from './check.ts';
import { documented, KNOWN } from './known.ts';
import { runPool } from './pool.ts';
import { expectedTree } from '../src/expected.ts';
import { generateMessage } from '../src/generate.ts';

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
