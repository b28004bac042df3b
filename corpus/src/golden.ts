/**
 * The golden set: a fixed seed and count, generated once and shipped gzip-compressed as an mbox
 * (golden.mbox.gz) and its trees (golden.trees.jsonl.gz, same order), so results compare across
 * projects and tools that do not run this generator.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { expectedTree } from './expected.ts';
import { mboxRecord } from './formats.ts';
import { generateMessage } from './generate.ts';

export const GOLDEN = {
  seed: 'golden-1',
  count: 2000,
  mbox: new URL('../golden/golden.mbox.gz', import.meta.url),
  trees: new URL('../golden/golden.trees.jsonl.gz', import.meta.url),
};

/** The golden set as this generator writes it: the mbox bytes and the trees' JSONL. */
export function goldenFiles(count = GOLDEN.count): { mbox: Buffer; trees: Buffer } {
  const mbox: Buffer[] = [];
  const trees: string[] = [];
  for (let i = 0; i < count; i++) {
    const g = generateMessage(GOLDEN.seed, i);
    mbox.push(mboxRecord(g.encoded.bytes));
    trees.push(JSON.stringify(expectedTree(g)) + '\n');
  }
  return { mbox: Buffer.concat(mbox), trees: Buffer.from(trees.join('')) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Whether the shipped golden files are what this generator writes (same bytes, same trees). */
export function verifyGolden(): { ok: boolean; detail: string } {
  const now = goldenFiles();
  const shipped = { mbox: gunzipSync(readFileSync(GOLDEN.mbox)), trees: gunzipSync(readFileSync(GOLDEN.trees)) };
  const ok = sha(now.mbox) === sha(shipped.mbox) && sha(now.trees) === sha(shipped.trees);
  return { ok, detail: `mbox sha256 ${sha(shipped.mbox)}${ok ? '' : ` (generated ${sha(now.mbox)})`}, trees sha256 ${sha(shipped.trees)}${ok ? '' : ` (generated ${sha(now.trees)})`}` };
}
