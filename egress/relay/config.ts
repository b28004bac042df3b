/** The egress relay's settings, from the environment (README "Configuration"). */
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { ConfigError, dnsServerAddress, envBool, envDnsServers, envInt, envPort, loadEnv } from '../../runtime/config.ts';
import { parseNetworks } from './mx.ts';

export type NextHop =
  | { kind: 'smtp' | 'lmtp'; host: string; port: number; url: string }
  | { kind: 'maildir'; dir: string; url: string };

const nextHop = z.string().transform((s, ctx) => {
  const m = /^(smtp|lmtp):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(s);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be smtp://host:port or lmtp://host:port' });
    return z.NEVER;
  }
  return { kind: m[1] as 'smtp' | 'lmtp', host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]), url: `${m[1]}://${m[2]}:${m[3]}` };
});

const delays = z.string().transform((s, ctx) => {
  const list = s.split(',').map((x) => Number(x.trim()));
  if (list.length !== 3 || list.some((n) => !Number.isFinite(n) || n < 0)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be three comma-separated second counts' });
    return z.NEVER;
  }
  return list.map((n) => n * 1000) as [number, number, number];
});

const policyUrl = z.string().refine((s) => {
  try {
    return s.startsWith('https://') && s.includes('{domain}') && new URL(s.replaceAll('{domain}', 'example.org')).protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an https:// URL containing {domain}');

const shape = {
  EGRESS_NEXT_HOP: nextHop.optional(),
  EGRESS_MAILDIR: z.string().optional(),
  EGRESS_HOSTNAME: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name').default(hostname()),
  EGRESS_RETRY_DELAYS: delays.default('60,600,3600'),
  EGRESS_MAX_ATTEMPTS: envInt(1).max(100).default(8),
  EGRESS_CONCURRENCY: envInt(1).max(1000).default(64),
  EGRESS_DESTINATION_CONCURRENCY: envInt(1).max(1000).default(20),
  EGRESS_SESSION_MAX_MESSAGES: envInt(1).max(100000).default(100),
  EGRESS_SESSION_IDLE_MS: envInt(0).max(3_600_000).default(5000),
  EGRESS_MAX_IN_DOUBT: envInt(1).max(1000).default(1),
  EGRESS_MX_MAX_IN_DOUBT: envInt(1).max(1000).default(32),
  EGRESS_RETRANSMISSION_WINDOW_MS: envInt(0).max(86_400_000).default(600_000),
  EGRESS_JOURNAL: z.string().min(1).optional(),
  EGRESS_GROUP_SESSION_MS: envInt(6000).max(300_000).default(10_000),
  EGRESS_TIMEOUT_MS: envInt(1000).default(60000),
  EGRESS_STARTTLS: z.enum(['opportunistic', 'require', 'off']).default('opportunistic'),
  EGRESS_TLS_INSECURE: envBool().default('false'),
  EGRESS_SMTP_USER: z.string().optional(),
  EGRESS_SMTP_PASSWORD: z.string().optional(),
  EGRESS_SMTP_ALLOW_INSECURE: envBool().default('false'),
  EGRESS_MX_ALLOWED_NETWORKS: z.string().transform((s, ctx) => {
    try {
      return parseNetworks(s);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be comma-separated CIDR blocks or addresses (${(e as Error).message})` });
      return z.NEVER;
    }
  }).optional(),
  EGRESS_DNS_SERVERS: envDnsServers().optional(),
  EGRESS_DNS_TIMEOUT_MS: envInt(100).default(5000),
  EGRESS_MX_PORT: envPort().default(25),
  EGRESS_MTA_STS: z.enum(['on', 'off']).default('on'),
  EGRESS_MTA_STS_POLICY_URL_TEMPLATE: policyUrl.default('https://mta-sts.{domain}/.well-known/mta-sts.txt'),
  EGRESS_TLS_CA_FILE: z.string().optional(),
  EGRESS_DSN: z.enum(['on', 'off']).default('on'),
  EGRESS_AUTHSERV_IDS: z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((l) => l.length > 0 && l.every((x) => /^[A-Za-z0-9.-]+$/.test(x)), 'must be comma-separated host names').default(hostname()),
};

const help = {
  EGRESS_NEXT_HOP: 'the next hop as smtp://host:port or lmtp://host:port, e.g. EGRESS_NEXT_HOP=smtp://127.0.0.1:25; leave it unset to deliver into the local Maildir',
  EGRESS_MAILDIR: 'folder of the local Maildir (one Maildir per recipient under it), default <data dir>/maildir',
  EGRESS_HOSTNAME: 'host name written into the Received header, e.g. EGRESS_HOSTNAME=mx.example.org',
  EGRESS_RETRY_DELAYS: 'seconds before the 1st, 2nd and further retries, e.g. EGRESS_RETRY_DELAYS=60,600,3600',
  EGRESS_MAX_ATTEMPTS: 'delivery attempts before a message goes to mail.delivery.dead (1..100), e.g. EGRESS_MAX_ATTEMPTS=8',
  EGRESS_CONCURRENCY: 'deliveries at once over all destinations (1..1000), e.g. EGRESS_CONCURRENCY=64',
  EGRESS_DESTINATION_CONCURRENCY: 'SMTP/LMTP sessions open at once to one destination (the next hop, one MX address) (1..1000), e.g. EGRESS_DESTINATION_CONCURRENCY=20',
  EGRESS_SESSION_MAX_MESSAGES: 'messages one SMTP/LMTP session carries before it is closed (1..100000), e.g. EGRESS_SESSION_MAX_MESSAGES=100',
  EGRESS_SESSION_IDLE_MS: 'milliseconds an idle SMTP/LMTP session is kept for the next message (0..3600000; 0: one message per session), e.g. EGRESS_SESSION_IDLE_MS=5000',
  EGRESS_RETRANSMISSION_WINDOW_MS: 'how long a delivered message is remembered by sender, Message-ID and content, so that a copy the sender sent again (its 250 was lost to a crash of the ingress) is not delivered twice (0..86400000; 0 = off), e.g. EGRESS_RETRANSMISSION_WINDOW_MS=600000',
  EGRESS_MAX_IN_DOUBT: 'transactions to the next hop (EGRESS_NEXT_HOP) per process whose end of data (".") may be sent before their reply is read (1..1000): a crash delivers at most that many messages twice; each slot carries at most one message per reply time, so raise it for a distant or slow next hop, e.g. EGRESS_MAX_IN_DOUBT=4',
  EGRESS_MX_MAX_IN_DOUBT: 'the same bound for outbound delivery to recipient MX hosts (1..1000), whose replies take a network round trip or more, e.g. EGRESS_MX_MAX_IN_DOUBT=32',
  EGRESS_GROUP_SESSION_MS: 'milliseconds a crashed egress instance keeps its partitions before another (or its restart) takes them over (6000..300000), e.g. EGRESS_GROUP_SESSION_MS=10000',
  EGRESS_JOURNAL: 'folder of the local delivery journal (default <data dir>/egress/journal), or off to run without one',
  EGRESS_TIMEOUT_MS: 'milliseconds one delivery may take (at least 1000), e.g. EGRESS_TIMEOUT_MS=60000',
  EGRESS_STARTTLS: 'opportunistic (use STARTTLS when offered), require, or off',
  EGRESS_TLS_INSECURE: 'true to accept any certificate from the next hop (a self-signed relay on the same host), else false',
  EGRESS_SMTP_USER: 'user name to AUTH at the next hop (with EGRESS_SMTP_PASSWORD)',
  EGRESS_SMTP_PASSWORD: 'password for EGRESS_SMTP_USER',
  EGRESS_SMTP_ALLOW_INSECURE: 'true only to send EGRESS_SMTP_PASSWORD without verified, required TLS (a relay on this host, tests), else false',
  EGRESS_MX_ALLOWED_NETWORKS: 'comma-separated CIDR blocks outbound MX addresses may be in although loopback, private or reserved, e.g. EGRESS_MX_ALLOWED_NETWORKS=10.1.2.0/24 (tests: 127.0.0.0/8); unset: only global unicast addresses',
  EGRESS_DNS_SERVERS: 'resolvers for MX / A / AAAA / MTA-STS lookups of outbound mail as ip[:port],…, e.g. EGRESS_DNS_SERVERS=127.0.0.1:53; unset: the system resolver',
  EGRESS_DNS_TIMEOUT_MS: 'milliseconds one DNS query may take (at least 100), e.g. EGRESS_DNS_TIMEOUT_MS=5000',
  EGRESS_MX_PORT: 'TCP port of the recipient MX hosts (1-65535): 25 on the Internet; another value only for tests on loopback',
  EGRESS_MTA_STS: 'on to honour recipient domains\' MTA-STS policies (RFC 8461), off to ignore them',
  EGRESS_MTA_STS_POLICY_URL_TEMPLATE: 'https URL of MTA-STS policies with {domain} for the recipient domain, e.g. https://mta-sts.{domain}/.well-known/mta-sts.txt (another port only for tests)',
  EGRESS_TLS_CA_FILE: 'PEM file of extra CA certificates trusted (besides the system ones) for the next hop, MTA-STS policy fetches and MX certificates, e.g. a private or test CA',
  EGRESS_DSN: 'on to send a delivery status notification (bounce) to the sender of outbound mail that failed, off to only log it',
  EGRESS_AUTHSERV_IDS: 'comma-separated authserv-ids that are ours (the auth stage\'s AUTH_SERVID and any other host name your own Authentication-Results use), e.g. EGRESS_AUTHSERV_IDS=mx.example.org; incoming Authentication-Results with these ids are removed before delivery',
};

export function loadRelayConfig(env: NodeJS.ProcessEnv, dataDir: string) {
  const c = loadEnv(shape, help, env);
  // AUTH at the next hop sends the password: only under TLS that is required and verified, unless asked for.
  // Opportunistic STARTTLS is stripped by anyone on the path (the EHLO reply loses STARTTLS), and an
  // unverified certificate is anyone's.
  if ((c.EGRESS_SMTP_USER || c.EGRESS_SMTP_PASSWORD) && !c.EGRESS_SMTP_ALLOW_INSECURE && (c.EGRESS_STARTTLS !== 'require' || c.EGRESS_TLS_INSECURE)) {
    throw new ConfigError('EGRESS_SMTP_PASSWORD', `AUTH at the next hop with EGRESS_STARTTLS=${c.EGRESS_STARTTLS}${c.EGRESS_TLS_INSECURE ? ' and EGRESS_TLS_INSECURE=true' : ''} would let anyone on the path read the password (STARTTLS can be stripped, an unverified certificate impersonated)`,
      'set EGRESS_STARTTLS=require with EGRESS_TLS_INSECURE=false (and EGRESS_TLS_CA_FILE for a private CA), or EGRESS_SMTP_ALLOW_INSECURE=true for a relay on this host');
  }
  const maildir = resolve(c.EGRESS_MAILDIR ?? join(dataDir, 'maildir'));
  const hop: NextHop = c.EGRESS_NEXT_HOP ?? { kind: 'maildir', dir: maildir, url: `maildir:${maildir}` };
  return {
    nextHop: hop,
    hostname: c.EGRESS_HOSTNAME,
    retryDelaysMs: c.EGRESS_RETRY_DELAYS,
    maxAttempts: c.EGRESS_MAX_ATTEMPTS,
    concurrency: c.EGRESS_CONCURRENCY,
    sessions: { maxPerDestination: c.EGRESS_DESTINATION_CONCURRENCY, maxMessages: c.EGRESS_SESSION_MAX_MESSAGES, idleMs: c.EGRESS_SESSION_IDLE_MS },
    // Transactions past their "." at once (in-doubt.ts): what one crash can deliver twice.
    maxInDoubt: { nextHop: c.EGRESS_MAX_IN_DOUBT, mx: c.EGRESS_MX_MAX_IN_DOUBT },
    // A sender's retransmission after a lost 250 (retransmissions.ts).
    retransmissionWindowMs: c.EGRESS_RETRANSMISSION_WINDOW_MS,
    // Outcomes noted locally the moment the reply arrives (journal.ts); "off" leaves only the Kafka log.
    journalDir: c.EGRESS_JOURNAL === 'off' ? null : resolve(c.EGRESS_JOURNAL ?? join(dataDir, 'egress', 'journal')),
    groupSessionMs: c.EGRESS_GROUP_SESSION_MS,
    timeoutMs: c.EGRESS_TIMEOUT_MS,
    starttls: c.EGRESS_STARTTLS,
    tlsInsecure: c.EGRESS_TLS_INSECURE,
    auth: c.EGRESS_SMTP_USER ? { user: c.EGRESS_SMTP_USER, pass: c.EGRESS_SMTP_PASSWORD ?? '' } : undefined,
    authservIds: c.EGRESS_AUTHSERV_IDS,
    outbound: {
      dnsServers: c.EGRESS_DNS_SERVERS?.map(dnsServerAddress),
      dnsTimeoutMs: c.EGRESS_DNS_TIMEOUT_MS,
      mxPort: c.EGRESS_MX_PORT,
      mtaSts: c.EGRESS_MTA_STS === 'on',
      policyUrlTemplate: c.EGRESS_MTA_STS_POLICY_URL_TEMPLATE,
      extraCa: readCa(c.EGRESS_TLS_CA_FILE),
      dsn: c.EGRESS_DSN === 'on',
      allowedNetworks: c.EGRESS_MX_ALLOWED_NETWORKS ?? [],
    },
  };
}

function readCa(file: string | undefined): string[] {
  if (!file) return [];
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('EGRESS_TLS_CA_FILE', `cannot read ${file}: ${(e as Error).message}`, help.EGRESS_TLS_CA_FILE);
  }
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!certs.length) throw new ConfigError('EGRESS_TLS_CA_FILE', `${file} holds no PEM certificate`, help.EGRESS_TLS_CA_FILE);
  return certs;
}

export type OutboundConfig = RelayConfig['outbound'];

export type RelayConfig = ReturnType<typeof loadRelayConfig>;
