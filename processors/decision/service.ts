/**
 * The decision stage: mail.inbound.screened → the record with its `decision` section on
 * mail.inbound.decided; messages to hold (quarantine) or refused after acceptance (reject) are
 * also written to mail.quarantine, keyed by record id, in the same transaction — never dropped.
 */
import type { Counter, Registry } from 'prom-client';
import { counterOn } from '../../runtime/metrics.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { loadDecisionConfig, type DecisionConfig } from './config.ts';
import { decide, STAGE_VERSION } from './decide.ts';

interface DecisionState {
  config: DecisionConfig;
  actions: Counter<'action'>;
}

function actionsCounter(registry: Registry): Counter<'action'> {
  const c = counterOn(registry, { name: 'scop_decision_actions_total', help: 'Decisions by action (deliver, junk, quarantine, reject).', labelNames: ['action'] as const });
  // Every action starts at zero: dashboards and alerts see each series before its first decision.
  for (const action of ['deliver', 'junk', 'quarantine', 'reject']) c.inc({ action }, 0);
  return c;
}

export const decisionService = defineStage<DecisionState, 'decision'>({
  name: 'decision',
  section: 'decision',
  version: STAGE_VERSION,
  description: 'decides deliver / junk / quarantine / reject from the auth, spam, MIME and firewall sections; holds quarantined and rejected mail on mail.quarantine',
  input: TOPICS.inboundScreened,
  output: TOPICS.inboundDecided,
  sideOutputs: { quarantine: TOPICS.quarantine },
  // Decides on the sections only; held mail gets its raw fetched for mail.quarantine by the runtime.
  needsRaw: false,
  defaultMetricsPort: 9476,
  init(svc) {
    const config = loadDecisionConfig(svc.env);
    svc.log.info({ config }, 'decision thresholds');
    return { config, actions: actionsCounter(svc.metrics) };
  },
  process(record, ctx) {
    const decision = decide(record, ctx.state.config);
    ctx.state.actions.inc({ action: decision.action });
    ctx.log.info({ action: decision.action, reasons: decision.reasons }, 'decided');
    return { section: decision };
  },
  // Held mail goes to mail.quarantine whole, with its decision.
  afterMerge(record, ctx) {
    const action = record.decision?.action;
    if (action === 'quarantine' || action === 'reject') ctx.emit('quarantine', record.envelope.id, record);
  },
});
