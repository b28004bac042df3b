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

const SEPARATE: readonly PrincipalAccess[] = [
  { principal: 'scop-ingress', runs: 'ingress', read: ['blocklist', 'greylist'], write: ['inboundRaw', 'outboundRaw', 'smtpRefusals', 'greylist'], groups: ['scop-ingress'], transactionalIds: [] },
  { principal: 'scop-mime', runs: 'mime', read: ['inboundRaw'], write: ['inboundParsed', 'deadLetters'], groups: ['scop-mime'], transactionalIds: ['scop-mime'] },
  { principal: 'scop-auth', runs: 'auth', read: ['inboundParsed', 'inboundRaw'], write: ['inboundAuthenticated', 'dmarcEvents', 'deadLetters'], groups: ['scop-auth'], transactionalIds: ['scop-auth'] },
  // No WRITE on spam.model: the trainer publishes models (the stage then scores with its default file locally).
  { principal: 'scop-spam', runs: 'spam', read: ['inboundAuthenticated', 'spamModel', 'inboundRaw'], write: ['inboundScored', 'alerts', 'deadLetters'], groups: ['scop-spam'], transactionalIds: ['scop-spam'] },
  {
    principal: 'scop-firewall', runs: 'firewall', read: ['inboundScored', 'firewallEvents', 'firewallReputation'],
    write: ['inboundScreened', 'firewallEvents', 'firewallReputation', 'blocklist', 'alerts', 'deadLetters'], groups: ['scop-firewall'], transactionalIds: ['scop-firewall'],
  },
  { principal: 'scop-decision', runs: 'decision', read: ['inboundScreened'], write: ['inboundDecided', 'quarantine', 'deadLetters'], groups: ['scop-decision'], transactionalIds: ['scop-decision'] },
  {
    principal: 'scop-egress', runs: 'egress', read: ['inboundDecided', 'inboundRaw', 'outboundSigned', 'outboundRaw', 'deliveryRequests', 'deliveryRetry1', 'deliveryRetry2', 'deliveryRetry3', 'deliveryLog'],
    write: ['deliveryRequests', 'deliveryRetry1', 'deliveryRetry2', 'deliveryRetry3', 'deliveryDead', 'deliveryLog', 'alerts', 'deadLetters'], groups: ['scop-egress'], transactionalIds: [],
  },
  { principal: 'scop-dkim-sign', runs: 'dkim-sign', read: ['outboundRaw'], write: ['outboundSigned', 'deadLetters'], groups: ['scop-dkim-sign'], transactionalIds: ['scop-dkim-sign'] },
  { principal: 'scop-matrix-notifier', runs: 'matrix-notifier', read: ['alerts'], write: ['deadLetters'], groups: ['scop-matrix-notifier'], transactionalIds: [] },
  // The web console (console/) acts for operators: it reads what the history and its pages show and
  // writes what `scop quarantine / firewall / spam feedback` write, plus its audit and its sinks' dead
  // letters. Not the pipeline's own topics: re-driving a dead letter to one (console/README.md) needs
  // WRITE on it granted on purpose. Its lag collector sees the groups it may describe.
  {
    principal: 'scop-console', runs: 'console',
    read: ['inboundDecided', 'outboundSigned', 'deliveryLog', 'deadLetters', 'quarantine', 'spamModel', 'spamModelHistory', 'spamFeedback', 'blocklist'],
    // spamModel: the model page's rollback republishes a version from spam.model.history. The console
    // holds no signing key: scorers accept only signed models, so it can at most bring back a version
    // that was published and signed before (what a rollback is).
    write: ['quarantine', 'deliveryRequests', 'spamFeedback', 'blocklist', 'audit', 'deadLetters', 'spamModel'],
    groups: ['scop-history', 'scop-console', 'scop-read'], deleteGroups: true, transactionalIds: [],
  },
  // `scop spam train --from-topics --publish` / `scop spam publish`: with the learner, the writers of spam.model.
  // (publishing also writes the version to spam.model.history; `scop spam rollback` reads it back.)
  { principal: 'scop-trainer', runs: 'scop spam train / publish / rollback', read: ['spamFeedback', 'inboundAuthenticated', 'inboundScored', 'inboundDecided', 'inboundRaw', 'spamModel', 'spamModelHistory'], write: ['spamModel', 'spamModelHistory'], groups: ['scop-read', 'scop-spam-model'], deleteGroups: true, transactionalIds: [] },
  // The spam learner (processors/spam/learner/): labels in, signed model versions out, in one
  // transaction under its fixed id; record lookups and the model follower use throwaway groups.
  {
    principal: 'scop-spam-learner', runs: 'spam-learner', read: ['spamFeedback', 'inboundAuthenticated', 'inboundRaw', 'spamModel'],
    // Not scop-spam…: the spam stage's prefixes would cover them (it could join the learner's groups or fence it).
    write: ['spamModel', 'spamModelHistory', 'alerts'], groups: ['scop-learner'], deleteGroups: true, transactionalIds: ['scop-learner'],
  },
  // `scop quarantine`, `scop firewall`, `scop spam feedback`, `scop replay`.
  {
    principal: 'scop-operator', runs: 'scop quarantine / firewall / replay / spam feedback', read: ALL_TOPICS, readAll: true,
    write: ['quarantine', 'deliveryRequests', 'spamFeedback', 'blocklist'], groups: ['scop-read'], deleteGroups: true, transactionalIds: [],
  },
  // scop's own schema registry (infra/registry): its log topic only. (Apicurio: its own `_apicurio*` topics.)
  { principal: 'scop-registry', runs: 'schema registry (infra/registry)', read: [], write: [], groups: ['scop-registry'], transactionalIds: [], otherTopics: [{ name: '_schemas', ops: ['READ', 'WRITE', 'CREATE', 'DESCRIBE'] }] },
];

/** The topics between the members of the fused inbound chain: it neither reads nor writes them. */
const CHAIN_INTERNAL: readonly TopicKey[] = ['inboundParsed', 'inboundAuthenticated', 'inboundScored', 'inboundScreened'];

/**
 * `scop run inbound` (SCOP_INBOUND=fused, the default): the chain's members in one process, so its
 * principal is theirs put together — their groups and transactional ids included (the firewall's
 * reputation stage, the spam model follower) — without the topics between them. A deployment runs
 * either the chain or its members, never both, so this principal may fence theirs.
 */
function fused(principal: string, runs: string, members: readonly string[], own: string): PrincipalAccess {
  const of = members.map((m) => SEPARATE.find((a) => a.principal === m)!);
  const union = <T>(pick: (a: PrincipalAccess) => readonly T[]) => [...new Set(of.flatMap(pick))];
  return {
    principal, runs,
    read: union((a) => a.read).filter((k) => !CHAIN_INTERNAL.includes(k)),
    write: union((a) => a.write).filter((k) => !CHAIN_INTERNAL.includes(k)),
    groups: [own, ...union((a) => a.groups)],
    transactionalIds: [own, ...union((a) => a.transactionalIds)],
  };
}

export const FUSED_INBOUND = fused('scop-inbound', 'inbound (mime → auth → spam → firewall → decision fused)', ['scop-mime', 'scop-auth', 'scop-spam', 'scop-firewall', 'scop-decision'], 'scop-inbound');

export const ACCESS: readonly PrincipalAccess[] = [...SEPARATE, FUSED_INBOUND];

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
