/**
 * The differential run on a small sample: every implementation (scop, postal-mime, Python's
 * email, Go's standard library built here) reads every message and is compared; scop has no
 * undocumented difference, the others' differences are classified. Needs python3 and go
 * (Debian: python3, golang-go; installed by .ci/run).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { IMPLEMENTATIONS, markdownTable, runDifferential } from './differential.ts';

const dir = mkdtempSync(join(tmpdir(), 'corpus-diff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('differential run', () => {
  it('reads 150 messages with all four implementations and classifies what differs', { timeout: 300_000 }, async () => {
    const r = await runDifferential({ seed: 'ci-diff', count: 150, from: 0, impls: [...IMPLEMENTATIONS], dir, progress: false });
    for (const impl of IMPLEMENTATIONS) {
      const t = r.tallies.get(impl)!;
      assert.equal(t.messages, 150, `${impl} read every message`);
      assert.deepEqual([...t.rows.values()].filter((row) => row.pass === 'error' || row.cls === 'parse.failed' && impl !== 'go').map((row) => row.cls), [], `${impl}: the harness itself never failed`);
    }
    const scop = r.tallies.get('scop')!;
    assert.equal(scop.mismatched, 0, JSON.stringify([...scop.rows.values()].filter((row) => !row.known)));
    // Go's standard library decodes no charset beyond UTF-8, US-ASCII and ISO-8859-1: the comparison sees it.
    assert.ok(r.tallies.get('go')!.mismatched > 0);
    assert.ok(readdirSync(join(dir, 'examples')).length > 0, 'minimal examples kept');
    assert.match(markdownTable(r, 150), /\| \*\*Python email/);
  });
});
