/**
 * Ingress configuration: every INGRESS_* variable, validated at start with zod. A wrong value is a
 * ConfigError naming the key and the fix (one line, exit 2).
 */
import { existsSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, dnsServerAddress, envBool, envDnsServers, envInt, envPort, loadEnv } from '../runtime/config.ts';
import type { KafkaSettings } from '../runtime/kafka.ts';
import { parseDnsblSites, type DnsblSite } from './dnsbl.ts';
import type { GreylistSettings } from './greylist.ts';
import { normalizeDomain } from './recipients.ts';
import { isValidDomain } from './syntax.ts';

const MiB = 1024 * 1024;

const shape = {
  INGRESS_HOSTNAME: z.string().optional(),
  INGRESS_MX_HOST: z.string().default('127.0.0.1'),
  INGRESS_MX_PORT: envPort().default(2525),
  INGRESS_SUBMISSION_HOST: z.string().default('127.0.0.1'),
  INGRESS_SUBMISSION_PORT: envPort().default(2587),
  INGRESS_SUBMISSIONS_HOST: z.string().default('127.0.0.1'),
  INGRESS_SUBMISSIONS_PORT: envPort().optional(),
  INGRESS_TLS_CERT_FILE: z.string().optional(),
  INGRESS_TLS_KEY_FILE: z.string().optional(),
  INGRESS_MAX_MESSAGE_BYTES: envInt(1024).default(25 * MiB),
  INGRESS_MAX_HEADER_BYTES: envInt(1024).default(MiB),
  INGRESS_MAX_RECIPIENTS: envInt(1).default(100),
  INGRESS_USERS_FILE: z.string().optional(),
  INGRESS_KAFKA_DEADLINE_MS: envInt(500).default(15000),
  INGRESS_KAFKA_PRODUCERS: envInt(1).max(16).default(2),
  INGRESS_KAFKA_CLIENT: z.enum(['kafkajs', 'platformatic']).optional(),
  INGRESS_MAX_SESSIONS_MX: envInt(1).default(400),
  INGRESS_MAX_SESSIONS_SUBMISSION: envInt(1).default(100),
  INGRESS_MAX_SESSIONS_PER_PREFIX: envInt(1).optional(),
  INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: envInt(1).optional(),
  INGRESS_IPV4_PREFIX_LENGTH: envInt(8).max(32).default(24),
  INGRESS_IPV6_PREFIX_LENGTH: envInt(16).max(128).default(64),
  INGRESS_MAX_INFLIGHT_BYTES: envInt(1024 * 1024).default(256 * MiB),
  INGRESS_MAX_INFLIGHT_BYTES_PER_PREFIX: envInt(1024).default(64 * MiB),
  INGRESS_SUBMISSION_RESERVED_BYTES: envInt(0).default(64 * MiB),
  INGRESS_SOCKET_TIMEOUT_MS: envInt(1000).default(120000),
  INGRESS_MAX_NO_PROGRESS_COMMANDS: envInt(0).default(10),
  INGRESS_MAX_SESSION_MS: envInt(1000).default(30 * 60_000),
  INGRESS_MAX_DATA_MS: envInt(1000).default(10 * 60_000),
  INGRESS_AUTH_TIMEOUT_MS: envInt(1000).default(60_000),
  INGRESS_AUTH_MAX_FAILURES_PER_SESSION: envInt(1).default(3),
  INGRESS_AUTH_MAX_FAILURES_PER_PREFIX: envInt(1).default(10),
  INGRESS_AUTH_MAX_FAILURES_PER_USER: envInt(1).default(10),
  INGRESS_AUTH_FAILURE_WINDOW_MS: envInt(1000).default(15 * 60_000),
  INGRESS_AUTH_LOCKOUT_MS: envInt(1000).default(60_000),
  INGRESS_AUTH_LOCKOUT_MAX_MS: envInt(1000).default(60 * 60_000),
  INGRESS_AUTH_FAILURE_DELAY_MS: envInt(0).default(1000),
  INGRESS_AUTH_HASH_CONCURRENCY: envInt(1).default(1),
  INGRESS_AUTH_HASH_QUEUE: envInt(0).default(32),
  INGRESS_LOCAL_DOMAINS: z.string().optional(),
  INGRESS_RECIPIENTS_FILE: z.string().optional(),
  INGRESS_RECIPIENT_DELIMITER: z.string().max(1).default('+'),
  INGRESS_DNS_SERVERS: envDnsServers().optional(),
  INGRESS_DNS_TIMEOUT_MS: envInt(100).default(2000),
  INGRESS_DNS_CACHE_SIZE: envInt(0).default(10000),
  INGRESS_DNSBL_SITES: z.string().optional(),
  INGRESS_DNSBL_THRESHOLD: z.coerce.number().int().default(1),
  INGRESS_DNSBL_ACTION: z.enum(['rcpt', 'connect']).default('rcpt'),
  INGRESS_SPF_REJECT: envBool().default('false'),
  INGRESS_GREYLIST: envBool().default('false'),
  INGRESS_GREYLIST_DELAY_MS: envInt(1000).default(5 * 60_000),
  INGRESS_GREYLIST_RETRY_WINDOW_MS: envInt(60_000).default(2 * 24 * 60 * 60_000),
  INGRESS_GREYLIST_PASS_TTL_MS: envInt(60_000).default(35 * 24 * 60 * 60_000),
  INGRESS_GREYLIST_MAX_ENTRIES: envInt(1).default(1_000_000),
  INGRESS_REFUSAL_RECORDS_PER_PREFIX_PER_MINUTE: envInt(1).default(60),
  // Renamed keys: read only to map them (with a warning) or to name the replacement in an error.
  INGRESS_MAX_CONNECTIONS_PER_IP: envInt(1).optional(),
  INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE: envInt(1).optional(),
  INGRESS_MAX_SESSIONS: z.string().optional(),
  INGRESS_SHUTDOWN_TIMEOUT_MS: envInt(0).default(30000),
  INGRESS_REVERSE_DNS: envBool().default('true'),
  INGRESS_BLOCKLIST_SYNC_TIMEOUT_MS: envInt(1000).default(30000),
};

const help = {
  INGRESS_HOSTNAME: 'a host name (letters, digits, dots, hyphens) used in the greeting and the Received header',
  INGRESS_MX_HOST: 'the address the MX listener binds, e.g. 127.0.0.1 or 0.0.0.0',
  INGRESS_MX_PORT: 'a TCP port 1-65535 for the MX listener (25 in production)',
  INGRESS_SUBMISSION_HOST: 'the address the submission listener binds',
  INGRESS_SUBMISSION_PORT: 'a TCP port 1-65535 for submission with STARTTLS + AUTH (587 in production)',
  INGRESS_SUBMISSIONS_HOST: 'the address the implicit-TLS submission listener binds',
  INGRESS_SUBMISSIONS_PORT: 'a TCP port 1-65535 to enable implicit-TLS submission (465 role), or leave it unset to keep it off',
  INGRESS_TLS_CERT_FILE: 'path to a PEM certificate chain; set INGRESS_TLS_KEY_FILE too, or neither to use a generated self-signed certificate',
  INGRESS_TLS_KEY_FILE: 'path to the PEM private key of INGRESS_TLS_CERT_FILE',
  INGRESS_MAX_MESSAGE_BYTES: 'the SMTP SIZE limit in bytes, at least 1024 (default 26214400 = 25 MiB)',
  INGRESS_MAX_HEADER_BYTES: 'the largest header section (the lines before the first empty line) a message may have, in bytes, at least 1024 (default 1048576 = 1 MiB, as Exim); larger ones get 552 5.3.4',
  INGRESS_MAX_RECIPIENTS: 'the most RCPT TO per message, at least 1',
  INGRESS_USERS_FILE: 'path of the submission users file written by `scop users add`',
  INGRESS_KAFKA_DEADLINE_MS: 'milliseconds (at least 500) Kafka has to acknowledge a message before the client gets 451',
  INGRESS_KAFKA_PRODUCERS: 'Kafka producers (1-16) sending accepted messages side by side, each with one batch in flight',
  INGRESS_KAFKA_CLIENT: 'kafkajs or platformatic: the client library of the accepted-mail hand-off (unset: KAFKA_CLIENT\'s)',
  INGRESS_MAX_SESSIONS_MX: 'concurrent sessions on the MX listener, at least 1 (its own pool: MX clients cannot take submission slots)',
  INGRESS_MAX_SESSIONS_SUBMISSION: 'concurrent sessions on the submission listeners (587 and 465 roles together), at least 1',
  INGRESS_MAX_SESSIONS_PER_PREFIX: 'concurrent sessions from one client prefix (see INGRESS_IPV4_PREFIX_LENGTH / INGRESS_IPV6_PREFIX_LENGTH) in each pool, at least 1',
  INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: 'messages (MAIL FROM) allowed from one client prefix per minute, at least 1',
  INGRESS_IPV4_PREFIX_LENGTH: 'the IPv4 prefix length (8-32) that per-prefix limits count together: 24 for a /24, 32 for single addresses',
  INGRESS_IPV6_PREFIX_LENGTH: 'the IPv6 prefix length (16-128) that per-prefix limits count together: 64 for a /64 (one customer network)',
  INGRESS_MAX_INFLIGHT_BYTES: 'bytes of message data all sessions together may hold in memory (default 268435456 = 256 MiB); at least INGRESS_MAX_MESSAGE_BYTES',
  INGRESS_MAX_INFLIGHT_BYTES_PER_PREFIX: 'bytes of message data the MX sessions of one client prefix may hold together (default 67108864 = 64 MiB)',
  INGRESS_SUBMISSION_RESERVED_BYTES: 'the part of INGRESS_MAX_INFLIGHT_BYTES that MX sessions may not use, kept for submission (default 67108864 = 64 MiB); less than INGRESS_MAX_INFLIGHT_BYTES',
  INGRESS_SOCKET_TIMEOUT_MS: 'idle milliseconds (no progress) before a session is closed with 421, at least 1000',
  INGRESS_MAX_NO_PROGRESS_COMMANDS: 'how many commands in a row that make no progress (NOOP, RSET, HELP, VRFY, refused ones…) still count as activity, 0 or more',
  INGRESS_MAX_SESSION_MS: 'the longest a session may last in milliseconds (at least 1000); then 421 4.4.2 (a DATA in progress is answered first)',
  INGRESS_MAX_DATA_MS: 'the longest the DATA phase of one message may last in milliseconds, at least 1000',
  INGRESS_AUTH_TIMEOUT_MS: 'milliseconds a submission session has to authenticate before it is closed with 421, at least 1000',
  INGRESS_AUTH_MAX_FAILURES_PER_SESSION: 'failed AUTH attempts in one session before 421 and disconnect, at least 1',
  INGRESS_AUTH_MAX_FAILURES_PER_PREFIX: 'failed AUTH attempts from one client prefix within INGRESS_AUTH_FAILURE_WINDOW_MS before it is locked out, at least 1',
  INGRESS_AUTH_MAX_FAILURES_PER_USER: 'failed AUTH attempts for one user name within INGRESS_AUTH_FAILURE_WINDOW_MS before it is locked out (except from prefixes it logged in from), at least 1',
  INGRESS_AUTH_FAILURE_WINDOW_MS: 'milliseconds over which AUTH failures are counted, at least 1000',
  INGRESS_AUTH_LOCKOUT_MS: 'first lockout in milliseconds after too many AUTH failures; each further lockout doubles it',
  INGRESS_AUTH_LOCKOUT_MAX_MS: 'the longest lockout in milliseconds',
  INGRESS_AUTH_FAILURE_DELAY_MS: 'milliseconds the 535 reply waits per failure already seen in the session (tarpit), 0 to answer at once',
  INGRESS_AUTH_HASH_CONCURRENCY: 'password hashes computed at the same time, at least 1 (each takes a libuv thread, shared with DNS and file I/O)',
  INGRESS_AUTH_HASH_QUEUE: 'AUTH attempts that may wait for a hash slot; more get 454 4.7.0',
  INGRESS_LOCAL_DOMAINS: 'comma-separated domains the MX accepts mail for, e.g. example.org,example.com (unset: the demo domains example.net,example.test)',
  INGRESS_RECIPIENTS_FILE: 'path of a file listing the valid local recipients, one address or @domain per line (unset: every address of a local domain exists)',
  INGRESS_RECIPIENT_DELIMITER: 'one character separating a sub-address (user+tag@), or empty for none',
  INGRESS_DNS_SERVERS: 'resolvers for DNSBL, SPF and client reverse DNS lookups as ip[:port],…, e.g. INGRESS_DNS_SERVERS=127.0.0.1:53; unset: the system resolver',
  INGRESS_DNS_TIMEOUT_MS: 'milliseconds (at least 100) a DNSBL, SPF or client reverse DNS query may take',
  INGRESS_DNS_CACHE_SIZE: 'DNS answers kept in the cache, 0 or more',
  INGRESS_DNSBL_SITES: 'DNSBLs in postscreen syntax: zone[=filter][*weight],…, e.g. zen.spamhaus.org*3,list.dnswl.org=127.0.[0..255].[1..3]*-2',
  INGRESS_DNSBL_THRESHOLD: 'the summed weight of matching lists at which a client is refused (an integer)',
  INGRESS_DNSBL_ACTION: 'rcpt (refuse every RCPT with 550 5.7.1, as postscreen enforce) or connect (554 5.7.1 instead of the greeting, after the lookups)',
  INGRESS_SPF_REJECT: 'true to refuse a sender whose SPF policy fails the client (-all) with 550 5.7.23 at RCPT; false (default) to leave SPF to the auth stage',
  INGRESS_GREYLIST: 'true to greylist MX mail (RFC 6647; state shared by every instance through the smtp.greylist topic), false (default) for none',
  INGRESS_GREYLIST_DELAY_MS: 'milliseconds (at least 1000) a new (client prefix, sender, recipient) must wait before a retry passes',
  INGRESS_GREYLIST_RETRY_WINDOW_MS: 'milliseconds after the delay in which a retry still passes (at least 60000)',
  INGRESS_GREYLIST_PASS_TTL_MS: 'milliseconds a passed triplet stays passed after its last use (at least 60000)',
  INGRESS_GREYLIST_MAX_ENTRIES: 'triplets kept in memory at most; past it new ones pass ungreylisted',
  INGRESS_REFUSAL_RECORDS_PER_PREFIX_PER_MINUTE: 'refusal records written to smtp.refusals per client prefix per minute (the rest are counted)',
  INGRESS_MAX_CONNECTIONS_PER_IP: 'renamed: use INGRESS_MAX_SESSIONS_PER_PREFIX (counted per prefix now)',
  INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE: 'renamed: use INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE (counted per prefix now)',
  INGRESS_MAX_SESSIONS: 'split in two: set INGRESS_MAX_SESSIONS_MX and INGRESS_MAX_SESSIONS_SUBMISSION instead',
  INGRESS_SHUTDOWN_TIMEOUT_MS: 'milliseconds a graceful stop waits for sessions in a transaction before closing them',
  INGRESS_REVERSE_DNS: 'true to look up the client host name (shown in Received, checked to resolve back to the client on MX), false to skip it',
  INGRESS_BLOCKLIST_SYNC_TIMEOUT_MS: 'milliseconds to wait at start for the blocklist topic to be read to its end',
};

export interface ListenerConfig {
  host: string;
  port: number;
}

/** Session slots and message rate, per pool (MX / submission) and per client prefix. */
export interface LimitSettings {
  maxSessions: { MX: number; SUBMISSION: number };
  maxSessionsPerPrefix: number;
  maxMessagesPerPrefixPerMinute: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
}

/** The budget of message bytes held in memory (see memory-budget.ts). */
export interface BudgetSettings {
  totalBytes: number;
  perPrefixBytes: number;
  submissionReservedBytes: number;
}

/** Time limits of a session (see session.ts). */
export interface ClockSettings {
  idleMs: number;
  maxNoProgressCommands: number;
  maxSessionMs: number;
  maxDataMs: number;
  authTimeoutMs: number;
}

/** AUTH failure limits, lockouts and the bound on password-hash work (see auth-guard.ts). */
export interface AuthSettings {
  maxFailuresPerSession: number;
  maxFailuresPerPrefix: number;
  maxFailuresPerUser: number;
  failureWindowMs: number;
  lockoutMs: number;
  lockoutMaxMs: number;
  failureDelayMs: number;
  hashConcurrency: number;
  hashQueue: number;
}

/** SMTP-time policy (issue 16): recipients, relay, DNSBL, SPF, greylisting, refusal records. */
export interface PolicySettings {
  localDomains: string[];
  /** True when INGRESS_LOCAL_DOMAINS is unset and the demo domains are used. */
  demoDomains: boolean;
  recipientsFile?: string;
  delimiter: string;
  dns: { servers?: string[]; timeoutMs: number; cacheSize: number };
  dnsbl: { sites: DnsblSite[]; threshold: number; action: 'rcpt' | 'connect' };
  spfReject: boolean;
  greylist: (GreylistSettings & { enabled: boolean });
  refusalRecordsPerPrefixPerMinute: number;
}

/** Accepted when INGRESS_LOCAL_DOMAINS is unset, so the README walkthrough works out of the box. */
export const DEMO_DOMAINS = ['example.net', 'example.test'];

export interface IngressConfig {
  hostname: string;
  mx: ListenerConfig;
  submission: ListenerConfig;
  /** Implicit TLS submission (465 role); undefined when off. */
  submissions?: ListenerConfig;
  tls: { certFile: string; keyFile: string } | undefined;
  maxMessageBytes: number;
  /** Largest header section (RFC 5322 2.1) accepted; see line-endings.ts. */
  maxHeaderBytes: number;
  maxRecipients: number;
  usersFile: string;
  kafkaDeadlineMs: number;
  kafkaProducers: number;
  /** The hand-off's client library; undefined: the process's (KAFKA_CLIENT). */
  kafkaClient: 'kafkajs' | 'platformatic' | undefined;
  limits: LimitSettings;
  budget: BudgetSettings;
  clock: ClockSettings;
  auth: AuthSettings;
  policy: PolicySettings;
  socketTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** SCOP_SUBMISSION_MAC_KEY_FILE when set (else the default under dataDir, created at start). */
  submissionMacKeyFile?: string;
  reverseDns: boolean;
  blocklistSyncTimeoutMs: number;
  dataDir: string;
  /** Deprecated settings that were mapped to their replacement; logged at start. */
  warnings: string[];
}

export function loadIngressConfig(env: NodeJS.ProcessEnv, dataDir: string): IngressConfig {
  const c = loadEnv(shape, help, env);
  const hostname = c.INGRESS_HOSTNAME ?? osHostname();
  if (!isValidDomain(hostname)) throw new ConfigError('INGRESS_HOSTNAME', `"${hostname}" is not a valid host name`, help.INGRESS_HOSTNAME);

  if (Boolean(c.INGRESS_TLS_CERT_FILE) !== Boolean(c.INGRESS_TLS_KEY_FILE)) {
    const missing = c.INGRESS_TLS_CERT_FILE ? 'INGRESS_TLS_KEY_FILE' : 'INGRESS_TLS_CERT_FILE';
    throw new ConfigError(missing, 'only one of INGRESS_TLS_CERT_FILE and INGRESS_TLS_KEY_FILE is set', 'set both (certificate chain and its key), or neither to use a generated self-signed certificate');
  }
  for (const key of ['INGRESS_TLS_CERT_FILE', 'INGRESS_TLS_KEY_FILE'] as const) {
    const file = c[key];
    if (file && !existsSync(file)) throw new ConfigError(key, `${file} does not exist`, help[key]);
  }

  if (c.INGRESS_MAX_SESSIONS !== undefined) throw new ConfigError('INGRESS_MAX_SESSIONS', 'MX and submission have separate session pools now', help.INGRESS_MAX_SESSIONS);
  if (c.INGRESS_MAX_INFLIGHT_BYTES < c.INGRESS_MAX_MESSAGE_BYTES) {
    throw new ConfigError('INGRESS_MAX_INFLIGHT_BYTES', `${c.INGRESS_MAX_INFLIGHT_BYTES} is less than INGRESS_MAX_MESSAGE_BYTES (${c.INGRESS_MAX_MESSAGE_BYTES}), so no message of the largest allowed size could be received`, help.INGRESS_MAX_INFLIGHT_BYTES);
  }
  if (c.INGRESS_SUBMISSION_RESERVED_BYTES >= c.INGRESS_MAX_INFLIGHT_BYTES) {
    throw new ConfigError('INGRESS_SUBMISSION_RESERVED_BYTES', `${c.INGRESS_SUBMISSION_RESERVED_BYTES} leaves nothing of INGRESS_MAX_INFLIGHT_BYTES (${c.INGRESS_MAX_INFLIGHT_BYTES}) for MX`, help.INGRESS_SUBMISSION_RESERVED_BYTES);
  }
  if (c.INGRESS_AUTH_LOCKOUT_MAX_MS < c.INGRESS_AUTH_LOCKOUT_MS) {
    throw new ConfigError('INGRESS_AUTH_LOCKOUT_MAX_MS', `${c.INGRESS_AUTH_LOCKOUT_MAX_MS} is shorter than INGRESS_AUTH_LOCKOUT_MS (${c.INGRESS_AUTH_LOCKOUT_MS})`, help.INGRESS_AUTH_LOCKOUT_MAX_MS);
  }
  let dnsblSites: DnsblSite[] = [];
  try {
    dnsblSites = c.INGRESS_DNSBL_SITES ? parseDnsblSites(c.INGRESS_DNSBL_SITES) : [];
  } catch (e) {
    throw new ConfigError('INGRESS_DNSBL_SITES', (e as Error).message, help.INGRESS_DNSBL_SITES);
  }
  const localDomains = c.INGRESS_LOCAL_DOMAINS ? c.INGRESS_LOCAL_DOMAINS.split(',').map((d) => d.trim()).filter(Boolean) : DEMO_DOMAINS;
  for (const d of localDomains) if (!isValidDomain(d) && !isValidDomain(normalizeDomain(d))) throw new ConfigError('INGRESS_LOCAL_DOMAINS', `"${d}" is not a domain name`, help.INGRESS_LOCAL_DOMAINS);
  if (c.INGRESS_RECIPIENTS_FILE && !existsSync(c.INGRESS_RECIPIENTS_FILE)) throw new ConfigError('INGRESS_RECIPIENTS_FILE', `${c.INGRESS_RECIPIENTS_FILE} does not exist`, help.INGRESS_RECIPIENTS_FILE);
  const renamed = (['INGRESS_MAX_CONNECTIONS_PER_IP', 'INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE'] as const).filter((k) => c[k] !== undefined);

  const mx: ListenerConfig = { host: c.INGRESS_MX_HOST, port: c.INGRESS_MX_PORT };
  const submission: ListenerConfig = { host: c.INGRESS_SUBMISSION_HOST, port: c.INGRESS_SUBMISSION_PORT };
  const submissions: ListenerConfig | undefined = c.INGRESS_SUBMISSIONS_PORT ? { host: c.INGRESS_SUBMISSIONS_HOST, port: c.INGRESS_SUBMISSIONS_PORT } : undefined;
  const listeners: [string, ListenerConfig | undefined][] = [
    ['INGRESS_MX_PORT', mx],
    ['INGRESS_SUBMISSION_PORT', submission],
    ['INGRESS_SUBMISSIONS_PORT', submissions],
  ];
  const seen = new Map<number, string>();
  for (const [key, l] of listeners) {
    if (!l) continue;
    const other = seen.get(l.port);
    if (other) throw new ConfigError(key, `port ${l.port} is also used by ${other}`, 'give each listener its own port');
    seen.set(l.port, key);
  }

  return {
    hostname: hostname.toLowerCase(),
    mx,
    submission,
    submissions,
    tls: c.INGRESS_TLS_CERT_FILE && c.INGRESS_TLS_KEY_FILE ? { certFile: c.INGRESS_TLS_CERT_FILE, keyFile: c.INGRESS_TLS_KEY_FILE } : undefined,
    maxMessageBytes: c.INGRESS_MAX_MESSAGE_BYTES,
    maxHeaderBytes: c.INGRESS_MAX_HEADER_BYTES,
    maxRecipients: c.INGRESS_MAX_RECIPIENTS,
    usersFile: resolve(c.INGRESS_USERS_FILE ?? defaultUsersFile(dataDir)),
    kafkaDeadlineMs: c.INGRESS_KAFKA_DEADLINE_MS,
    kafkaProducers: c.INGRESS_KAFKA_PRODUCERS,
    kafkaClient: c.INGRESS_KAFKA_CLIENT,
    limits: {
      maxSessions: { MX: c.INGRESS_MAX_SESSIONS_MX, SUBMISSION: c.INGRESS_MAX_SESSIONS_SUBMISSION },
      maxSessionsPerPrefix: c.INGRESS_MAX_SESSIONS_PER_PREFIX ?? c.INGRESS_MAX_CONNECTIONS_PER_IP ?? 20,
      maxMessagesPerPrefixPerMinute: c.INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE ?? c.INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE ?? 600,
      ipv4PrefixLength: c.INGRESS_IPV4_PREFIX_LENGTH,
      ipv6PrefixLength: c.INGRESS_IPV6_PREFIX_LENGTH,
    },
    budget: {
      totalBytes: c.INGRESS_MAX_INFLIGHT_BYTES,
      perPrefixBytes: c.INGRESS_MAX_INFLIGHT_BYTES_PER_PREFIX,
      submissionReservedBytes: c.INGRESS_SUBMISSION_RESERVED_BYTES,
    },
    clock: {
      idleMs: c.INGRESS_SOCKET_TIMEOUT_MS,
      maxNoProgressCommands: c.INGRESS_MAX_NO_PROGRESS_COMMANDS,
      maxSessionMs: c.INGRESS_MAX_SESSION_MS,
      maxDataMs: c.INGRESS_MAX_DATA_MS,
      authTimeoutMs: c.INGRESS_AUTH_TIMEOUT_MS,
    },
    auth: {
      maxFailuresPerSession: c.INGRESS_AUTH_MAX_FAILURES_PER_SESSION,
      maxFailuresPerPrefix: c.INGRESS_AUTH_MAX_FAILURES_PER_PREFIX,
      maxFailuresPerUser: c.INGRESS_AUTH_MAX_FAILURES_PER_USER,
      failureWindowMs: c.INGRESS_AUTH_FAILURE_WINDOW_MS,
      lockoutMs: c.INGRESS_AUTH_LOCKOUT_MS,
      lockoutMaxMs: c.INGRESS_AUTH_LOCKOUT_MAX_MS,
      failureDelayMs: c.INGRESS_AUTH_FAILURE_DELAY_MS,
      hashConcurrency: c.INGRESS_AUTH_HASH_CONCURRENCY,
      hashQueue: c.INGRESS_AUTH_HASH_QUEUE,
    },
    policy: {
      localDomains,
      demoDomains: !c.INGRESS_LOCAL_DOMAINS,
      recipientsFile: c.INGRESS_RECIPIENTS_FILE ? resolve(c.INGRESS_RECIPIENTS_FILE) : undefined,
      delimiter: c.INGRESS_RECIPIENT_DELIMITER,
      dns: { servers: c.INGRESS_DNS_SERVERS?.map(dnsServerAddress), timeoutMs: c.INGRESS_DNS_TIMEOUT_MS, cacheSize: c.INGRESS_DNS_CACHE_SIZE },
      dnsbl: { sites: dnsblSites, threshold: c.INGRESS_DNSBL_THRESHOLD, action: c.INGRESS_DNSBL_ACTION },
      spfReject: c.INGRESS_SPF_REJECT,
      greylist: {
        enabled: c.INGRESS_GREYLIST,
        delayMs: c.INGRESS_GREYLIST_DELAY_MS,
        retryWindowMs: c.INGRESS_GREYLIST_RETRY_WINDOW_MS,
        passTtlMs: c.INGRESS_GREYLIST_PASS_TTL_MS,
        maxEntries: c.INGRESS_GREYLIST_MAX_ENTRIES,
      },
      refusalRecordsPerPrefixPerMinute: c.INGRESS_REFUSAL_RECORDS_PER_PREFIX_PER_MINUTE,
    },
    socketTimeoutMs: c.INGRESS_SOCKET_TIMEOUT_MS,
    shutdownTimeoutMs: c.INGRESS_SHUTDOWN_TIMEOUT_MS,
    reverseDns: c.INGRESS_REVERSE_DNS,
    blocklistSyncTimeoutMs: c.INGRESS_BLOCKLIST_SYNC_TIMEOUT_MS,
    dataDir: resolve(dataDir),
    warnings: [
      ...renamed.map((k) => `${k} is deprecated and now counts per client prefix: ${help[k].replace(/^renamed: /, '')}`),
      // Allowed (a 452 is temporary: the client sends the other recipients in another transaction), but said.
      ...(c.INGRESS_MAX_RECIPIENTS < 100 ? [`INGRESS_MAX_RECIPIENTS=${c.INGRESS_MAX_RECIPIENTS} is below RFC 5321's 100 (§4.5.3.1.8: refusing fewer violates it); clients get 452 4.5.3 and must retry the rest: set it to 100 or more`] : []),
    ],
    // Shared with the DKIM signer, hence not INGRESS_*: runtime/submission-mac.ts.
    submissionMacKeyFile: env.SCOP_SUBMISSION_MAC_KEY_FILE?.trim() || undefined,
  };
}

export function defaultUsersFile(dataDir: string): string {
  return join(dataDir, 'ingress', 'users');
}

/** For the README: every variable with its default and meaning. */
export const INGRESS_ENV_HELP = help;

/** The accepted-mail hand-off's Kafka settings: the process's, on INGRESS_KAFKA_CLIENT's library when set. */
export function handoffKafkaSettings(config: Pick<IngressConfig, 'kafkaClient'>, settings: KafkaSettings): KafkaSettings {
  return config.kafkaClient ? { ...settings, client: config.kafkaClient } : settings;
}
