/**
 * The console's imports flow one way (README "Imports flow one way": cli → console → runtime →
 * schemas): no file here, tests included, imports a stage (processors/, ingress/, egress/) or cli/.
 * The console meets the stages through topics and schemas; its tests build records with the
 * runtime's test helpers (runtime/stage-testing.ts testMime, testSpamModel) and publish models with
 * runtime/operator/spam-model.ts. Tests may also start servers from infra/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);

/** Every relative module specifier of a TypeScript file: static imports and exports, and import(). */
const specifiers = (text: string): string[] =>
  [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);

test('console/ imports only console/, runtime/ and schemas/ (and its tests infra/)', () => {
  // This file is left out: its last test holds sample imports as text.
  const files = readdirSync(here, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && f !== 'imports.test.ts');
  assert.ok(files.length >= 10, `${files.length} files`);
  const wrong: string[] = [];
  for (const f of files) {
    const allowed = new Set(['console', 'runtime', 'schemas', ...(f.endsWith('.test.ts') ? ['infra'] : [])]);
    for (const spec of specifiers(readFileSync(join(here, f), 'utf8'))) {
      const top = relative(root, resolve(here, dirname(f), spec)).split(/[\\/]/)[0]!;
      if (!allowed.has(top)) wrong.push(`console/${f} imports ${spec}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the import reader finds the forms used', () => {
  assert.deepEqual(specifiers("import { a } from '../processors/mime/parse.ts';\nimport type { B } from \"./b.ts\";\nexport { c } from '../c.ts';\nconst d = await import('../d.ts');\nimport '../e.ts';"), ['../processors/mime/parse.ts', './b.ts', '../c.ts', '../d.ts', '../e.ts']);
});
