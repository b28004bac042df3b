/**
 * The topology's services (runtime/topology.ts) as the definitions `scop run` runs, and what
 * `scop start` runs for a deployment, in the topology's start order (stopped in reverse).
 *
 * The inbound chain (mime → auth → spam → firewall → decision) is grouped by SCOP_INBOUND: `fused`
 * (the default) runs it as one `inbound` service — one process, one transaction per chunk from
 * mail.inbound.raw to mail.inbound.decided — `separate` runs each stage as its own service over the
 * intermediate topics (to scale one hot stage on its own), and `mime+auth,spam+firewall+decision`
 * fuses groups of consecutive members (`scop run mime+auth`).
 */
import type { ServiceDefinition, SymbolsContext } from '../runtime/service.ts';
import { ConfigError } from '../runtime/config.ts';
import { SymbolCatalog } from '../runtime/symbols.ts';
import { chainSlice, INBOUND_CHAIN, runArgument, startUnits, TOPOLOGY, type Unit } from '../runtime/topology.ts';
import { ingressService } from '../ingress/service.ts';
import { matrixNotifierService } from '../egress/matrix/service.ts';
import { authService } from '../processors/auth/service.ts';
import { mimeService } from '../processors/mime/service.ts';
import { spamService } from '../processors/spam/service.ts';
import { spamLearnerService } from '../processors/spam/learner/service.ts';
import { dkimSignService } from '../processors/dkim-sign/service.ts';
import { firewallService } from '../processors/firewall/service.ts';
import { decisionService } from '../processors/decision/service.ts';
import { fusedService, inboundService } from './inbound.ts';
import { egressService } from '../egress/relay/service.ts';
import { consoleService } from '../console/service.ts';

/**
 * Each topology service's definition (cli/services.test.ts checks the two lists name the same services).
 * Typed as started with the symbol catalogue (SymbolsContext): the decision and the fused units need it,
 * so whatever starts one of these (cli/run-service.ts, e2e/acl.test.ts) cannot compile without it.
 */
const BY_NAME: ReadonlyMap<string, ServiceDefinition<SymbolsContext>> = new Map([ingressService, mimeService, authService, spamService, firewallService, decisionService, spamLearnerService, egressService, dkimSignService, matrixNotifierService, consoleService].map((d) => [d.name, d]));

/** Every service `scop run <name>` can run: the topology's, in start order, and the fused inbound chain after the ingress. */
export const SERVICES: ServiceDefinition<SymbolsContext>[] = TOPOLOGY.services.flatMap((n) => [definitionOf(n.name), ...(n.name === 'ingress' ? [inboundService] : [])]);

/**
 * Every symbol name the topology's stages emit, derived from their definitions (each declares its
 * names in its own folder, `processors/<stage>/symbol-names.ts`): what the decision's policy may
 * weigh. Handed to every process this CLI composes (cli/run-service.ts), fused or not.
 */
export const SYMBOL_CATALOG = new SymbolCatalog(TOPOLOGY.services.map((n) => [n.name, definitionOf(n.name).symbols] as const));

function definitionOf(name: string): ServiceDefinition<SymbolsContext> {
  const d = BY_NAME.get(name);
  if (!d) throw new Error(`topology service ${name} has no definition in cli/services.ts`);
  return d;
}

/** `scop run <name>`: a service, or a fused group of inbound members joined by + (`mime+auth`). */
export function serviceNamed(name: string): ServiceDefinition<SymbolsContext> {
  const def = SERVICES.find((s) => s.name === name);
  if (def) return def;
  if (name.includes('+')) return fusedService(chainSlice(INBOUND_CHAIN, name.split('+')));
  throw new ConfigError('service', `unknown service "${name}"`, `use one of: ${SERVICES.map((s) => s.name).join(', ')}, or consecutive inbound members joined by + (${INBOUND_CHAIN.members.join('+')})`);
}

/** What `scop start` runs for this deployment, in start order, with instance counts. */
export function startedUnits(env: NodeJS.ProcessEnv): { unit: Unit; def: ServiceDefinition<SymbolsContext> }[] {
  return startUnits(env).map((unit) => ({ unit, def: serviceNamed(runArgument(unit)) }));
}
