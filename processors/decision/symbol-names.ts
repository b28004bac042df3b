/**
 * The names the decision stage emits itself (lists.ts: the policy's allow and block lists): its part
 * of the symbol catalogue (runtime/symbols.ts).
 */
import { symbolOf, type SymbolInfo } from '../../runtime/symbols.ts';

const decision = symbolOf('decision');

export const DECISION_SYMBOLS = {
  ALLOWLIST_SENDER: decision('the sender is on the allow list (DMARC passes)'),
  ALLOWLIST_SENDER_UNVERIFIED: decision('the sender is on the allow list but DMARC does not pass: ignored'),
  ALLOWLIST_IP: decision('the client IP is on the allow list'),
  ALLOWLIST_RCPT: decision('every recipient is on the allow list'),
  BLOCKLIST_SENDER: decision('the sender is on the block list'),
  BLOCKLIST_IP: decision('the client IP is on the block list'),
  BLOCKLIST_RCPT: decision('every recipient is on the block list'),
} as const satisfies Record<string, SymbolInfo>;

export type DecisionSymbolName = keyof typeof DECISION_SYMBOLS;
