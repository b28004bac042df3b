/** The per-stage symbol coverage check fails on a declared name nothing emits and on an undeclared name, and passes on an exact cover. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { symbolOf } from './symbols.ts';
import { assertEveryDeclaredSymbolFires } from './symbols-testing.ts';

const spam = symbolOf('spam');
const declared = { X_ONE: spam('one'), X_TWO: spam('two') };

test('every declared name emitted, nothing else: passes (repeats and order do not matter)', () => {
  assertEveryDeclaredSymbolFires(declared, ['X_TWO', 'X_ONE', 'X_TWO']);
});

test('a declared name no input emits fails, naming it', () => {
  assert.throws(() => assertEveryDeclaredSymbolFires(declared, ['X_ONE']), (e: Error) => e instanceof assert.AssertionError && /spam symbols: declared but emitted by none of the test inputs .*: X_TWO$/.test(e.message));
});

test('an emitted name the stage does not declare fails, naming it', () => {
  assert.throws(() => assertEveryDeclaredSymbolFires(declared, ['X_ONE', 'X_TWO', 'X_THREE']), /emitted but not declared in symbol-names\.ts: X_THREE/);
});
