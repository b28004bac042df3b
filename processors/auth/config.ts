/** The auth stage's settings, from the environment (README "Configuration"). */
import { hostname } from 'node:os';
import { z } from 'zod';
import { envDnsServers, envInt, loadEnv } from '../../runtime/config.ts';
import type { DnsOptions } from './dns.ts';
import { DEFAULT_MAX_DKIM_SIGNATURES } from './verify.ts';
import { lookupEnvHelp, lookupEnvShape, type LookupConfig } from './lookups.ts';

const shape = {
  DNS_SERVERS: envDnsServers().default('127.0.0.1:53'),
  DNS_TIMEOUT_MS: envInt(50).max(30000).default(2000),
  DNS_RETRIES: envInt(0).max(10).default(2),
  DNS_CACHE_SIZE: envInt(0).default(50000),
  DNS_CACHE_MAX_TTL: envInt(0).default(86400),
  AUTH_SERVID: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name').default(hostname()),
  AUTH_MIN_KEY_BITS: envInt(512).default(1024),
  AUTH_MESSAGE_BUDGET_MS: envInt(100).default(20000),
  AUTH_DKIM_MAX_SIGNATURES: envInt(1).max(50).default(DEFAULT_MAX_DKIM_SIGNATURES),
  ...lookupEnvShape,
  AUTH_LOOKUP_MAX_ITEMS: envInt(1).max(200).default(20),
};

const help = {
  DNS_SERVERS: 'comma-separated resolver addresses, IP[:port] or [IPv6]:port, e.g. DNS_SERVERS=127.0.0.1:53,[::1]:53',
  DNS_TIMEOUT_MS: 'per-query timeout in milliseconds (50..30000), e.g. DNS_TIMEOUT_MS=2000',
  DNS_RETRIES: 'extra attempts after a timeout or SERVFAIL, rotating servers (0..10), e.g. DNS_RETRIES=2',
  DNS_CACHE_SIZE: 'maximum cached answers (0 disables the cache), e.g. DNS_CACHE_SIZE=50000',
  DNS_CACHE_MAX_TTL: 'upper bound in seconds for any cached TTL, e.g. DNS_CACHE_MAX_TTL=86400',
  AUTH_SERVID: 'authserv-id for Authentication-Results: this host name, e.g. AUTH_SERVID=mx.example.org',
  AUTH_MIN_KEY_BITS: 'shortest RSA key accepted for DKIM/ARC (RFC 8301: 1024), e.g. AUTH_MIN_KEY_BITS=1024',
  AUTH_MESSAGE_BUDGET_MS: 'total DNS time per message; past it remaining lookups are temperror, e.g. AUTH_MESSAGE_BUDGET_MS=20000',
  AUTH_DKIM_MAX_SIGNATURES: 'DKIM signatures verified per message (1..50; the rest are reported as not checked), e.g. AUTH_DKIM_MAX_SIGNATURES=5',
  ...lookupEnvHelp,
  AUTH_LOOKUP_MAX_ITEMS: 'URL domains and attachment hashes looked up per message and list (1..200), e.g. AUTH_LOOKUP_MAX_ITEMS=20',
};

export type AuthConfig = ReturnType<typeof loadAuthConfig>;

export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadEnv(shape, help, env);
  const dns: DnsOptions = { servers: c.DNS_SERVERS, timeoutMs: c.DNS_TIMEOUT_MS, retries: c.DNS_RETRIES, cacheSize: c.DNS_CACHE_SIZE, maxTtl: c.DNS_CACHE_MAX_TTL };
  const lookups: LookupConfig = { uri: c.AUTH_URI_LISTS, sender: c.AUTH_SENDER_LISTS, hash: c.AUTH_HASH_LISTS, maxDomains: c.AUTH_LOOKUP_MAX_ITEMS };
  return { dns, authservId: c.AUTH_SERVID, minKeyBits: c.AUTH_MIN_KEY_BITS, messageBudgetMs: c.AUTH_MESSAGE_BUDGET_MS, maxDkimSignatures: c.AUTH_DKIM_MAX_SIGNATURES, lookups };
}
