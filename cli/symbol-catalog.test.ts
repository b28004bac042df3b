/**
 * The symbol catalogue (cli/services.ts SYMBOL_CATALOG) as the whole topology sees it: exactly the
 * union of the stage definitions' declarations (each in its stage's folder,
 * `processors/<stage>/symbol-names.ts`), no name declared twice, and every declaring stage proving
 * its own declarations in its own symbols test (every name it emits declared, every declared name
 * emitted: runtime/symbols-testing.ts), so a new check touches its own folder and the policy file
 * only. Here because only cli/ may import every stage.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SymbolCatalog, symbolOf } from '../runtime/symbols.ts';
import { TOPOLOGY } from '../runtime/topology.ts';
import { serviceNamed, SYMBOL_CATALOG } from './services.ts';
import { POLICY_SYMBOL_CATALOG } from '../processors/decision/policy-catalog.test-fixture.ts';
import { buildPolicy } from '../processors/decision/policy.ts';
import { SPAM_EVIDENCE_SYMBOLS } from '../processors/spam/symbol-names.ts';

const declaring = TOPOLOGY.services.map((n) => serviceNamed(n.name)).filter((d) => d.symbols && Object.keys(d.symbols).length);

test("the catalogue is the union of the stage definitions' declarations, each name with the stage that declares it", () => {
  const union = declaring.flatMap((d) => Object.entries(d.symbols!).map(([name, info]) => `${name} ${d.name} ${info.stage} ${info.description}`)).sort();
  assert.deepEqual(SYMBOL_CATALOG.entries().map(([name, info]) => `${name} ${info.stage} ${info.stage} ${info.description}`).sort(), union);
  assert.deepEqual(declaring.map((d) => d.name).sort(), ['auth', 'decision', 'firewall', 'mime', 'spam']);
});

test("every stage that declares symbols checks them in its own symbols test (processors/<stage>/symbols.test.ts)", () => {
  for (const d of declaring) {
    const file = new URL(`../processors/${d.name}/symbols.test.ts`, import.meta.url);
    assert.ok(existsSync(file), `${d.name}: no processors/${d.name}/symbols.test.ts`);
    assert.match(readFileSync(file, 'utf8'), /assertEveryDeclaredSymbolFires\(/, `${d.name}: its symbols test does not check every declared name fires (runtime/symbols-testing.ts)`);
  }
});

test('the catalogue refuses a name two stages declare, and a name declared for another stage', () => {
  assert.throws(() => new SymbolCatalog([['auth', { X_ONE: symbolOf('auth')('a') }], ['spam', { X_ONE: symbolOf('spam')('b') }]]), /X_ONE: declared by both the auth and the spam stage/);
  assert.throws(() => new SymbolCatalog([['spam', { X_ONE: symbolOf('auth')('a') }]]), /X_ONE: declared by the spam stage for the auth stage/);
  const c = new SymbolCatalog([['spam', { BAYES_SPAM: symbolOf('spam')('a') }], ['ingress', undefined]]);
  assert.equal(c.nearest('BAYES_SAPM'), 'BAYES_SPAM');
  assert.equal(c.nearest('SOMETHING_ELSE'), null);
});

test('the built-in policy (processors/decision/default-policy.yaml) weighs only names the stages declare, and each spam evidence symbol in its evidence group', () => {
  const builtIn = buildPolicy(null, SYMBOL_CATALOG);
  // Each one the spam stage can emit has its entry in the built-in policy's evidence group (a new one is listed here automatically).
  for (const n of Object.keys(SPAM_EVIDENCE_SYMBOLS)) assert.equal(builtIn.symbols.get(n)?.group, 'evidence', `${n}: no built-in weight in the evidence group`);
  assert.deepEqual([...builtIn.symbols].filter(([, s]) => s.group === 'evidence').map(([n]) => n).sort(), Object.keys(SPAM_EVIDENCE_SYMBOLS).sort(), 'the evidence group holds the spam stage\'s evidence symbols only');
});

test("the decision's own tests weigh its policy's names with the stages that really declare them (processors/decision/policy-catalog.test-fixture.ts)", () => {
  const wrong = POLICY_SYMBOL_CATALOG.entries().filter(([n, i]) => SYMBOL_CATALOG.get(n)?.stage !== i.stage).map(([n, i]) => `${n}: ${i.stage} in the fixture, ${SYMBOL_CATALOG.get(n)?.stage ?? 'undeclared'} in the topology`);
  assert.deepEqual(wrong, []);
  assert.ok(POLICY_SYMBOL_CATALOG.entries().length >= 40, `${POLICY_SYMBOL_CATALOG.entries().length} names`);
});
