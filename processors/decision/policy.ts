/**
 * The decision's policy (issue 16): symbol weights and groups, the score from which each action
 * applies, forced actions, per-recipient-domain overrides, allow and block lists. Built in layers,
 * key by key: the built-in default (default-policy.yaml: today's behaviour), then the deprecated
 * DECISION_* variables (config.ts), then the policy file (SCOP_POLICY_FILE). Every problem names
 * the file, the line and the key (runtime/policy-file.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { POLICY_KEYS as FILE_KEYS, PolicyDocument, type PolicyKey } from '../../runtime/policy-file.ts';
import type { SymbolCatalog } from '../../runtime/symbols.ts';
import type { DecisionAction } from '../../schemas/types.ts';
import type { LegacyEnv } from './config.ts';

export const DEFAULT_POLICY_FILE = new URL('./default-policy.yaml', import.meta.url).pathname;

/** Actions with a score threshold, mildest first (deliver is what is left). */
export const THRESHOLD_ACTIONS = ['add_header', 'junk', 'quarantine', 'reject'] as const;
export type ThresholdAction = (typeof THRESHOLD_ACTIONS)[number];
export const SEVERITY: Record<DecisionAction, number> = { deliver: 0, add_header: 1, junk: 2, quarantine: 3, reject: 4 };

const symbolName = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'a symbol name is upper-case letters, digits and _ (e.g. BAYES_SPAM)');
const ruleName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'a name is lower-case letters, digits, _ . - (at most 64)');
const threshold = z.union([z.number().finite(), z.literal('off')], { errorMap: () => ({ message: 'a score (a number) or off' }) });
const action = z.enum(THRESHOLD_ACTIONS, { errorMap: () => ({ message: `one of ${THRESHOLD_ACTIONS.join(', ')}` }) });
const text = z.string().max(500);

const actionsShape = z.object({ add_header: threshold, junk: threshold, quarantine: threshold, reject: threshold }).partial().strict();
const groupShape = z.object({ max: z.number().positive(), description: text }).partial().strict();
/** A weight past this is a typo (the built-in thresholds are 6 and 20): refused with the key. */
export const MAX_WEIGHT = 1000;
const weight = z.number().finite().min(-MAX_WEIGHT, `a weight is a number from -${MAX_WEIGHT} to ${MAX_WEIGHT}`).max(MAX_WEIGHT, `a weight is a number from -${MAX_WEIGHT} to ${MAX_WEIGHT}`);
const symbolShape = z.object({ weight, group: ruleName, min_score: z.number().finite(), description: text, custom: z.boolean() }).partial().strict();
const forceShape = z.object({
  name: ruleName, symbol: z.union([symbolName, z.array(symbolName).min(1).max(100)]), action, min_score: z.number().finite(),
  over_allow: z.boolean(), enabled: z.boolean(), description: text,
}).partial({ symbol: true, action: true, min_score: true, over_allow: true, enabled: true, description: true }).strict();
const entries = z.array(z.string().min(1).max(320)).max(100_000);
const listShape = z.object({ senders: entries, ips: entries, recipients: entries }).partial().strict();
const scoringShape = { actions: actionsShape, groups: z.record(ruleName, groupShape), symbols: z.record(symbolName, symbolShape), force: z.array(forceShape).max(1000) };
const domainShape = z.object({ actions: actionsShape, symbols: scoringShape.symbols, force: scoringShape.force }).partial().strict();

/** The decision's keys of the policy file. */
export const policyFileShape = z.object({
  use_defaults: z.boolean(),
  ...scoringShape,
  domains: z.record(z.string().regex(/^[a-z0-9.-]{1,253}$/, 'a domain in lower case, e.g. example.net'), domainShape),
  allow: listShape,
  block: listShape.extend({ action }).partial(),
}).partial().strict();
/** The decision's keys of the policy file, as runtime/policy-file.ts assigns them. */
const DECISION_KEYS = (Object.keys(FILE_KEYS) as PolicyKey[]).filter((k) => FILE_KEYS[k] === 'decision');
type PolicyLayer = z.infer<typeof policyFileShape>;
type ScoringLayer = Pick<PolicyLayer, 'actions' | 'groups' | 'symbols' | 'force'>;

/** `custom`: a name no stage of the topology declares (runtime/symbols.ts) that the operator declared, e.g. a DNS list's own symbol. */
export interface SymbolRule { weight: number; group: string | null; minScore: number | null; description: string | null; custom: boolean }
export interface ForceRule { name: string; symbols: string[]; action: ThresholdAction; minScore: number | null; overAllow: boolean; description: string | null }
/** What scores a message: thresholds (an action switched off is absent), groups, weights, forced actions. */
export interface ScoringPolicy {
  thresholds: Partial<Record<ThresholdAction, number>>;
  groups: Map<string, { max: number | null; description: string | null }>;
  symbols: Map<string, SymbolRule>;
  force: ForceRule[];
}
export interface AddressList { addresses: Set<string>; domains: Set<string> }
export interface Lists { senders: AddressList; ips: [ipaddr.IPv4 | ipaddr.IPv6, number][]; recipients: AddressList }
export interface Policy extends ScoringPolicy {
  /** SHA-256 of the effective policy (first 16 hex digits): written into every decision. */
  version: string;
  /** Where it came from: the built-in default, or the file. */
  source: string;
  /** Recipient domain → its own scoring (the base with the domain's override). */
  domains: Map<string, ScoringPolicy>;
  allow: Lists;
  block: Lists & { action: ThresholdAction };
}

/** Reports a problem at a key path of the layer being applied. */
type Fail = (path: (string | number)[], problem: string) => never;

function applyScoring(base: ScoringPolicy, layer: ScoringLayer, known: SymbolCatalog, fail: Fail, at: (string | number)[] = []): ScoringPolicy {
  const out: ScoringPolicy = { thresholds: { ...base.thresholds }, groups: new Map(base.groups), symbols: new Map(base.symbols), force: [...base.force] };
  for (const [a, v] of Object.entries(layer.actions ?? {}) as [ThresholdAction, number | 'off'][]) {
    if (v === 'off') delete out.thresholds[a]; else out.thresholds[a] = v;
  }
  for (const [name, g] of Object.entries(layer.groups ?? {})) {
    const cur = out.groups.get(name);
    out.groups.set(name, { max: g.max ?? cur?.max ?? null, description: g.description ?? cur?.description ?? null });
  }
  for (const [name, s] of Object.entries(layer.symbols ?? {})) {
    const cur = out.symbols.get(name);
    const rule = { weight: s.weight ?? cur?.weight ?? 0, group: s.group ?? cur?.group ?? null, minScore: s.min_score ?? cur?.minScore ?? null, description: s.description ?? cur?.description ?? null, custom: s.custom ?? cur?.custom ?? false };
    if (!rule.custom && !known.has(name)) fail([...at, 'symbols', name], unknownSymbol(name, known));
    if (rule.group !== null && !out.groups.has(rule.group)) fail([...at, 'symbols', name, 'group'], `no group "${rule.group}" (add it under groups:)`);
    out.symbols.set(name, rule);
  }
  (layer.force ?? []).forEach((f, i) => {
    const idx = out.force.findIndex((r) => r.name === f.name);
    const cur = idx >= 0 ? out.force[idx] : undefined;
    if (f.enabled === false) {
      if (idx >= 0) out.force.splice(idx, 1);
      return;
    }
    const symbols = f.symbol === undefined ? cur?.symbols : [f.symbol].flat();
    const act = f.action ?? cur?.action;
    if (!symbols) fail([...at, 'force', i], `rule "${f.name}" needs symbol: (a name or a list)`);
    if (!act) fail([...at, 'force', i], `rule "${f.name}" needs action: (${THRESHOLD_ACTIONS.join(', ')})`);
    if (f.symbol !== undefined) symbols!.forEach((name, j) => {
      if (!known.has(name) && !out.symbols.get(name)?.custom) fail([...at, 'force', i, 'symbol', ...(Array.isArray(f.symbol) ? [j] : [])], unknownSymbol(name, known));
    });
    const rule: ForceRule = { name: f.name!, symbols: symbols!, action: act!, minScore: f.min_score ?? cur?.minScore ?? null, overAllow: f.over_allow ?? cur?.overAllow ?? false, description: f.description ?? cur?.description ?? null };
    if (idx >= 0) out.force[idx] = rule; else out.force.push(rule);
  });
  checkThresholds(out, Object.keys(layer.actions ?? {}), fail, [...at, 'actions']);
  return out;
}

/** What a name no stage emits gets told: the nearest known name, or how to declare one's own. */
function unknownSymbol(name: string, known: SymbolCatalog): string {
  const near = known.nearest(name);
  return `unknown symbol "${name}"${near ? ` (did you mean ${near}?)` : ''}: no stage emits it, so it would weigh nothing; the known names are in processors/decision/README.md, and a symbol of your own (a DNS list's, AUTH_URI_LISTS …) is declared with custom: true under symbols:`;
}

/**
 * Thresholds must rise with severity, or the milder action could never apply. The error points at
 * the one of the two keys this layer set (the other may come from the default, not in the file).
 */
function checkThresholds(p: ScoringPolicy, setHere: readonly string[], fail: Fail, at: (string | number)[]): void {
  let prev: [ThresholdAction, number] | null = null;
  for (const a of THRESHOLD_ACTIONS) {
    const v = p.thresholds[a];
    if (v === undefined) continue;
    if (prev && v <= prev[1]) {
      if (setHere.includes(a) || !setHere.includes(prev[0])) fail([...at, a], `${a} (${v}) must be above ${prev[0]} (${prev[1]})`);
      fail([...at, prev[0]], `${prev[0]} (${prev[1]}) must be below ${a} (${v})`);
    }
    prev = [a, v];
  }
}

/** "user@example.org" → an address, "example.org" → a domain (lower case). */
function addressList(values: string[] | undefined, fail: Fail, at: (string | number)[]): AddressList {
  const out: AddressList = { addresses: new Set(), domains: new Set() };
  (values ?? []).forEach((raw, i) => {
    const v = raw.trim().toLowerCase();
    const at_ = v.lastIndexOf('@');
    const domain = at_ >= 0 ? v.slice(at_ + 1) : v;
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(domain) || at_ === 0) fail([...at, i], `"${raw}" is neither an address (user@example.org) nor a domain (example.org)`);
    if (at_ >= 0) out.addresses.add(v); else out.domains.add(v);
  });
  return out;
}

function ipList(values: string[] | undefined, fail: Fail, at: (string | number)[]): Lists['ips'] {
  return (values ?? []).map((raw, i) => {
    try {
      if (raw.includes('/')) return ipaddr.parseCIDR(raw.trim());
      const a = ipaddr.parse(raw.trim());
      return [a, a.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
    } catch {
      return fail([...at, i], `"${raw}" is not an IP address or CIDR prefix (e.g. 192.0.2.0/24, 2001:db8::/32)`);
    }
  });
}

function lists(l: PolicyLayer['allow'], fail: Fail, at: string): Lists {
  return { senders: addressList(l?.senders, fail, [at, 'senders']), ips: ipList(l?.ips, fail, [at, 'ips']), recipients: addressList(l?.recipients, fail, [at, 'recipients']) };
}

const EMPTY: ScoringPolicy = { thresholds: {}, groups: new Map(), symbols: new Map(), force: [] };

/** The built-in default's scoring (default-policy.yaml), read once per catalogue (a process has one). */
const builtIn = new WeakMap<SymbolCatalog, ScoringPolicy>();
export function defaultScoring(known: SymbolCatalog): ScoringPolicy {
  let scoring = builtIn.get(known);
  if (!scoring) {
    const doc = PolicyDocument.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'), DEFAULT_POLICY_FILE);
    scoring = applyScoring(EMPTY, doc.section(DECISION_KEYS, policyFileShape), known, (path, problem) => { throw doc.error(path, problem); });
    builtIn.set(known, scoring);
  }
  return scoring;
}

/**
 * The deprecated DECISION_* variables on the built-in default, as before the policy file: each sets
 * its finding's action (a forced action replacing the default rules on the same symbols) or threshold.
 * The symbols they concern come from the default policy's groups (attachments, bayes), not from lists here.
 */
export function applyLegacyEnv(p: ScoringPolicy, env: LegacyEnv): ScoringPolicy {
  const out: ScoringPolicy = { thresholds: { ...p.thresholds }, groups: new Map(p.groups), symbols: new Map(p.symbols), force: [...p.force] };
  const members = (group: string) => [...out.symbols].filter(([, s]) => s.group === group && s.weight > 0).map(([n]) => n);
  const withRule = (name: string, symbols: string[], act: DecisionAction, extra: Partial<ForceRule> = {}) => {
    out.force = out.force.filter((r) => !r.symbols.every((s) => symbols.includes(s)));
    for (const s of symbols) { const cur = out.symbols.get(s); if (cur) out.symbols.set(s, { ...cur, weight: 0 }); }
    if (act !== 'deliver') out.force.push({ name, symbols, action: act, minScore: null, overAllow: false, description: `from ${name.toUpperCase().replace(/-/g, '_')}`, ...extra });
  };
  const minScore = (symbol: string, v: number) => {
    const cur = out.symbols.get(symbol);
    if (cur) out.symbols.set(symbol, v === Infinity ? { ...cur, weight: 0 } : { ...cur, minScore: v });
  };
  if (env.DECISION_SPAM_ACTION) withRule('decision-spam-action', ['BAYES_SPAM'], env.DECISION_SPAM_ACTION);
  if (env.DECISION_SPAM_UNSURE_ACTION) withRule('decision-spam-unsure-action', ['BAYES_UNSURE'], env.DECISION_SPAM_UNSURE_ACTION);
  if (env.DECISION_DMARC_REJECT_ACTION) withRule('decision-dmarc-reject-action', ['DMARC_POLICY_REJECT'], env.DECISION_DMARC_REJECT_ACTION);
  if (env.DECISION_DMARC_QUARANTINE_ACTION) withRule('decision-dmarc-quarantine-action', ['DMARC_POLICY_QUARANTINE'], env.DECISION_DMARC_QUARANTINE_ACTION);
  if (env.DECISION_DANGEROUS_ATTACHMENT_ACTION) withRule('decision-dangerous-attachment-action', members('attachments'), env.DECISION_DANGEROUS_ATTACHMENT_ACTION);
  if (env.DECISION_VIRUS_ACTION) withRule('decision-virus-action', ['MIME_VIRUS'], env.DECISION_VIRUS_ACTION, { overAllow: true });
  if (env.DECISION_SPAM_REJECT_PROBABILITY !== undefined && env.DECISION_SPAM_REJECT_PROBABILITY !== Infinity) {
    out.force.push({ name: 'decision-spam-reject-probability', symbols: [...out.symbols].filter(([, s]) => s.group === 'bayes').map(([n]) => n), action: 'reject', minScore: env.DECISION_SPAM_REJECT_PROBABILITY, overAllow: false, description: 'from DECISION_SPAM_REJECT_PROBABILITY' });
  }
  if (env.DECISION_REPUTATION_JUNK !== undefined) minScore('REPUTATION_BAD_NET', env.DECISION_REPUTATION_JUNK);
  if (env.DECISION_REPUTATION_QUARANTINE !== undefined) {
    const v = env.DECISION_REPUTATION_QUARANTINE;
    out.force = out.force.filter((r) => r.name !== 'bad-net');
    if (v !== Infinity) out.force.push({ name: 'bad-net', symbols: ['REPUTATION_BAD_NET'], action: 'quarantine', minScore: v, overAllow: false, description: 'from DECISION_REPUTATION_QUARANTINE' });
  }
  if (env.DECISION_DOMAIN_REPUTATION_JUNK !== undefined) minScore('REPUTATION_BAD_DOMAIN', env.DECISION_DOMAIN_REPUTATION_JUNK);
  return out;
}

/** JSON-able form of a scoring policy (for the version hash and `scop policy show`). */
export function scoringJson(p: ScoringPolicy) {
  return { thresholds: p.thresholds, groups: Object.fromEntries(p.groups), symbols: Object.fromEntries(p.symbols), force: p.force };
}

/**
 * The effective policy: built-in default → legacy env → the file (when given). Throws a
 * ConfigError naming the line and key of the first problem. `known`: the symbol names the
 * topology's stages declare (runtime/symbols.ts), handed in by whoever composes the process —
 * the decision imports no other stage.
 */
export function buildPolicy(doc: PolicyDocument | null, known: SymbolCatalog, env: LegacyEnv = {}): Policy {
  const layer: PolicyLayer = doc ? doc.section(DECISION_KEYS, policyFileShape) : {};
  const fail: Fail = (path, problem) => { throw doc ? doc.error(path, problem) : new Error(problem); };
  const start = layer.use_defaults === false ? EMPTY : applyLegacyEnv(defaultScoring(known), env);
  const base = applyScoring(start, layer, known, fail);
  const domains = new Map<string, ScoringPolicy>();
  for (const [domain, o] of Object.entries(layer.domains ?? {})) domains.set(domain, applyScoring(base, o, known, fail, ['domains', domain]));
  const allow = lists(layer.allow, fail, 'allow');
  const block = { ...lists(layer.block, fail, 'block'), action: layer.block?.action ?? 'reject' };
  const json = {
    ...scoringJson(base), domains: Object.fromEntries([...domains].map(([d, p]) => [d, scoringJson(p)])),
    allow: layer.allow ?? {}, block: layer.block ?? {},
  };
  const version = createHash('sha256').update(JSON.stringify(json)).digest('hex').slice(0, 16);
  return { ...base, version, source: doc?.file ?? 'built-in default', domains, allow, block };
}
