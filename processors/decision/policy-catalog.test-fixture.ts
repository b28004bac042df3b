/**
 * The symbol catalogue the decision's own tests weigh, declared here rather than imported from the
 * emitting stages (a stage's tests test the stage: README "Layout", infra/layers.test.ts):
 * every name the built-in policy (default-policy.yaml) weighs, declared for the stage its group
 * belongs to, and the decision's own names (symbol-names.ts). So a name added to the policy file is
 * known here without a third edit. That these are the stages that really declare them, and that the
 * built-in policy weighs only declared names, is checked against the topology's catalogue in
 * cli/symbol-catalog.test.ts.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SymbolCatalog, symbolOf, type SymbolInfo } from '../../runtime/symbols.ts';
import type { SymbolStage } from '../../schemas/types.ts';
import { DEFAULT_POLICY_FILE } from './policy.ts';
import { DECISION_SYMBOLS } from './symbol-names.ts';

/** The stage that emits each group's symbols (the group descriptions in default-policy.yaml say so). */
const GROUP_STAGE: Record<string, SymbolStage> = { auth: 'auth', bayes: 'spam', evidence: 'spam', attachments: 'mime', virus: 'mime', reputation: 'firewall' };
/** Names the built-in policy weighs outside any group. */
const UNGROUPED_STAGE: Record<string, SymbolStage> = { REPUTATION_BLOCKED_NET: 'firewall' };

const doc = parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as { symbols: Record<string, { group?: string; description?: string }> };
const byStage = new Map<SymbolStage, Record<string, SymbolInfo>>();
for (const [name, rule] of Object.entries(doc.symbols)) {
  const stage = rule.group ? GROUP_STAGE[rule.group] : UNGROUPED_STAGE[name];
  if (!stage) throw new Error(`${name} (group ${rule.group ?? 'none'}) in default-policy.yaml: say which stage emits it in GROUP_STAGE or UNGROUPED_STAGE here`);
  byStage.set(stage, { ...byStage.get(stage), [name]: symbolOf(stage)(rule.description ?? name) });
}

export const POLICY_SYMBOL_CATALOG = new SymbolCatalog([...byStage, ['decision', DECISION_SYMBOLS]]);
