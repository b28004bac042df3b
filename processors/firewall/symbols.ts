/**
 * The firewall's findings as symbols (issue 16): the client prefix's and the authenticated sender
 * domain's badness with their scores (REPUTATION_BAD_NET, REPUTATION_BAD_DOMAIN; only when there is
 * some), and a prefix on the blocklist (REPUTATION_BLOCKED_NET). The policy file turns scores into
 * weights (min_score) and forced actions.
 */
import type { StageSymbol } from '../../runtime/stage.ts';
import type { FirewallSection } from '../../schemas/types.ts';

export function firewallSymbols(f: FirewallSection): StageSymbol[] {
  const out: StageSymbol[] = [];
  if (f.prefixScore > 0) out.push({ symbol: 'REPUTATION_BAD_NET', score: f.prefixScore, options: [f.clientPrefix, f.prefixScore.toFixed(2)] });
  if (f.prefixBlocked) out.push({ symbol: 'REPUTATION_BLOCKED_NET', score: null, options: [f.clientPrefix] });
  if (f.senderDomain && f.domainScore !== null && f.domainScore > 0) out.push({ symbol: 'REPUTATION_BAD_DOMAIN', score: f.domainScore, options: [f.senderDomain, f.domainScore.toFixed(2)] });
  return out;
}
