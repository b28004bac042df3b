/**
 * The auth stage's symbols against its declarations (symbol-names.ts, on its definition): every name
 * authSymbols() emits for the results the stage knows is declared, and every declared name is emitted
 * by one of these inputs (runtime/symbols-testing.ts). A new result gets its input here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEveryDeclaredSymbolFires } from '../../runtime/symbols-testing.ts';
import type { AuthSection } from '../../schemas/types.ts';
import { authService } from './service.ts';
import { AUTH_SYMBOLS } from './symbol-names.ts';
import { authSymbols, FROM_MULTIPLE_TAG, FROM_TOO_LONG_TAG } from './symbols.ts';

const SPF = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'];
const DKIM = ['pass', 'fail', 'neutral', 'temperror', 'permerror', 'policy', 'none'];
const DMARC: [string, string][] = [['pass', 'none'], ['none', 'none'], ['temperror', 'none'], ['permerror', 'none'], ['fail', 'none'], ['fail', 'quarantine'], ['fail', 'reject']];
const ARC = ['pass', 'fail', 'none', 'temperror'];

/** Seven sections that together take every SPF, HELO SPF, DKIM, DMARC and ARC result (the first unsigned). */
const sections = Array.from({ length: 7 }, (_, i) => ({
  spf: { result: SPF[i], domain: 'x.test' }, heloSpf: { result: SPF[(i + 3) % 7], domain: 'helo.test' },
  dkim: i === 0 ? [] : [{ result: DKIM[i - 1], domain: 'x.test' }, { result: DKIM[i % 7], domain: 'y.test' }],
  dmarc: { result: DMARC[i]![0], disposition: DMARC[i]![1], fromDomain: 'x.test', sampledOut: false }, arc: { result: ARC[i % 4] }, tags: [],
}) as unknown as AuthSection);
/** From fields too long to be read: DMARC permerror without a From domain, its own symbol instead of DMARC_BAD_POLICY. */
const fromTooLong = { ...sections[0]!, dmarc: { ...sections[0]!.dmarc, result: 'permerror', fromDomain: null }, tags: [FROM_TOO_LONG_TAG] } as AuthSection;

test('From fields too long to be read give DMARC_FROM_TOO_LONG, not DMARC_BAD_POLICY', () => {
  const dmarc = authSymbols(fromTooLong).filter((x) => x.symbol.startsWith('DMARC_'));
  assert.deepEqual(dmarc.map((x) => [x.symbol, x.options]), [['DMARC_FROM_TOO_LONG', []]]);
});

/** From fields naming two domains: DMARC permerror without a From domain, its own symbol instead of DMARC_BAD_POLICY. */
const fromMultiple = { ...fromTooLong, tags: [FROM_MULTIPLE_TAG] } as AuthSection;

test('From fields naming more than one domain give DMARC_FROM_MULTIPLE, not DMARC_BAD_POLICY', () => {
  assert.deepEqual(authSymbols(fromMultiple).filter((x) => x.symbol.startsWith('DMARC_')).map((x) => x.symbol), ['DMARC_FROM_MULTIPLE']);
});

/** No readable From address: DMARC none without a From domain. */
const fromUnreadable = { ...sections[1]!, dmarc: { ...sections[1]!.dmarc, fromDomain: null } } as AuthSection;

test('a From without a readable domain gives DMARC_FROM_UNREADABLE, not DMARC_NA (a malformed From must not dodge p=reject)', () => {
  assert.equal(sections[1]!.dmarc.result, 'none');
  const dmarc = authSymbols(fromUnreadable).filter((x) => x.symbol.startsWith('DMARC_'));
  assert.deepEqual(dmarc.map((x) => [x.symbol, x.options]), [['DMARC_FROM_UNREADABLE', []]]);
  assert.deepEqual(authSymbols(sections[1]!).filter((x) => x.symbol.startsWith('DMARC_')).map((x) => x.symbol), ['DMARC_NA'], 'a From domain without a policy stays DMARC_NA');
});

test('every auth symbol is declared on the stage definition, and every declared one fires for some result', () => {
  assert.equal(authService.symbols, AUTH_SYMBOLS, 'the definition declares symbol-names.ts');
  assertEveryDeclaredSymbolFires(AUTH_SYMBOLS, [...sections, fromTooLong, fromMultiple, fromUnreadable].flatMap((s) => authSymbols(s).map((x) => x.symbol)));
});
