/**
 * The firewall's symbols against its declarations (symbol-names.ts, on its definition): a bad net, a
 * blocked net and a bad sender domain — every name firewallSymbols() emits is declared and every
 * declared name is emitted (runtime/symbols-testing.ts); a clean section emits nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEveryDeclaredSymbolFires } from '../../runtime/symbols-testing.ts';
import type { FirewallSection } from '../../schemas/types.ts';
import { firewallService } from './service.ts';
import { FIREWALL_SYMBOLS } from './symbol-names.ts';
import { firewallSymbols } from './symbols.ts';

const section = (over: Partial<FirewallSection>) => ({ clientPrefix: '192.0.2.0/24', prefixScore: 0, prefixBlocked: false, senderDomain: 'x.test', domainScore: 0, ...over }) as unknown as FirewallSection;

test('every firewall symbol is declared on the stage definition, and every declared one fires', () => {
  assert.equal(firewallService.symbols, FIREWALL_SYMBOLS, 'the definition declares symbol-names.ts');
  assert.deepEqual(firewallSymbols(section({})), []);
  assertEveryDeclaredSymbolFires(FIREWALL_SYMBOLS, firewallSymbols(section({ prefixScore: 3, prefixBlocked: true, domainScore: 5 })).map((s) => s.symbol));
});
