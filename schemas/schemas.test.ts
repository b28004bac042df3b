import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { generatedFileFor, renderTypes } from './codegen.ts';
import { backwardProblems, historyOf, VERSIONED } from './compat.ts';
import { loadSchemas } from './index.ts';

describe('schemas', () => {
  it('every schema parses and is self-contained', () => {
    for (const [name, s] of loadSchemas()) {
      assert.ok(avro.Type.forSchema(s.schema), `${name} parses on its own`);
    }
  });

  it('every versioned record reads all its released versions (BACKWARD, transitive)', () => {
    const current = loadSchemas();
    for (const name of VERSIONED) {
      const history = historyOf(name);
      assert.ok(history.length > 0, `${name} has released versions in schemas/history (run \`npm run scop -- schemas snapshot\`)`);
      assert.deepEqual(backwardProblems(current.get(name)!.schema, history), [], `${name} breaks BACKWARD compatibility`);
    }
  });

  it('the check catches a breaking change (a new field without a default, a removed enum symbol)', () => {
    const base = loadSchemas().get('Block')!.schema as avro.schema.RecordType;
    const addedRequired = { ...base, fields: [...base.fields, { name: 'severity', type: 'int' }] };
    assert.equal(backwardProblems(addedRequired, [{ label: 'old', schema: base }]).length, 1);
    const withDefault = { ...base, fields: [...base.fields, { name: 'severity', type: 'int', default: 0 }] };
    assert.deepEqual(backwardProblems(withDefault, [{ label: 'old', schema: base }]), []);
    const retyped = { ...base, fields: base.fields.map((f) => (f.name === 'reason' ? { ...f, type: 'int' } : f)) };
    assert.equal(backwardProblems(retyped, [{ label: 'old', schema: base }]).length, 1);
  });

  it('generated TypeScript types match the .avsc files (run `npm run scop -- schemas codegen` after a change)', () => {
    for (const [name, src] of renderTypes()) {
      assert.equal(readFileSync(generatedFileFor(name), 'utf8'), src, `schemas/generated for ${name} is stale`);
    }
  });
});
