/**
 * The symbol catalogue the decision stage's tests weigh, built from each emitting stage's own
 * declarations (processors/<stage>/symbol-names.ts) rather than from cli/services.ts: imports flow
 * cli → processors, tests included. cli/symbol-catalog.test.ts checks that it is exactly the
 * topology's catalogue (SYMBOL_CATALOG), so a stage added to the topology with symbols shows up here.
 */
import { SymbolCatalog } from '../../runtime/symbols.ts';
import { AUTH_SYMBOLS } from '../auth/symbol-names.ts';
import { FIREWALL_SYMBOLS } from '../firewall/symbol-names.ts';
import { MIME_SYMBOLS } from '../mime/symbol-names.ts';
import { SPAM_SYMBOLS } from '../spam/symbol-names.ts';
import { DECISION_SYMBOLS } from './symbol-names.ts';

export const STAGE_SYMBOL_CATALOG = new SymbolCatalog([
  ['mime', MIME_SYMBOLS], ['auth', AUTH_SYMBOLS], ['spam', SPAM_SYMBOLS], ['firewall', FIREWALL_SYMBOLS], ['decision', DECISION_SYMBOLS],
]);
