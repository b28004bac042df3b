import { isIP } from 'node:net';
import { z } from 'zod';

/** A configuration problem the operator must fix; printed as one line, never as a stack trace. */
export class ConfigError extends Error {
  constructor(readonly key: string, problem: string, readonly fix: string) {
    super(`config error: ${key}: ${problem} — ${fix}`);
    this.name = 'ConfigError';
  }
}

/** Env var name → help text shown when its value is invalid. */
export type ConfigHelp<T extends z.ZodRawShape> = { [K in keyof T]: string };

/**
 * Validates environment variables against a zod shape whose keys are the env var names.
 * The first invalid key becomes a ConfigError naming the key and how to fix it.
 */
export function loadEnv<T extends z.ZodRawShape>(
  shape: T,
  help: ConfigHelp<T>,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<T>> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(shape)) {
    const raw = env[key];
    input[key] = raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  }
  const parsed = z.object(shape).safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0] ?? '?');
  const value = input[key];
  throw new ConfigError(key, `${issue.message}${value === undefined ? '' : ` (got "${value}")`}`, help[key as keyof T] ?? 'see README "Configuration"');
}

/** zod helpers for env values, which always arrive as strings. */
export const envPort = () => z.coerce.number().int().min(1).max(65535);
export const envInt = (min = 0) => z.coerce.number().int().min(min);
export const envBool = () =>
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export interface DnsServer { host: string; port: number }

/** "127.0.0.1:5300, [::1]:53, 10.0.0.1" → resolver addresses (port 53 by default). */
export function parseDnsServers(spec: string): DnsServer[] {
  return spec.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    let host = s;
    let port = 53;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (v6) {
      host = v6[1]!;
      if (v6[2]) port = Number(v6[2]);
    } else if (isIP(s) !== 6) {
      const m = /^(.+?)(?::(\d+))?$/.exec(s)!;
      host = m[1]!;
      if (m[2]) port = Number(m[2]);
    }
    if (!isIP(host)) throw new Error(`"${s}" is not an IP address (optionally with :port; IPv6 as [addr]:port)`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${s}" has an invalid port`);
    return { host, port };
  });
}

/** A DNS server as node:dns setServers() takes it: ip:port, [v6]:port. */
export const dnsServerAddress = (s: DnsServer) => (isIP(s.host) === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/** An env value listing DNS resolvers (parseDnsServers); at least one. */
export const envDnsServers = () => z.string().transform((s, ctx) => {
  try {
    const list = parseDnsServers(s);
    if (list.length === 0) throw new Error('no server given');
    return list;
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
    return z.NEVER;
  }
});
