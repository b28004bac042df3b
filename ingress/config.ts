/**
 * Ingress configuration: every INGRESS_* variable, validated at start with zod. A wrong value is a
 * ConfigError naming the key and the fix (one line, exit 2).
 */
import { existsSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, envBool, envInt, envPort, loadEnv } from '../runtime/config.ts';
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
  INGRESS_MAX_RECIPIENTS: envInt(1).default(100),
  INGRESS_USERS_FILE: z.string().optional(),
  INGRESS_KAFKA_DEADLINE_MS: envInt(500).default(15000),
  INGRESS_MAX_CONNECTIONS_PER_IP: envInt(1).default(20),
  INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE: envInt(1).default(600),
  INGRESS_MAX_SESSIONS: envInt(1).default(500),
  INGRESS_SOCKET_TIMEOUT_MS: envInt(1000).default(120000),
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
  INGRESS_MAX_RECIPIENTS: 'the most RCPT TO per message, at least 1',
  INGRESS_USERS_FILE: 'path of the submission users file written by `scop users add`',
  INGRESS_KAFKA_DEADLINE_MS: 'milliseconds (at least 500) Kafka has to acknowledge a message before the client gets 451',
  INGRESS_MAX_CONNECTIONS_PER_IP: 'concurrent connections allowed from one client address, at least 1',
  INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE: 'messages (MAIL FROM) allowed from one client address per minute, at least 1',
  INGRESS_MAX_SESSIONS: 'concurrent SMTP sessions over all listeners, at least 1',
  INGRESS_SOCKET_TIMEOUT_MS: 'idle milliseconds before a session is closed with 421, at least 1000',
  INGRESS_SHUTDOWN_TIMEOUT_MS: 'milliseconds a graceful stop waits for sessions in a transaction before closing them',
  INGRESS_REVERSE_DNS: 'true to look up the client host name (shown in Received), false to skip it',
  INGRESS_BLOCKLIST_SYNC_TIMEOUT_MS: 'milliseconds to wait at start for the blocklist topic to be read to its end',
};

export interface ListenerConfig {
  host: string;
  port: number;
}

export interface IngressConfig {
  hostname: string;
  mx: ListenerConfig;
  submission: ListenerConfig;
  /** Implicit TLS submission (465 role); undefined when off. */
  submissions?: ListenerConfig;
  tls: { certFile: string; keyFile: string } | undefined;
  maxMessageBytes: number;
  maxRecipients: number;
  usersFile: string;
  kafkaDeadlineMs: number;
  maxConnectionsPerIp: number;
  maxMessagesPerIpPerMinute: number;
  maxSessions: number;
  socketTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** SCOP_SUBMISSION_MAC_KEY_FILE when set (else the default under dataDir, created at start). */
  submissionMacKeyFile?: string;
  reverseDns: boolean;
  blocklistSyncTimeoutMs: number;
  dataDir: string;
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
    maxRecipients: c.INGRESS_MAX_RECIPIENTS,
    usersFile: resolve(c.INGRESS_USERS_FILE ?? defaultUsersFile(dataDir)),
    kafkaDeadlineMs: c.INGRESS_KAFKA_DEADLINE_MS,
    maxConnectionsPerIp: c.INGRESS_MAX_CONNECTIONS_PER_IP,
    maxMessagesPerIpPerMinute: c.INGRESS_MAX_MESSAGES_PER_IP_PER_MINUTE,
    maxSessions: c.INGRESS_MAX_SESSIONS,
    socketTimeoutMs: c.INGRESS_SOCKET_TIMEOUT_MS,
    shutdownTimeoutMs: c.INGRESS_SHUTDOWN_TIMEOUT_MS,
    reverseDns: c.INGRESS_REVERSE_DNS,
    blocklistSyncTimeoutMs: c.INGRESS_BLOCKLIST_SYNC_TIMEOUT_MS,
    dataDir: resolve(dataDir),
    // Shared with the DKIM signer, hence not INGRESS_*: runtime/submission-mac.ts.
    submissionMacKeyFile: env.SCOP_SUBMISSION_MAC_KEY_FILE?.trim() || undefined,
  };
}

export function defaultUsersFile(dataDir: string): string {
  return join(dataDir, 'ingress', 'users');
}

/** For the README: every variable with its default and meaning. */
export const INGRESS_ENV_HELP = help;
