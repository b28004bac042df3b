import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GOLDEN, verifyGolden } from './golden.ts';

describe('golden set', () => {
  it(`golden/ holds what this generator writes for seed "${GOLDEN.seed}" (${GOLDEN.count} messages)`, () => {
    const r = verifyGolden();
    // A deliberate change of the generator changes the corpus: bump GENERATOR_VERSION and rewrite
    // the set with `node --import tsx corpus/src/cli.ts golden --out corpus/golden`.
    assert.ok(r.ok, r.detail);
  });
});
