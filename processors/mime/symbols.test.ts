/**
 * The MIME stage's symbols against its declarations (symbol-names.ts, on its definition): one flag
 * symbol per attachment flag, the virus, a failed scan, a failed or limited parse — every name
 * mimeSymbols() emits is declared and every declared name is emitted (runtime/symbols-testing.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEveryDeclaredSymbolFires } from '../../runtime/symbols-testing.ts';
import type { MimeSection } from '../../schemas/types.ts';
import { FLAGS } from './attachments.ts';
import { mimeService } from './service.ts';
import { MIME_SYMBOLS } from './symbol-names.ts';
import { mimeSymbols } from './symbols.ts';

/** A section with an attachment per flag, a virus, a scan error, and both parse tags. */
const everything = {
  attachments: FLAGS.map((f) => ({ filename: `a.${f}`, flags: [f], virus: f === 'virus' ? 'Eicar' : null })),
  tags: ['virus', 'parse-failed', 'limits-exceeded'], scan: { result: 'error', detail: 'clamd down' },
} as unknown as MimeSection;

test('every MIME symbol is declared on the stage definition, and every declared one fires', () => {
  assert.equal(mimeService.symbols, MIME_SYMBOLS, 'the definition declares symbol-names.ts');
  assertEveryDeclaredSymbolFires(MIME_SYMBOLS, mimeSymbols(everything).map((s) => s.symbol));
});
