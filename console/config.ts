/** The console's settings, from the environment (console/README.md "Configuration"). */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, envPort, loadEnv } from '../runtime/config.ts';

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

const shape = {
  CONSOLE_HOST: z.string().default('127.0.0.1'),
  CONSOLE_PORT: envPort().default(8443),
  CONSOLE_TLS: z.enum(['auto', 'files', 'off']).default('auto'),
  CONSOLE_TLS_CERT_FILE: z.string().optional(),
  CONSOLE_TLS_KEY_FILE: z.string().optional(),
  CONSOLE_USERS_FILE: z.string().optional(),
  HISTORY_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL').optional(),
  CONSOLE_HISTORY_RETENTION_DAYS: positiveInt(3650).default(30),
  CONSOLE_SESSION_HOURS: positiveInt(24 * 30).default(8),
  CONSOLE_LOGIN_FAILURES_PER_MINUTE: positiveInt(1000).default(10),
  CONSOLE_PAGE_SIZE: positiveInt(500).default(100),
};

const help = {
  CONSOLE_HOST: 'the address the console listens on (loopback by default; put a reverse proxy in front to expose it)',
  CONSOLE_PORT: 'a free TCP port for the console, e.g. 8443',
  CONSOLE_TLS: 'auto (a self-signed certificate for local use), files (CONSOLE_TLS_CERT_FILE / CONSOLE_TLS_KEY_FILE) or off (plain HTTP behind a TLS-terminating proxy)',
  CONSOLE_TLS_CERT_FILE: 'a PEM certificate chain',
  CONSOLE_TLS_KEY_FILE: 'the PEM private key of CONSOLE_TLS_CERT_FILE',
  CONSOLE_USERS_FILE: 'path of the operators file written by `scop console users add`',
  HISTORY_DATABASE_URL: 'a PostgreSQL URL, e.g. postgresql://scop@db.example/scop (unset: embedded SQLite under SCOP_DATA_DIR/console)',
  CONSOLE_HISTORY_RETENTION_DAYS: 'days of history to keep, e.g. 30',
  CONSOLE_SESSION_HOURS: 'hours a login lasts, e.g. 8',
  CONSOLE_LOGIN_FAILURES_PER_MINUTE: 'failed logins allowed per client address per minute, e.g. 10',
  CONSOLE_PAGE_SIZE: 'rows per page of search results (1-500), e.g. 100',
};

export const defaultUsersFile = (dataDir: string) => join(resolve(dataDir), 'console', 'users');

export function loadConsoleConfig(env: NodeJS.ProcessEnv, dataDir: string) {
  const c = loadEnv(shape, help, env);
  if (c.CONSOLE_TLS === 'files' && (!c.CONSOLE_TLS_CERT_FILE || !c.CONSOLE_TLS_KEY_FILE)) {
    throw new ConfigError('CONSOLE_TLS', 'is files but CONSOLE_TLS_CERT_FILE or CONSOLE_TLS_KEY_FILE is unset', 'set both, or CONSOLE_TLS=auto');
  }
  return {
    host: c.CONSOLE_HOST,
    port: c.CONSOLE_PORT,
    tls: c.CONSOLE_TLS,
    tlsFiles: c.CONSOLE_TLS === 'files' ? { certFile: c.CONSOLE_TLS_CERT_FILE!, keyFile: c.CONSOLE_TLS_KEY_FILE! } : undefined,
    usersFile: resolve(c.CONSOLE_USERS_FILE ?? defaultUsersFile(dataDir)),
    databaseUrl: c.HISTORY_DATABASE_URL,
    sqliteFile: join(resolve(dataDir), 'console', 'history.db'),
    retentionMs: c.CONSOLE_HISTORY_RETENTION_DAYS * 24 * 3600 * 1000,
    sessionMs: c.CONSOLE_SESSION_HOURS * 3600 * 1000,
    loginFailuresPerMinute: c.CONSOLE_LOGIN_FAILURES_PER_MINUTE,
    pageSize: c.CONSOLE_PAGE_SIZE,
    dataDir: resolve(dataDir),
  };
}

export type ConsoleConfig = ReturnType<typeof loadConsoleConfig>;
