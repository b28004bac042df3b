/**
 * `scop run inbound`: the inbound chain fused — mime → auth → spam → firewall → decision in one
 * process, one consumer of mail.inbound.raw and one read-process-write transaction per chunk up to
 * mail.inbound.decided (with every member's side outputs: DMARC events, reputation events, held
 * mail, dead letters, and the consumed offsets), the way Kafka Streams runs a sub-topology in one
 * task (runtime/stage.ts runChain). The stage definitions are the ones `scop run mime` etc. run
 * alone; nothing is written to the intermediate topics (mail.inbound.decided carries every
 * section, so replay and retraining lose nothing). The raw message is decoded once per process:
 * the chain reads it from the consumed record and mail.inbound.decided refers to it.
 *
 * Scale out by starting more instances (same consumer group `scop-inbound`): they share the
 * partitions of mail.inbound.raw. The firewall's reputation stage (firewall.events →
 * firewall.reputation) runs beside the chain in the same process, as `scop run firewall` runs it.
 */
import type { ServiceContext, ServiceDefinition } from '../../runtime/service.ts';
import { runChain, type StageOverrides } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import { authService } from '../auth/service.ts';
import { decisionService } from '../decision/service.ts';
import { startFirewallWith, type RunningFirewall } from '../firewall/service.ts';
import { mimeService } from '../mime/service.ts';
import { spamService } from '../spam/service.ts';

/** The members of the fused chain, in order (each reads the previous one's output topic when run alone). */
export const INBOUND_CHAIN = ['mime', 'auth', 'spam', 'firewall', 'decision'] as const;

export interface InboundOverrides {
  /** The chain: input (mail.inbound.raw), output (mail.inbound.decided), dead letters, group. */
  chain?: Pick<StageOverrides, 'input' | 'output' | 'deadLetters' | 'groupId' | 'sessionTimeoutMs'>;
  /** Side outputs of the members. */
  dmarcEvents?: string;
  firewallEvents?: string;
  quarantine?: string;
  /** The firewall's reputation stage beside the chain, and the topic its table follows. */
  reputation?: StageOverrides;
  reputationTopic?: string;
}

export async function startInbound(ctx: ServiceContext, o: InboundOverrides = {}): Promise<RunningFirewall> {
  // The firewall's table and reputation stage as `scop run firewall` has them; its screen stage runs in the chain.
  return startFirewallWith(ctx, o, (screen) => runChain(ctx, [
    { stage: mimeService.stage },
    { stage: authService.stage, overrides: { sideOutputs: { dmarcEvents: o.dmarcEvents ?? TOPICS.dmarcEvents.name } } },
    { stage: spamService.stage },
    { stage: screen.stage, overrides: { sideOutputs: { events: o.firewallEvents ?? TOPICS.firewallEvents.name } } },
    { stage: decisionService.stage, overrides: { sideOutputs: { quarantine: o.quarantine ?? TOPICS.quarantine.name } } },
  ], { name: 'inbound', description: inboundService.description, defaultMetricsPort: inboundService.defaultMetricsPort }, o.chain ?? {}));
}

export const inboundService: ServiceDefinition = {
  name: 'inbound',
  description: `the inbound chain fused in one process and one transaction per chunk: ${INBOUND_CHAIN.join(' → ')} (mail.inbound.raw → mail.inbound.decided)`,
  metricsPortEnv: 'INBOUND_METRICS_PORT',
  defaultMetricsPort: 9477,
  start: (ctx) => startInbound(ctx),
};
