/**
 * The decision, generic over symbols (issue 16): every symbol the stages emitted (or, for a stage
 * that emitted none, what legacy.ts derives from its section) plus the allow/block list matches is
 * weighed with the policy; the total against the thresholds gives an action; forced-action rules
 * raise it (never lower it); an allow-listed message is delivered unless a rule marked over_allow
 * applies; a block-listed one gets at least the block action. Pure: the policy is an argument.
 *
 * A message with recipients in several domains that have their own policy is weighed once per
 * domain and gets the most severe outcome (one record carries all its recipients).
 */
import type { StageSymbol } from '../../runtime/stage.ts';
import type { ActionThreshold, DecisionAction, DecisionSection, MailRecord, MailSymbol, WeighedSymbol } from '../../schemas/types.ts';
import { derivedSymbols } from './legacy.ts';
import { listSymbols } from './lists.ts';
import { SEVERITY, THRESHOLD_ACTIONS, type ForceRule, type Policy, type ScoringPolicy } from './policy.ts';

export const STAGE_VERSION = '2.0.0';

/** SYMBOL{a,b} as in `rspamc symbols`. */
export const symbolText = (s: { symbol: string; options: readonly string[] }) => (s.options.length ? `${s.symbol}{${s.options.join(',')}}` : s.symbol);
const fmt = (n: number) => (Math.round(n * 100) / 100).toString();

interface Outcome {
  action: DecisionAction;
  total: number;
  weighed: WeighedSymbol[];
  thresholds: ActionThreshold[];
  forcedBy: string | null;
  /** The deciding line, without the action. */
  why: string | null;
  domain: string | null;
}

/** Weighs the symbols with one scoring policy: weights, min_score, group caps (in symbol order). */
function weigh(symbols: (MailSymbol & { derived: boolean })[], p: ScoringPolicy): { weighed: WeighedSymbol[]; total: number } {
  const used = new Map<string, number>();
  let total = 0;
  const weighed = symbols.map((s): WeighedSymbol => {
    const rule = p.symbols.get(s.symbol);
    let weight = rule && (rule.minScore === null || (s.score ?? -Infinity) >= rule.minScore) ? rule.weight : 0;
    const group = rule?.group ?? null;
    const max = group === null ? null : p.groups.get(group)?.max ?? null;
    if (group !== null && max !== null && weight > 0) {
      weight = Math.min(weight, Math.max(0, max - (used.get(group) ?? 0)));
      used.set(group, (used.get(group) ?? 0) + weight);
    }
    total += weight;
    return { symbol: s.symbol, stage: s.stage, weight, score: s.score, options: s.options, group, derived: s.derived };
  });
  return { weighed, total };
}

const matches = (r: ForceRule, s: MailSymbol) => r.symbols.includes(s.symbol) && (r.minScore === null || (s.score ?? -Infinity) >= r.minScore);

function outcome(symbols: (MailSymbol & { derived: boolean })[], p: ScoringPolicy, lists: { allowed: StageSymbol | null; blocked: StageSymbol | null; blockAction: DecisionAction }, domain: string | null): Outcome {
  const { weighed, total } = weigh(symbols, p);
  const thresholds = THRESHOLD_ACTIONS.filter((a) => p.thresholds[a] !== undefined).map((a) => ({ action: a, score: p.thresholds[a]! }));
  let action: DecisionAction = 'deliver';
  let why: string | null = null;
  let forcedBy: string | null = null;
  for (const t of thresholds) if (total >= t.score) { action = t.action; why = `score ${fmt(total)} >= ${fmt(t.score)} (${t.action})`; }
  if (lists.allowed && !lists.blocked) {
    action = 'deliver';
    forcedBy = 'allowlist';
    why = `allow-listed (${symbolText(lists.allowed)})`;
  }
  for (const rule of p.force) {
    if (lists.allowed && !lists.blocked && !rule.overAllow) continue;
    const hit = symbols.find((s) => matches(rule, s));
    if (hit && SEVERITY[rule.action] > SEVERITY[action]) {
      action = rule.action;
      forcedBy = rule.name;
      why = `forced by ${rule.name} (${symbolText(hit)})`;
    }
  }
  if (lists.blocked && SEVERITY[lists.blockAction] >= SEVERITY[action]) {
    action = lists.blockAction;
    forcedBy = 'blocklist';
    why = `block-listed (${symbolText(lists.blocked)})`;
  }
  return { action, total, weighed, thresholds, forcedBy, why, domain };
}

export interface Decided {
  section: DecisionSection;
  /** The decision's own symbols (allow/block list matches), for the record. */
  symbols: StageSymbol[];
}

export function decide(record: MailRecord, policy: Policy, now = Date.now()): Decided {
  const lists = listSymbols(record, policy);
  const symbols = [
    ...(record.symbols ?? []).filter((s) => s.stage !== 'decision').map((s) => ({ ...s, derived: false })),
    ...derivedSymbols(record).map((s) => ({ ...s, derived: true })),
    ...lists.symbols.map((s) => ({ ...s, stage: 'decision' as const, derived: false })),
  ];
  const listCtx = { allowed: lists.allowed, blocked: lists.blocked, blockAction: policy.block.action };
  // The base policy for recipients in domains without their own; each domain's own otherwise.
  const domains = [...new Set(record.envelope.rcptTo.map((r) => r.slice(r.lastIndexOf('@') + 1).toLowerCase()))];
  const own = domains.filter((d) => policy.domains.has(d)).sort();
  const candidates = [
    ...(own.length < domains.length || domains.length === 0 ? [outcome(symbols, policy, listCtx, null)] : []),
    ...own.map((d) => outcome(symbols, policy.domains.get(d)!, listCtx, d)),
  ];
  // The most severe; on a tie the base policy (listed first), then domains in name order.
  const o = candidates.reduce((a, b) => (SEVERITY[b.action] > SEVERITY[a.action] ? b : a));
  const contributing = o.weighed.filter((w) => w.weight !== 0).map((w) => `${symbolText(w)} ${w.weight > 0 ? '+' : ''}${fmt(w.weight)}`);
  const deciding = o.why ? [`${o.action}: ${o.why}${o.domain ? ` [policy of ${o.domain}]` : ''}`] : [];
  return {
    section: {
      action: o.action,
      reasons: [...deciding, ...contributing],
      spamScore: record.spam?.score ?? null,
      reputation: record.firewall?.prefixScore ?? null,
      decidedAt: now,
      stageVersion: STAGE_VERSION,
      score: o.total,
      thresholds: o.thresholds,
      forcedBy: o.forcedBy,
      weighed: o.weighed,
      policyVersion: policy.version,
      policyDomain: o.domain,
    },
    symbols: lists.symbols,
  };
}
