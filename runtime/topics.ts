/**
 * The pipeline's topics, declared once. `scop topics apply` (and `npm start`) makes the cluster
 * match this list: creates missing topics, raises partition counts, and sets the configs named
 * here. Stages refer to topics through TOPICS so a rename happens in one place.
 */
import type { SchemaName } from '../schemas/index.ts';
import type { Admin } from './kafka.ts';
import { loggerFor } from './log.ts';

const DAY = 24 * 60 * 60 * 1000;
/** A 25 MiB message (the SMTP SIZE default) plus envelope, stage sections and Avro framing. */
export const MAX_RECORD_BYTES = 40 * 1024 * 1024;
/**
 * How long the raw topics keep a message: as long as anything may refer to it (records on every
 * later topic carry a reference to the raw record, not the bytes): the delivery dead-letter topic
 * and ops.dead-letters keep theirs 30 days.
 */
export const RAW_RETENTION_MS = 30 * DAY;
/** How long the delivery log (and each relay's memory of it) keeps an outcome. */
export const DELIVERY_LOG_RETENTION_MS = 14 * DAY;

/** How a topic stores a MailRecord's raw message (TopicSpec.raw; runtime/raw-ref.ts reads and writes it). */
export type RawPolicy = 'source' | 'inline' | 'ref';

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Record value schema registered under `<name>-value`; undefined for non-Avro topics. */
  valueSchema?: SchemaName;
  /** compact,delete: newest value per key, and keys older than retentionMs go too. */
  cleanup: 'delete' | 'compact' | 'compact,delete';
  retentionMs?: number;
  /**
   * Topics of records that hold a message (MailRecord, DeliveryJob): where its raw bytes are.
   * 'source' — the ingress writes them inline here and references point here; 'inline' — kept inline
   * (compacted topics that outlive the sources); 'ref' (the default) — a reference to a source
   * (runtime/raw-ref.ts). A topic holding references keeps records no longer than the sources.
   */
  raw?: RawPolicy;
  /** Further topic configs (e.g. retention.bytes), set as given. */
  configs?: Readonly<Record<string, string>>;
  /** Who writes it, in words for operators (commands included); which services write it is the topology's (runtime/topology.ts). */
  writtenBy: string;
  doc: string;
}

export const TOPICS = {
  inboundRaw: {
    name: 'mail.inbound.raw', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: RAW_RETENTION_MS, raw: 'source',
    writtenBy: 'ingress (MX listener)', doc: 'Every message accepted on the MX listener: envelope + raw bytes. The only inbound topic that holds the raw bytes (later records refer to them); kept 30 days.',
  },
  outboundRaw: {
    name: 'mail.outbound.raw', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: RAW_RETENTION_MS, raw: 'source',
    writtenBy: 'ingress (submission listeners)', doc: 'Every message accepted from an authenticated user, to be signed and relayed. Holds the raw bytes (later records refer to them); kept 30 days.',
  },
  outboundSigned: {
    name: 'mail.outbound.signed', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'DKIM signing stage (processors/dkim-sign)', doc: 'Outbound records with the dkimSign section: the DKIM-Signature fields the egress prepends to envelope.raw. Refused messages (no key, From not allowed for the user) go to ops.dead-letters instead. The egress relay delivers them to each recipient domain\'s MX (MTA-STS, retries, DSN).',
  },
  inboundParsed: {
    name: 'mail.inbound.parsed', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'MIME stage (processors/mime)', doc: 'Inbound records with the MIME section added.',
  },
  inboundAuthenticated: {
    name: 'mail.inbound.authenticated', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'auth stage (processors/auth)', doc: 'Inbound records with the auth section added: SPF, DKIM, DMARC, ARC, BIMI verdicts and the Authentication-Results value.',
  },
  // The inbound chain: raw → (mime) parsed → (auth) authenticated → (spam) scored → (firewall) screened
  // → (decision) decided → egress relay (deliver / junk), with quarantine and reject held on mail.quarantine.
  // Firewall before decision, so the decision sees the client's reputation.
  inboundScored: {
    name: 'mail.inbound.scored', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'spam stage (processors/spam)', doc: 'Inbound records with the spam section added; the firewall stage reads them.',
  },
  spamModel: {
    // One partition, compacted: the newest model per key (the model name) is all a scorer needs.
    name: 'spam.model', partitions: 1, valueSchema: 'SpamModel', cleanup: 'compact',
    writtenBy: 'scop spam publish / train --publish, spam stage (default model on a fresh install)', doc: 'Trained spam models keyed by model name (default); every scorer follows it and switches to a new version without a restart.',
  },
  spamModelHistory: {
    // Every version ever published, keyed by version, so `scop spam rollback` can go back to one after
    // spam.model's compaction dropped it. Bounded by age and by size (a model record is a few MB).
    name: 'spam.model.history', partitions: 1, valueSchema: 'SpamModel', cleanup: 'delete', retentionMs: 30 * DAY,
    configs: { 'retention.bytes': String(2 * 1024 ** 3), 'segment.bytes': String(64 * 1024 ** 2) },
    writtenBy: 'whoever publishes to spam.model (the spam learner, scop spam publish / train --publish, the spam stage)', doc: 'Every published spam model, keyed by version, with its signature headers: what `scop spam rollback` and the console\'s rollback republish (30 days, at most 2 GiB).',
  },
  spamFeedback: {
    name: 'spam.feedback', partitions: 3, valueSchema: 'SpamFeedback', cleanup: 'compact',
    writtenBy: 'users / mail clients / analysts (scop spam feedback), the console, the spam learner\'s feedback hook (IMAP Junk moves)', doc: 'Ham/spam labels keyed by record id (latest wins); the spam learner learns them as they come (scop spam train --from-topics replays them by hand).',
  },
  inboundScreened: {
    name: 'mail.inbound.screened', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'firewall stage (processors/firewall)', doc: 'Inbound records with the firewall section (client prefix and sender domain reputation) added.',
  },
  inboundDecided: {
    name: 'mail.inbound.decided', partitions: 6, valueSchema: 'MailRecord', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'decision stage (processors/decision)', doc: 'Every inbound record with its decision section (deliver, junk, quarantine, reject); the egress relay delivers deliver/junk.',
  },
  quarantine: {
    // Compacted, no time limit: a held message stays until an operator releases or deletes it (a tombstone).
    name: 'mail.quarantine', partitions: 6, valueSchema: 'MailRecord', cleanup: 'compact', raw: 'inline',
    writtenBy: 'decision stage, scop quarantine', doc: 'Messages held (quarantine) or refused after acceptance (reject), keyed by record id, with the reason in the decision section; a tombstone removes one.',
  },
  firewallEvents: {
    name: 'firewall.events', partitions: 6, valueSchema: 'ReputationEvent', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'firewall stage (processors/firewall)', doc: 'Each message\'s contribution to its client prefix\'s and sender domain\'s reputation, keyed by subject so one partition owns each subject.',
  },
  firewallReputation: {
    // Same partition count as firewall.events: a subject's state lives in the partition number of its events.
    name: 'firewall.reputation', partitions: 6, valueSchema: 'Reputation', cleanup: 'compact',
    writtenBy: 'firewall stage (processors/firewall)', doc: 'Reputation per client prefix (ip:<cidr>) and sender domain (domain:<d>); the firewall rebuilds its state from it on start.',
  },
  deliveryRequests: {
    name: 'mail.delivery.requests', partitions: 6, valueSchema: 'DeliveryJob', cleanup: 'delete', retentionMs: 7 * DAY, raw: 'inline',
    writtenBy: 'scop quarantine release, egress relay (DSNs)', doc: 'Messages to deliver now: released from quarantine, and delivery status notifications (origin dsn, null sender) for senders of outbound mail that failed; the egress relay reads them and delivers to the next hop / Maildir.',
  },
  deliveryRetry1: {
    name: 'mail.delivery.retry.1', partitions: 6, valueSchema: 'DeliveryJob', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'egress relay', doc: 'First retry after a temporary failure (EGRESS_RETRY_DELAYS, default 1 min); inbound and outbound (origin outbound: MX routing) jobs alike.',
  },
  deliveryRetry2: {
    name: 'mail.delivery.retry.2', partitions: 6, valueSchema: 'DeliveryJob', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'egress relay', doc: 'Second retry (default 10 min).',
  },
  deliveryRetry3: {
    name: 'mail.delivery.retry.3', partitions: 6, valueSchema: 'DeliveryJob', cleanup: 'delete', retentionMs: 7 * DAY,
    writtenBy: 'egress relay', doc: 'Third and later retries (default 1 h, EGRESS_MAX_ATTEMPTS in all).',
  },
  deliveryDead: {
    name: 'mail.delivery.dead', partitions: 3, valueSchema: 'DeliveryJob', cleanup: 'delete', retentionMs: 30 * DAY,
    writtenBy: 'egress relay', doc: 'Messages whose temporary failures outlasted every retry, with the last error.',
  },
  deliveryLog: {
    // Kept longer than anything that can replay a record into the egress (input topics keep 7 days,
    // retries end within hours), then expired so the log and each relay's memory of it stay bounded.
    name: 'mail.delivery.log', partitions: 6, valueSchema: 'DeliveryStatus', cleanup: 'compact,delete', retentionMs: DELIVERY_LOG_RETENTION_MS,
    writtenBy: 'egress relay', doc: 'Final outcome per message and recipient (delivered, bounced with the remote reply, dead), keyed by <recordId>|<recipient>; the egress de-duplicates by it. Compacted, and entries older than 14 days expire.',
  },
  dmarcEvents: {
    name: 'dmarc.events', partitions: 6, valueSchema: 'DmarcEvent', cleanup: 'delete', retentionMs: 30 * DAY,
    writtenBy: 'auth stage (processors/auth)', doc: 'One DMARC evaluation per inbound message with a single From domain, keyed by that domain: the rows of aggregate reports (RFC 7489 §7.2).',
  },
  blocklist: {
    name: 'firewall.blocklist', partitions: 1, valueSchema: 'Block', cleanup: 'compact',
    writtenBy: 'firewall stage, scop firewall', doc: 'Blocked client prefixes keyed by prefix; the ingress refuses them at connect.',
  },
  smtpRefusals: {
    name: 'smtp.refusals', partitions: 3, valueSchema: 'SmtpRefusal', cleanup: 'delete', retentionMs: 30 * DAY,
    writtenBy: 'ingress', doc: 'Every pre-queue refusal of the SMTP ingress (unknown recipient, relay, DNSBL, SPF, greylisting, blocklist, AUTH and rate limits): who, why, when, keyed by client prefix, for the firewall and dashboards (rate-limited per prefix).',
  },
  greylist: {
    // Kept a little longer than a passed triplet lives (35 days), refreshed while it is used.
    name: 'smtp.greylist', partitions: 1, valueSchema: 'GreylistEntry', cleanup: 'compact,delete', retentionMs: 40 * DAY,
    writtenBy: 'ingress (when greylisting is on)', doc: 'Greylisting state per (client prefix, sender, recipient), so every ingress instance agrees (RFC 6647).',
  },
  deadLetters: {
    name: 'ops.dead-letters', partitions: 3, valueSchema: 'DeadLetter', cleanup: 'delete', retentionMs: 30 * DAY,
    writtenBy: 'every stage', doc: 'Records a stage could not decode or process, with the reason and the original bytes (keyed by stage).',
  },
  audit: {
    // Kept a year: who released, deleted, labelled, re-drove or blocked what, and when.
    name: 'ops.audit', partitions: 1, valueSchema: 'AuditEvent', cleanup: 'delete', retentionMs: 365 * DAY,
    writtenBy: 'console (every write and login)', doc: 'Operator actions from the web console, one AuditEvent each (actor, action, targets, outcome), in order.',
  },
  alerts: {
    // One partition: alerts are few, and one notifier posting them in order keeps digests simple.
    name: 'ops.alerts', partitions: 1, valueSchema: 'Alert', cleanup: 'delete', retentionMs: 30 * DAY,
    writtenBy: 'any stage (runtime/alerts.ts publishAlert)', doc: 'Alerts for operators (blocks, DMARC failures, viruses, dead-lettered deliveries, stage errors); the Matrix notifier posts them to rooms.',
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof TOPICS;

export function allTopics(): TopicSpec[] {
  return Object.values(TOPICS);
}

/** Schemas whose records hold a message (a MailRecord, or one inside a job or a dead letter's bytes). */
const MESSAGE_SCHEMAS: ReadonlySet<string> = new Set(['MailRecord', 'DeliveryJob', 'DeadLetter']);

/** How `spec` stores a message's raw bytes (undefined: its records hold no message). */
export function rawPolicy(spec: Pick<TopicSpec, 'raw' | 'valueSchema'>): RawPolicy | undefined {
  if (spec.raw) return spec.raw;
  return spec.valueSchema && MESSAGE_SCHEMAS.has(spec.valueSchema) ? 'ref' : undefined;
}

/**
 * How many copies a topic keeps and how many must have a write before it is acknowledged (the
 * producers send acks=all). Three copies, two in sync, once the cluster has three brokers: a
 * broker can die (or be restarted for an upgrade) without losing an acknowledged record or stopping
 * writes. Fewer brokers cannot hold three copies: two brokers get 2/1, the single local broker 1/1
 * — with a warning, because then a lost disk loses mail.
 */
export interface Durability {
  replicationFactor: number;
  minInsyncReplicas: number;
  /** Set when the cluster is too small for the durable default (shown in `scop start`'s ready line). */
  warning?: string;
}

export function durabilityFor(brokers: number): Durability {
  if (brokers >= 3) return { replicationFactor: 3, minInsyncReplicas: 2 };
  if (brokers === 2) return { replicationFactor: 2, minInsyncReplicas: 1, warning: '2 brokers: topics keep 2 copies and accept writes with 1 in sync (3 brokers give 3 copies, 2 in sync)' };
  return { replicationFactor: 1, minInsyncReplicas: 1, warning: 'single broker: topics keep 1 copy (no replica; a lost disk loses mail). Run 3 brokers for 3 copies, 2 in sync' };
}

/** The durability the cluster behind `admin` can give (its broker count, durabilityFor). */
export async function clusterDurability(admin: Admin): Promise<Durability> {
  const { brokers } = await admin.describeCluster();
  return durabilityFor(brokers.length);
}

export function topicConfig(spec: TopicSpec, durability?: Pick<Durability, 'minInsyncReplicas'>): Record<string, string> {
  const cfg: Record<string, string> = {
    'cleanup.policy': spec.cleanup,
    'max.message.bytes': String(MAX_RECORD_BYTES),
  };
  if (durability) cfg['min.insync.replicas'] = String(durability.minInsyncReplicas);
  if (spec.retentionMs !== undefined) cfg['retention.ms'] = String(spec.retentionMs);
  Object.assign(cfg, spec.configs);
  if (spec.cleanup.startsWith('compact')) cfg['min.compaction.lag.ms'] = '0';
  return cfg;
}

export interface ApplyResult {
  created: string[];
  partitionsRaised: string[];
  configsUpdated: string[];
  unchanged: string[];
  /** Copies and in-sync minimum new topics got (min.insync.replicas is kept on every listed topic). */
  durability: Durability;
}

const log = loggerFor('topics');

/**
 * Idempotent: a second run changes nothing and reports every topic as unchanged. Replication
 * follows the cluster's size (durabilityFor) unless `replicationFactor` is given; an existing
 * topic's replica count is not changed (that is a partition reassignment, an operator's decision),
 * its min.insync.replicas is.
 */
export async function applyTopics(admin: Admin, specs: TopicSpec[] = allTopics(), replicationFactor?: number): Promise<ApplyResult> {
  const durability = replicationFactor === undefined
    ? await clusterDurability(admin)
    : { replicationFactor, minInsyncReplicas: replicationFactor >= 3 ? 2 : 1 };
  const result: ApplyResult = { created: [], partitionsRaised: [], configsUpdated: [], unchanged: [], durability };
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.name));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.name,
        numPartitions: s.partitions,
        replicationFactor: durability.replicationFactor,
        configEntries: Object.entries(topicConfig(s, durability)).map(([name, value]) => ({ name, value })),
      })),
    });
    result.created.push(...missing.map((s) => s.name));
  }
  const present = specs.filter((s) => existing.has(s.name));
  if (present.length === 0) return result;

  const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
  const partitionCount = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: present.map((s) => ({ type: 2 /* TOPIC */, name: s.name })),
  });
  const current = new Map(described.resources.map((r) => [r.resourceName, new Map(r.configEntries.map((e) => [e.configName, e.configValue]))]));

  for (const s of present) {
    let changed = false;
    const have = partitionCount.get(s.name) ?? 0;
    if (have < s.partitions) {
      await admin.createPartitions({ topicPartitions: [{ topic: s.name, count: s.partitions }] });
      result.partitionsRaised.push(s.name);
      changed = true;
    } else if (have > s.partitions) {
      log.warn({ topic: s.name, have, declared: s.partitions }, 'topic has more partitions than declared; Kafka cannot shrink a topic, leaving it');
    }
    const want = topicConfig(s, durability);
    const cur = current.get(s.name) ?? new Map<string, string>();
    const diff = Object.entries(want).filter(([k, v]) => cur.get(k) !== v);
    if (diff.length > 0) {
      // AlterConfigs (kafkajs has no incremental variant) replaces the topic's whole config,
      // so send every key this list owns, not only the changed ones.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: 2 /* TOPIC */, name: s.name, configEntries: Object.entries(want).map(([name, value]) => ({ name, value })) }],
      });
      result.configsUpdated.push(s.name);
      changed = true;
    }
    if (!changed) result.unchanged.push(s.name);
  }
  return result;
}
