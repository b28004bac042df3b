/**
 * The Kafka ACLs each scop principal needs — and so, on a broker that denies what no ACL allows,
 * everything it is refused. One table: SECURITY.md explains it, `scop acls` prints it as
 * `kafka-acls.sh` commands for an operator's cluster, and infra/kafka/acl.test.ts applies it to a
 * local SASL/SCRAM broker and runs the services under these principals.
 *
 * Resource names follow the services' own naming: consumer groups are `scop-<service>…` (stage and
 * sink groups, and compacted-topic followers `scop-<follower>-<host>-<pid>-…`), transactional ids
 * `scop-<stage>.<topic>.<partition>`; both are granted by prefix, per service, so one service cannot
 * join or fence another's. READ and WRITE on a topic include DESCRIBE.
 */
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type Admin } from '../../runtime/kafka.ts';
import { TOPICS, type TopicKey } from '../../runtime/topics.ts';
import { fusedUnit, groupsOf, INBOUND_CHAIN, startUnits, TOPOLOGY, type TopologyNode } from '../../runtime/topology.ts';

export interface PrincipalAccess {
  /** SASL user name; the ACL principal is `User:<principal>`. */
  principal: string;
  /** What runs under it. */
  runs: string;
  read: readonly TopicKey[];
  write: readonly TopicKey[];
  /** Consumer group name prefixes (READ; DELETE too when `deleteGroups`). */
  groups: readonly string[];
  deleteGroups?: boolean;
  /** Transactional id prefixes (WRITE): the stages' exactly-once producers. */
  transactionalIds: readonly string[];
  /** Topics outside TOPICS (the registry's `_schemas`), with the operations allowed. */
  otherTopics?: readonly { name: string; ops: readonly ('READ' | 'WRITE' | 'CREATE' | 'DESCRIBE')[] }[];
  /** Read every topic (operators' `scop replay`). */
  readAll?: boolean;
}

const ALL_TOPICS = Object.keys(TOPICS) as TopicKey[];

/** A topology node's (a service's or a fused unit's) access: principal `scop-<name>`. */
export function accessOf(n: TopologyNode): PrincipalAccess {
  return {
    principal: `scop-${n.name}`, runs: n.runs ?? n.name, read: n.reads, write: n.writes,
    groups: groupsOf(n), ...(n.deleteGroups ? { deleteGroups: true } : {}), transactionalIds: n.transactionalIds ?? [],
  };
}

/** Principals that are not services of the topology: operators' commands and the registry. */
const CLIENTS: readonly PrincipalAccess[] = [
  // `scop spam train --from-topics --publish` / `scop spam publish`: with the learner, the writers of spam.model.
  // (publishing also writes the version to spam.model.history; `scop spam rollback` reads it back.)
  { principal: 'scop-trainer', runs: 'scop spam train / publish / rollback', read: ['spamFeedback', 'inboundAuthenticated', 'inboundScored', 'inboundDecided', 'inboundRaw', 'spamModel', 'spamModelHistory'], write: ['spamModel', 'spamModelHistory'], groups: ['scop-read', 'scop-spam-model'], deleteGroups: true, transactionalIds: [] },
  // `scop quarantine`, `scop firewall`, `scop spam feedback`, `scop replay`.
  {
    principal: 'scop-operator', runs: 'scop quarantine / firewall / replay / spam feedback', read: ALL_TOPICS, readAll: true,
    write: ['quarantine', 'deliveryRequests', 'spamFeedback', 'blocklist'], groups: ['scop-read'], deleteGroups: true, transactionalIds: [],
  },
  // scop's own schema registry (infra/registry): its log topic only. (Apicurio: its own `_apicurio*` topics.)
  { principal: 'scop-registry', runs: 'schema registry (infra/registry)', read: [], write: [], groups: ['scop-registry'], transactionalIds: [], otherTopics: [{ name: '_schemas', ops: ['READ', 'WRITE', 'CREATE', 'DESCRIBE'] }] },
];

/**
 * `scop run inbound` (SCOP_INBOUND=fused, the default): the chain's members in one process, so its
 * principal is theirs put together without the topics between them (runtime/topology.ts fusedUnit).
 */
export const FUSED_INBOUND = accessOf(fusedUnit(INBOUND_CHAIN, INBOUND_CHAIN.members));

/**
 * Every service of the topology on its own and the fully fused inbound chain, then the clients. A
 * deployment that fuses other groups (SCOP_INBOUND=mime+auth,…) gets theirs from `accessFor`.
 */
export const ACCESS: readonly PrincipalAccess[] = [...TOPOLOGY.services.map(accessOf), ...CLIENTS, FUSED_INBOUND];

/** ACCESS and the fused units of this environment's deployment (runtime/topology.ts startUnits) that it lacks. */
export function accessFor(env: NodeJS.ProcessEnv): PrincipalAccess[] {
  const extra = startUnits(env, 1).filter((u) => u.members && !ACCESS.some((a) => a.principal === `scop-${u.name}`)).map(accessOf);
  return [...ACCESS, ...extra];
}

export interface AclBinding {
  resourceType: 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID';
  name: string;
  pattern: 'LITERAL' | 'PREFIXED';
  principal: string;
  operation: 'READ' | 'WRITE' | 'CREATE' | 'DESCRIBE' | 'DELETE';
}

/** Every ALLOW binding of the table; `topicName` maps a topic key to its name (tests use other names). */
export function aclBindings(access: readonly PrincipalAccess[] = ACCESS, topicName: (k: TopicKey) => string = (k) => TOPICS[k].name): AclBinding[] {
  const out: AclBinding[] = [];
  for (const a of access) {
    const principal = `User:${a.principal}`;
    const topic = (name: string, operation: AclBinding['operation']) => out.push({ resourceType: 'TOPIC', name, pattern: 'LITERAL', principal, operation });
    for (const k of a.read) topic(topicName(k), 'READ');
    for (const k of a.write) topic(topicName(k), 'WRITE');
    for (const t of a.otherTopics ?? []) for (const op of t.ops) topic(t.name, op);
    for (const g of a.groups) {
      out.push({ resourceType: 'GROUP', name: g, pattern: 'PREFIXED', principal, operation: 'READ' });
      if (a.deleteGroups) out.push({ resourceType: 'GROUP', name: g, pattern: 'PREFIXED', principal, operation: 'DELETE' });
    }
    for (const t of a.transactionalIds) out.push({ resourceType: 'TRANSACTIONAL_ID', name: t, pattern: 'PREFIXED', principal, operation: 'WRITE' });
  }
  return out;
}

/** The bindings as `kafka-acls.sh` commands (one per principal, resource and pattern), for an operator's cluster. */
export function kafkaAclsCommands(bindings: AclBinding[], bootstrap = '<broker:9092>', commandConfig = '<admin.properties>'): string[] {
  const groups = new Map<string, AclBinding[]>();
  for (const b of bindings) {
    const k = `${b.principal}\u0000${b.resourceType}\u0000${b.name}\u0000${b.pattern}`;
    groups.set(k, [...(groups.get(k) ?? []), b]);
  }
  const flag = { TOPIC: '--topic', GROUP: '--group', TRANSACTIONAL_ID: '--transactional-id' } as const;
  return [...groups.values()].map((bs) => {
    const b = bs[0]!;
    const ops = bs.map((x) => `--operation ${x.operation[0]}${x.operation.slice(1).toLowerCase()}`).join(' ');
    return `kafka-acls.sh --bootstrap-server ${bootstrap} --command-config ${commandConfig} --add --allow-principal ${b.principal} ${ops} ${flag[b.resourceType]} ${b.name} --resource-pattern-type ${b.pattern.toLowerCase()}`;
  });
}

/** The table as SECURITY.md shows it (Markdown), one row per principal; infra/kafka/acls.test.ts keeps SECURITY.md equal to it. */
export function aclTable(access: readonly PrincipalAccess[] = ACCESS): string {
  const names = (ks: readonly TopicKey[]) => ks.map((k) => TOPICS[k].name).join(', ');
  const del = (a: PrincipalAccess) => (a.deleteGroups ? ' (+ DELETE)' : '');
  const rows = access.map((a) => {
    const reads = a.readAll ? 'every topic (`scop replay`)' : [names(a.read), ...(a.otherTopics ?? []).map((t) => `\`${t.name}\` (${t.ops.join(', ')})`)].filter(Boolean).join(', ');
    return `| \`${a.principal}\` | ${reads} | ${names(a.write) || '—'} | ${a.groups.join(', ')}${del(a)} | ${a.transactionalIds.join(', ') || '—'} |`;
  });
  return ['| principal | reads | writes | groups (prefix) | transactional ids (prefix) |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** Creates the bindings on a cluster (as a super user or a principal with ALTER on the cluster). */
export async function applyAcls(admin: Admin, bindings: AclBinding[]): Promise<void> {
  await admin.createAcls({
    acl: bindings.map((b) => ({
      resourceType: AclResourceTypes[b.resourceType],
      resourceName: b.name,
      resourcePatternType: ResourcePatternTypes[b.pattern],
      principal: b.principal,
      host: '*',
      operation: AclOperationTypes[b.operation],
      permissionType: AclPermissionTypes.ALLOW,
    })),
  });
}
