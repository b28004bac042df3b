/**
 * `scop run inbound`: the inbound chain fused — mime → auth → spam → firewall → decision in one
 * process, one consumer of mail.inbound.raw and one read-process-write transaction per chunk up to
 * mail.inbound.decided (with every member's side outputs: DMARC events, reputation events, held
 * mail, dead letters, and the consumed offsets), the way Kafka Streams runs a sub-topology in one
 * task (runtime/stage.ts runChain). The stage definitions are the ones `scop run mime` etc. run
 * alone; nothing is written to the intermediate topics (mail.inbound.decided carries every
 * section, so replay and retraining lose nothing) unless INBOUND_WRITE_INTERMEDIATE=true. The raw
 * message is decoded once per process: the chain reads it from the consumed record and
 * mail.inbound.decided refers to it.
 *
 * Any consecutive members fuse the same way (`scop run mime+auth`, SCOP_INBOUND=mime+auth,…): the
 * members and their topics come from the topology (runtime/topology.ts). Scale out by starting
 * more instances (same consumer group `scop-inbound`; `scop start` runs SCOP_FUSED_INSTANCES): they
 * share the partitions of mail.inbound.raw. The firewall's reputation stage (firewall.events →
 * firewall.reputation) runs beside the chain in the same process, as `scop run firewall` runs it.
 * Here in cli/ because composing stages into a deployment is wiring: only cli/ imports every stage
 * (README "Layout", infra/layers.test.ts).
 */
import { serviceIdentity, type RunningService, type ServiceDefinition, type SymbolsContext } from '../runtime/service.ts';
import { runChain, type ChainMember, type RunningStage, type StageOverrides } from '../runtime/stage.ts';
import { TOPICS } from '../runtime/topics.ts';
import { fusedUnit, INBOUND_CHAIN, node } from '../runtime/topology.ts';
import { envBool, loadEnv } from '../runtime/config.ts';
import { authService } from '../processors/auth/service.ts';
import { decisionService } from '../processors/decision/service.ts';
import { startFirewallWith, type RunningFirewall } from '../processors/firewall/service.ts';
import { mimeService } from '../processors/mime/service.ts';
import { spamService } from '../processors/spam/service.ts';

export interface InboundOverrides {
  /** The chain: input (its first member's, mail.inbound.raw), output (its last member's), dead letters, group. */
  chain?: Pick<StageOverrides, 'input' | 'output' | 'deadLetters' | 'groupId' | 'sessionTimeoutMs'>;
  /** Side outputs of the members. */
  dmarcEvents?: string;
  firewallEvents?: string;
  quarantine?: string;
  /** The firewall's reputation stage beside the chain, and the topic its table follows. */
  reputation?: StageOverrides;
  reputationTopic?: string;
  /** Intermediate topics by member (its output when it is not the last), for writeIntermediate. */
  outputs?: Record<string, string>;
  /** Also write each member's output to its own topic (INBOUND_WRITE_INTERMEDIATE; off by default). */
  writeIntermediate?: boolean;
}

/** A running fused unit: the firewall's table and stages when the firewall is a member. */
export type RunningFused = RunningService & Partial<Pick<RunningFirewall, 'table' | 'stages'>>;

/**
 * Runs `members` (consecutive members of the inbound chain, runtime/topology.ts) fused: one consumer
 * of the first member's input, one transaction per chunk up to the last member's output. With the
 * firewall among them, its table and reputation stage start beside the chain, as `scop run firewall`
 * has them; its screen stage runs in the chain.
 */
export async function startFused(ctx: SymbolsContext, members: readonly string[], o: InboundOverrides = {}): Promise<RunningFused> {
  const unit = fusedUnit(INBOUND_CHAIN, members);
  const def = fusedService(members);
  const writeIntermediate = o.writeIntermediate ?? loadEnv({ INBOUND_WRITE_INTERMEDIATE: envBool().default('false') }, { INBOUND_WRITE_INTERMEDIATE: 'true to also write the intermediate topics (mail.inbound.parsed …) in fused mode, false (default) not to' }, ctx.env).INBOUND_WRITE_INTERMEDIATE;
  // Typed with the catalogue whatever the members (known at run time only): the decision may be one; a
  // unit without it is handed a catalogue it does not read.
  const run = (screen?: ChainMember['stage']): Promise<RunningStage> => {
    const stages: Record<string, ChainMember<SymbolsContext>> = {
      mime: { stage: mimeService.stage },
      auth: { stage: authService.stage, overrides: { sideOutputs: { dmarcEvents: o.dmarcEvents ?? TOPICS.dmarcEvents.name } } },
      spam: { stage: spamService.stage },
      ...(screen ? { firewall: { stage: screen, overrides: { sideOutputs: { events: o.firewallEvents ?? TOPICS.firewallEvents.name } } } } : {}),
      decision: { stage: decisionService.stage, overrides: { sideOutputs: { quarantine: o.quarantine ?? TOPICS.quarantine.name } } },
    };
    const chain = members.map((m): ChainMember<SymbolsContext> => {
      const c = stages[m];
      if (!c) throw new Error(`fused ${unit.name}: no stage for member ${m}`);
      const output = o.outputs?.[m];
      return output ? { ...c, overrides: { ...c.overrides, output } } : c;
    });
    return runChain(ctx, chain, { name: unit.name, description: def.description, defaultMetricsPort: def.defaultMetricsPort, writeIntermediate }, o.chain ?? {});
  };
  if (!members.includes('firewall')) return run();
  return startFirewallWith(ctx, o, (screen) => run(screen.stage));
}

/** The whole inbound chain fused (`scop run inbound`). */
export function startInbound(ctx: SymbolsContext, o: InboundOverrides = {}): Promise<RunningFirewall> {
  return startFused(ctx, INBOUND_CHAIN.members, o) as Promise<RunningFirewall>;
}

/**
 * The service of a fused group of consecutive chain members: `inbound` for the whole chain, else the
 * members joined by `-` (`scop run mime+auth` runs `mime-auth`), metrics on its first member's default
 * port (that member does not run alone in a deployment that fuses it).
 */
export function fusedService(members: readonly string[]): ServiceDefinition<SymbolsContext> {
  const unit = fusedUnit(INBOUND_CHAIN, members);
  const whole = members.length === INBOUND_CHAIN.members.length;
  const first = [mimeService, authService, spamService, decisionService].find((s) => s.name === members[0]);
  const input = TOPICS[node(members[0]!).input!].name;
  const output = TOPICS[node(members.at(-1)!).output!].name;
  return {
    ...serviceIdentity('fused unit', {
      name: unit.name,
      description: `${whole ? 'the inbound chain' : 'inbound chain members'} fused in one process and one transaction per chunk: ${members.join(' → ')} (${input} → ${output})`,
      defaultMetricsPort: whole ? 9477 : first?.defaultMetricsPort ?? 9474,
    }),
    start: (ctx) => startFused(ctx, members),
  };
}

export const inboundService: ServiceDefinition<SymbolsContext> = fusedService(INBOUND_CHAIN.members);
