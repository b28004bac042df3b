/**
 * The decision stage: mail.inbound.screened → the record with its `decision` section (and the
 * decision's own allow/block-list symbols) on mail.inbound.decided; messages to hold (quarantine)
 * or refused after acceptance (reject) are also written to mail.quarantine, keyed by record id, in
 * the same transaction — never dropped. The policy comes from the policy file (SCOP_POLICY_FILE) or
 * the built-in default, and a changed file is used from the next record on, without a restart.
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import { counterOn, gaugeOn } from '../../runtime/metrics.ts';
import { followPolicyFile, PolicyDocument, type PolicyFollower } from '../../runtime/policy-file.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { Logger } from '../../runtime/log.ts';
import type { SymbolsContext } from '../../runtime/service.ts';
import { loadDecisionConfig } from './config.ts';
import { decide, STAGE_VERSION } from './decide.ts';
import { buildPolicy, type Policy } from './policy.ts';
import { DECISION_SYMBOLS } from './symbol-names.ts';

interface DecisionState {
  /** Swapped whole (one assignment) on a reload: a record is decided by exactly one policy, and says which. */
  policy: Policy;
  follower: PolicyFollower | null;
  actions: Counter<'action'>;
}

const ACTIONS = ['deliver', 'add_header', 'junk', 'quarantine', 'reject'];

function decisionMetrics(registry: Registry): { actions: Counter<'action'>; policyInfo: Gauge<'version'>; reloads: Counter<'outcome'> } {
  const actions = counterOn(registry, { name: 'scop_decision_actions_total', help: 'Decisions by action (deliver, add_header, junk, quarantine, reject).', labelNames: ['action'] as const });
  // Every series starts at zero: dashboards and alerts see it before its first event.
  for (const action of ACTIONS) actions.inc({ action }, 0);
  const reloads = counterOn(registry, { name: 'scop_decision_policy_reloads_total', help: 'Changes of the policy file seen: applied, or refused (invalid; the policy in use stays).', labelNames: ['outcome'] as const });
  for (const outcome of ['applied', 'refused']) reloads.inc({ outcome }, 0);
  const policyInfo = gaugeOn(registry, { name: 'scop_decision_policy_info', help: 'The policy version this instance decides with (value 1; earlier versions drop to 0). Instances that disagree show as two versions at 1.', labelNames: ['version'] as const });
  return { actions, policyInfo, reloads };
}

function describe(policy: Policy) {
  return { version: policy.version, source: policy.source, thresholds: policy.thresholds, symbols: policy.symbols.size, force: policy.force.map((r) => r.name), domains: [...policy.domains.keys()] };
}

// Started only with the symbol catalogue (SymbolsContext): a context without it does not compile.
export const decisionService = defineStage<DecisionState, 'decision', SymbolsContext>({
  name: 'decision',
  symbols: DECISION_SYMBOLS,
  section: 'decision',
  version: STAGE_VERSION,
  description: 'weighs every stage\'s symbols with the policy file: deliver / add_header / junk / quarantine / reject; holds quarantined and rejected mail on mail.quarantine',
  input: TOPICS.inboundScreened,
  output: TOPICS.inboundDecided,
  sideOutputs: { quarantine: TOPICS.quarantine },
  // Decides on the sections only; held mail gets its raw fetched for mail.quarantine by the runtime.
  needsRaw: false,
  defaultMetricsPort: 9476,
  init(svc) {
    const config = loadDecisionConfig(svc.env);
    const log: Logger = svc.log.child({ component: 'policy' });
    if (Object.keys(config.legacy).length) log.warn({ variables: Object.keys(config.legacy) }, 'DECISION_* variables are deprecated: move them into the policy file (processors/decision/README.md, "Migrating from DECISION_* variables")');
    // The names the policy may weigh: the topology's stages' declarations, handed in where the
    // process is composed (this stage imports no other stage).
    const known = svc.symbols;
    // An invalid file stops the start with its line and key (ConfigError).
    const policy = buildPolicy(config.policyFile ? PolicyDocument.read(config.policyFile) : null, known, config.legacy);
    const m = decisionMetrics(svc.metrics);
    m.policyInfo.set({ version: policy.version }, 1);
    log.info(describe(policy), 'decision policy');
    const state: DecisionState = { policy, follower: null, actions: m.actions };
    if (config.policyFile) {
      state.follower = followPolicyFile(config.policyFile, {
        intervalMs: config.pollMs, log,
        onChange(doc) {
          const next = buildPolicy(doc, known, config.legacy);
          if (next.version === state.policy.version) return;
          m.policyInfo.set({ version: state.policy.version }, 0);
          state.policy = next;
          m.policyInfo.set({ version: next.version }, 1);
          m.reloads.inc({ outcome: 'applied' });
          log.info(describe(next), 'decision policy changed');
        },
        onError: () => m.reloads.inc({ outcome: 'refused' }),
      });
    }
    return state;
  },
  close(state) {
    state.follower?.stop();
  },
  process(record, ctx) {
    const { section, symbols } = decide(record, ctx.state.policy);
    ctx.state.actions.inc({ action: section.action });
    ctx.log.info({ action: section.action, score: section.score, forcedBy: section.forcedBy, reasons: section.reasons, policy: section.policyVersion }, 'decided');
    return { section, symbols };
  },
  // Held mail goes to mail.quarantine whole, with its decision.
  afterMerge(record, ctx) {
    const action = record.decision?.action;
    if (action === 'quarantine' || action === 'reject') ctx.emit('quarantine', record.envelope.id, record);
  },
});
