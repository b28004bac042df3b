/**
 * The pipeline's topology, described once: which services exist, in which order `scop start` starts
 * them, which topics each reads and writes (and so its Kafka ACLs), which consumer groups and
 * transactional ids it owns, and which section stages form a chain that a deployment may fuse into
 * one process. From it derive: the topics `scop topics apply` creates (`topologyTopics`), the
 * services `scop start` runs for a deployment (`startUnits`), the ACL principals
 * (infra/kafka/acls.ts), the end-to-end harness's wiring (e2e/pipeline.ts) and the README's diagram
 * (`topologyDiagram`, checked by runtime/topology.test.ts).
 *
 * It names stages and topics only (TopicKey): runtime imports no stage code, stages meet only
 * through topics and schemas. cli/services.ts maps these names to the stages' definitions, and
 * runtime/topology.test.ts checks that every section stage's definition reads and writes what its
 * node here says.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from './config.ts';
import { TOPICS, type TopicKey, type TopicSpec } from './topics.ts';

export interface TopologyNode {
  /** `scop run <name>`; its Kafka principal is `scop-<name>`. */
  name: string;
  /** What runs under the principal (SECURITY.md, `scop topics acls`); the name when absent. */
  runs?: string;
  /** A section stage's main input and output (a chain's members read the previous member's output). */
  input?: TopicKey;
  output?: TopicKey;
  /** Every topic it reads and writes (its input and output included): its topic ACLs. */
  reads: readonly TopicKey[];
  writes: readonly TopicKey[];
  /** Consumer group name prefixes (default `scop-<name>`); DELETE on them too when `deleteGroups`. */
  groups?: readonly string[];
  deleteGroups?: boolean;
  /** Transactional id prefixes of its exactly-once producers (default: none). */
  transactionalIds?: readonly string[];
  /** A few words for the diagram. */
  note?: string;
}

/** Section stages that run one after the other, each reading the previous one's output: fusable. */
export interface Chain {
  /** The fully fused chain's service name (`scop run inbound`). */
  name: string;
  members: readonly string[];
  /** Environment variable choosing how a deployment groups the members. */
  env: string;
}

const stage = (name: string, input: TopicKey, output: TopicKey, rest: Omit<TopologyNode, 'name' | 'input' | 'output' | 'reads' | 'writes'> & { reads?: readonly TopicKey[]; writes?: readonly TopicKey[] } = {}): TopologyNode => ({
  name, input, output, transactionalIds: [`scop-${name}`], ...rest,
  reads: [input, ...(rest.reads ?? [])], writes: [output, ...(rest.writes ?? [])],
});

/** Every long-running service, in the order `scop start` starts them (stopped in reverse). */
const SERVICES: readonly TopologyNode[] = [
  { name: 'ingress', note: 'SMTP MX + submission; 250 only after Kafka acks', reads: ['blocklist', 'greylist'], writes: ['inboundRaw', 'outboundRaw', 'smtpRefusals', 'greylist'] },
  stage('mime', 'inboundRaw', 'inboundParsed', { note: 'MIME structure, attachments', writes: ['deadLetters'] }),
  stage('auth', 'inboundParsed', 'inboundAuthenticated', { note: 'SPF DKIM DMARC ARC', reads: ['inboundRaw'], writes: ['dmarcEvents', 'deadLetters'] }),
  // No WRITE on spam.model: the trainer and the learner publish models (the stage then scores with its default file locally).
  stage('spam', 'inboundAuthenticated', 'inboundScored', { note: 'Bayesian spam score', reads: ['spamModel', 'inboundRaw'], writes: ['alerts', 'deadLetters'] }),
  // Its reputation stage (firewall.events → firewall.reputation) runs beside its screen stage, fused or not.
  stage('firewall', 'inboundScored', 'inboundScreened', {
    note: 'reputation per prefix and domain', reads: ['firewallEvents', 'firewallReputation'],
    writes: ['firewallEvents', 'firewallReputation', 'blocklist', 'alerts', 'deadLetters'],
  }),
  stage('decision', 'inboundScreened', 'inboundDecided', { note: 'policy: deliver, junk, quarantine, reject', writes: ['quarantine', 'deadLetters'] }),
  // The spam learner: labels in, signed model versions out, in one transaction under its fixed id;
  // not scop-spam…: the spam stage's prefixes would cover them (it could join the learner's groups or fence it).
  {
    name: 'spam-learner', note: 'learns spam.feedback, publishes models', reads: ['spamFeedback', 'inboundAuthenticated', 'inboundRaw', 'spamModel'],
    writes: ['spamModel', 'spamModelHistory', 'alerts'], groups: ['scop-learner'], deleteGroups: true, transactionalIds: ['scop-learner'],
  },
  {
    name: 'egress', note: 'next hop / Maildir / recipient MX; retries, DSNs', reads: ['inboundDecided', 'inboundRaw', 'outboundSigned', 'outboundRaw', 'deliveryRequests', 'deliveryRetry1', 'deliveryRetry2', 'deliveryRetry3', 'deliveryLog'],
    writes: ['deliveryRequests', 'deliveryRetry1', 'deliveryRetry2', 'deliveryRetry3', 'deliveryDead', 'deliveryLog', 'alerts', 'deadLetters'],
  },
  stage('dkim-sign', 'outboundRaw', 'outboundSigned', { note: 'RSA + Ed25519', writes: ['deadLetters'] }),
  { name: 'matrix-notifier', note: 'alerts to Matrix rooms', reads: ['alerts'], writes: ['deadLetters'] },
  // The web console acts for operators: it reads what the history and its pages show and writes what
  // `scop quarantine / firewall / spam feedback` write, plus its audit and its sinks' dead letters. Not
  // the pipeline's own topics: re-driving a dead letter to one (console/README.md) needs WRITE on it
  // granted on purpose. Its lag collector sees the groups it may describe.
  {
    name: 'console', note: 'web console for operators',
    reads: ['inboundDecided', 'outboundSigned', 'deliveryLog', 'deadLetters', 'quarantine', 'spamModel', 'spamModelHistory', 'spamFeedback', 'blocklist'],
    // spamModel: the model page's rollback republishes a version from spam.model.history. The console
    // holds no signing key: scorers accept only signed models, so it can at most bring back a version
    // that was published and signed before (what a rollback is).
    writes: ['quarantine', 'deliveryRequests', 'spamFeedback', 'blocklist', 'audit', 'deadLetters', 'spamModel'],
    groups: ['scop-history', 'scop-console', 'scop-read'], deleteGroups: true,
  },
];

export const INBOUND_CHAIN: Chain = { name: 'inbound', members: ['mime', 'auth', 'spam', 'firewall', 'decision'], env: 'SCOP_INBOUND' };

export const TOPOLOGY = { topics: TOPICS, services: SERVICES, chains: [INBOUND_CHAIN] } as const;

export function node(name: string): TopologyNode {
  const n = SERVICES.find((s) => s.name === name);
  if (!n) throw new Error(`topology: no service named "${name}"`);
  return n;
}

/** The topics the topology uses, in declaration order (every declared topic: topology.test.ts checks none is unused). */
export function topologyTopics(nodes: readonly TopologyNode[] = SERVICES): TopicSpec[] {
  const used = new Set(nodes.flatMap((n) => [...n.reads, ...n.writes]));
  return (Object.keys(TOPICS) as TopicKey[]).filter((k) => used.has(k)).map((k) => TOPICS[k]);
}

/** The topic keys `names` read or write, in declaration order. */
export function topicKeysOf(names: readonly string[]): TopicKey[] {
  const used = new Set(names.map(node).flatMap((n) => [...n.reads, ...n.writes]));
  return (Object.keys(TOPICS) as TopicKey[]).filter((k) => used.has(k));
}

// ——— Deployment: which members of a chain run fused ———

/**
 * What `scop start` runs: a service on its own, or members of a chain fused into one process (one
 * consumer group `scop-<name>`, one transaction per chunk). A fused unit is a node too: its reads
 * and writes are its members' without the topics between them, its groups and transactional ids
 * its own plus its members' (a deployment runs either the group or its members, never both, so it
 * may fence theirs).
 */
export interface Unit extends TopologyNode {
  /** Set for a fused group: its members in chain order. */
  members?: readonly string[];
  /** Processes `scop start` runs of it (instances share the partitions of its input). */
  instances: number;
}

/** The fused unit of `members` (consecutive members of `chain`); the whole chain is named after it. */
export function fusedUnit(chain: Chain, members: readonly string[], instances = 1): Unit {
  const name = members.length === chain.members.length ? chain.name : members.join('-');
  const of = members.map(node);
  // The topics between them: every member's output but the last's.
  const internal = new Set(of.slice(0, -1).map((n) => n.output));
  const union = <T>(pick: (n: TopologyNode) => readonly T[]) => [...new Set(of.flatMap(pick))];
  const own = `scop-${name}`;
  return {
    name, members, instances,
    runs: `${name} (${members.join(' → ')} fused)`,
    input: of[0]!.input, output: of.at(-1)!.output,
    reads: union((n) => n.reads).filter((k) => !internal.has(k)),
    writes: union((n) => n.writes).filter((k) => !internal.has(k)),
    groups: [own, ...union(groupsOf)],
    transactionalIds: [own, ...union((n) => n.transactionalIds ?? [])],
    note: `${members.join(' → ')} in one process and one transaction`,
  };
}

export const groupsOf = (n: TopologyNode): readonly string[] => n.groups ?? [`scop-${n.name}`];

/**
 * How a chain is grouped, from its environment variable: `fused` (the default: one process for the
 * whole chain), `separate` (one process per member), or groups of consecutive members joined by `+`
 * and separated by `,` (`mime+auth,spam+firewall+decision`): every member exactly once, in order.
 */
export function chainGroups(chain: Chain, value: string | undefined): string[][] {
  const v = value?.trim() || 'fused';
  if (v === 'fused') return [[...chain.members]];
  if (v === 'separate') return chain.members.map((m) => [m]);
  const groups = v.split(',').map((g) => g.split('+').map((m) => m.trim()));
  const flat = groups.flat();
  const fix = `use fused (one process for ${chain.members.join(' → ')}, the default), separate (one process per stage), or consecutive members joined by + and groups by , (e.g. ${chain.members.slice(0, 2).join('+')},${chain.members.slice(2).join('+')})`;
  const unknown = flat.find((m) => !chain.members.includes(m));
  if (unknown !== undefined) throw new ConfigError(chain.env, `"${unknown}" is not a member of the ${chain.name} chain (${chain.members.join(', ')})`, fix);
  if (flat.length !== chain.members.length || flat.some((m, i) => m !== chain.members[i])) {
    throw new ConfigError(chain.env, `"${v}" must name every member of the ${chain.name} chain once, in chain order (${chain.members.join(' → ')})`, fix);
  }
  return groups;
}

/** `members` if they are two or more consecutive members of `chain` (`scop run mime+auth`); a config error otherwise. */
export function chainSlice(chain: Chain, members: readonly string[]): string[] {
  const i = chain.members.indexOf(members[0] ?? '');
  const ok = members.length >= 2 && i >= 0 && members.every((m, j) => chain.members[i + j] === m);
  if (!ok) throw new ConfigError('service', `"${members.join('+')}" is not two or more consecutive members of the ${chain.name} chain`, `join consecutive members of ${chain.members.join(' → ')} by + (e.g. ${chain.members.slice(0, 2).join('+')})`);
  return [...members];
}

/** Instances of each fused unit (`SCOP_FUSED_INSTANCES`): default one per core, at least 1. */
export function fusedInstances(env: NodeJS.ProcessEnv, cores = availableParallelism()): number {
  const v = env.SCOP_FUSED_INSTANCES?.trim();
  if (!v) return Math.max(1, cores);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError('SCOP_FUSED_INSTANCES', `"${v}" is not a whole number from 1 to 256`, 'set how many processes of each fused unit `scop start` runs (default: one per core)');
  return n;
}

/** How `scop run` names a unit: a group of some members of a chain is its members joined by + (`mime+auth`). */
export const runArgument = (u: Unit): string => (u.members && u.name === u.members.join('-') ? u.members.join('+') : u.name);

/** What `scop start` runs for this environment's deployment, in start order. */
export function startUnits(env: NodeJS.ProcessEnv = {}, cores?: number): Unit[] {
  const out: Unit[] = [];
  for (const n of SERVICES) {
    const chain = TOPOLOGY.chains.find((c) => c.members.includes(n.name));
    if (!chain) { out.push({ ...n, instances: 1 }); continue; }
    if (chain.members[0] !== n.name) continue; // the chain's units go where its first member is
    for (const g of chainGroups(chain, env[chain.env])) {
      out.push(g.length === 1 ? { ...node(g[0]!), instances: 1 } : fusedUnit(chain, g, fusedInstances(env, cores)));
    }
  }
  return out;
}

// ——— The diagram (README.md) ———

/** The topology as a Mermaid flowchart: services are boxes, topics rounded, the chain a subgraph. */
export function topologyDiagram(): string {
  // Services s_…, topics t_…: no clash between the two, nor with Mermaid's keywords (end, graph).
  const id = (k: string) => k.replace(/[^A-Za-z0-9]/g, '_');
  const sid = (name: string) => `s_${id(name)}`;
  const tid = (k: TopicKey) => `t_${id(k)}`;
  const lines = ['flowchart TD'];
  const box = (n: TopologyNode) => `${sid(n.name)}["<b>${n.name}</b>${n.note ? `<br/>${n.note}` : ''}"]`;
  for (const chain of TOPOLOGY.chains) {
    lines.push(`  subgraph ${sid(chain.name)}["${chain.name}: fused by default (${chain.env}=fused), or one process per stage"]`);
    for (const m of chain.members) lines.push(`    ${box(node(m))}`);
    lines.push('  end');
  }
  const inChain = new Set(TOPOLOGY.chains.flatMap((c) => c.members));
  for (const n of SERVICES) if (!inChain.has(n.name)) lines.push(`  ${box(n)}`);
  // ops.dead-letters: every stage writes it; drawn once, not as a dozen arrows.
  const everywhere: TopicKey = 'deadLetters';
  for (const k of topicKeysOf(SERVICES.map((n) => n.name))) {
    if (k === everywhere) continue;
    lines.push(`  ${tid(k)}(["${TOPICS[k].name}"])`);
  }
  for (const n of SERVICES) {
    for (const k of n.writes) if (k !== everywhere) lines.push(`  ${sid(n.name)} --> ${tid(k)}`);
    for (const k of n.reads) if (k !== everywhere) lines.push(`  ${tid(k)} --> ${sid(n.name)}`);
  }
  lines.push(`  note["every stage: undecodable or failed records → ${TOPICS[everywhere].name} (reason + original bytes)"]`);
  return lines.join('\n');
}
