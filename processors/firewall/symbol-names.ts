/**
 * The names the firewall's screen stage emits (symbols.ts): its part of the symbol catalogue
 * (runtime/symbols.ts). A new name goes here, an input that fires it into symbols.test.ts (which
 * fails on a declared name no input fires), and its weight into the policy file.
 */
import { symbolOf, type SymbolInfo } from '../../runtime/symbols.ts';

const firewall = symbolOf('firewall');

export const FIREWALL_SYMBOLS = {
  REPUTATION_BAD_NET: firewall("the client's prefix sent spam lately (score = its reputation score)"),
  REPUTATION_BAD_DOMAIN: firewall('the authenticated sender domain sent spam lately (score = its reputation score)'),
  REPUTATION_BLOCKED_NET: firewall("the client's prefix is blocked"),
} as const satisfies Record<string, SymbolInfo>;

export type FirewallSymbolName = keyof typeof FIREWALL_SYMBOLS;
