/**
 * The notifier's configuration, from the environment (README.md "Configuration" lists it).
 * Without MATRIX_HOMESERVER_URL the notifier is disabled; with it, everything else must be valid.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, envBool, loadEnv } from '../../runtime/config.ts';
import { SEVERITIES } from '../../runtime/alerts.ts';
import type { AlertSeverity } from '../../schemas/types.ts';
import type { MatrixAuth } from './client.ts';

/** "90s", "5m", "1h", "250ms" or plain milliseconds; a regex is all this needs. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(s.trim());
  if (!m) return undefined;
  const factor = { ms: 1, s: 1000, m: 60000, h: 3600000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

const duration = () => z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a duration' });
  return ms ?? 0;
});

export const routeSchema = z.object({
  /** Room id (!abc:server, or !abc from room version 12 on) or alias (#ops:server). */
  room: z.string().regex(/^(![^\s:]+(:\S+)?|#[^\s:]+:\S+)$/, 'room must be a room id (!id or !id:server) or alias (#alias:server)'),
  /** Alert kinds this route takes; absent or ["*"]: every kind. */
  kinds: z.array(z.string().min(1)).nonempty().optional(),
  /** Lowest severity this route takes (default info: all). */
  minSeverity: z.enum(SEVERITIES as [AlertSeverity, ...AlertSeverity[]]).default('info'),
}).strict();
export type Route = z.infer<typeof routeSchema>;
const routesSchema = z.array(routeSchema).nonempty();

export interface MatrixConfig {
  homeserverUrl: string;
  auth: MatrixAuth;
  routes: Route[];
  /** 0: every alert is posted on its own. */
  digestWindowMs: number;
  /** How far back the notifier reads its own posts at start to skip alerts already posted. */
  dedupLookbackMs: number;
  retryMaxMs: number;
  /** Users whose `!scop …` room commands are answered (empty: commands off). */
  commandUsers: string[];
}

const shape = {
  MATRIX_HOMESERVER_URL: z.string().url().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'must be an https:// URL').optional(),
  MATRIX_ALLOW_INSECURE: envBool().default('false'),
  MATRIX_ACCESS_TOKEN: z.string().optional(),
  MATRIX_USER: z.string().optional(),
  MATRIX_PASSWORD: z.string().optional(),
  MATRIX_DEVICE_ID: z.string().regex(/^[A-Za-z0-9_.=-]{1,64}$/).default('SCOP_NOTIFIER'),
  MATRIX_ROOM: z.string().optional(),
  MATRIX_ROUTES: z.string().optional(),
  MATRIX_ROUTES_FILE: z.string().optional(),
  MATRIX_DIGEST_WINDOW: duration().default('5m'),
  MATRIX_DEDUP_LOOKBACK: duration().default('6h'),
  MATRIX_RETRY_MAX: duration().default('30s'),
  MATRIX_COMMAND_USERS: z.string().transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
    .refine((l) => l.every((u) => /^@[^:\s]+:\S+$/.test(u)), { message: 'must be full user ids' }).optional(),
};
const help = {
  MATRIX_HOMESERVER_URL: 'the homeserver’s client API base URL, e.g. https://matrix.example.org (unset: the notifier is disabled)',
  MATRIX_ALLOW_INSECURE: 'true only to allow an http:// homeserver (the bot’s token and password then travel unencrypted: a homeserver on this host, tests), else false',
  MATRIX_ACCESS_TOKEN: 'an access token of the bot user (or set MATRIX_USER and MATRIX_PASSWORD)',
  MATRIX_USER: 'the bot’s user id or localpart, with MATRIX_PASSWORD',
  MATRIX_PASSWORD: 'the bot’s password, with MATRIX_USER',
  MATRIX_DEVICE_ID: 'letters, digits and _.=- (keep it fixed: transaction ids de-duplicate per device)',
  MATRIX_ROOM: 'a room id (!id or !id:server) or alias (#alias:server) that gets every alert',
  MATRIX_ROUTES: 'a JSON array of routes, e.g. [{"room":"#ops:example.org","kinds":["block"],"minSeverity":"warning"}]',
  MATRIX_ROUTES_FILE: 'a readable JSON file with the routes array',
  MATRIX_DIGEST_WINDOW: 'a duration such as 5m, 90s or 0 (no digests)',
  MATRIX_DEDUP_LOOKBACK: 'a duration such as 6h',
  MATRIX_RETRY_MAX: 'a duration such as 30s (longest pause between retries while the homeserver is down)',
  MATRIX_COMMAND_USERS: 'comma-separated user ids allowed to use room commands, e.g. @alice:example.org,@bob:example.org',
};

export function matrixEnabled(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.MATRIX_HOMESERVER_URL?.trim());
}

/** The validated configuration, or null when MATRIX_HOMESERVER_URL is unset (notifier disabled). */
export function loadMatrixConfig(env: NodeJS.ProcessEnv = process.env): MatrixConfig | null {
  const cfg = loadEnv(shape, help, env);
  if (!cfg.MATRIX_HOMESERVER_URL) return null;
  // Every request carries the bot's access token (and the login its password): never in clear unless asked for.
  if (new URL(cfg.MATRIX_HOMESERVER_URL).protocol !== 'https:' && !cfg.MATRIX_ALLOW_INSECURE) {
    throw new ConfigError('MATRIX_HOMESERVER_URL', `${cfg.MATRIX_HOMESERVER_URL} is not https: the bot's access token and password would be sent unencrypted`,
      'use the homeserver\'s https:// URL, or set MATRIX_ALLOW_INSECURE=true if it runs on this host (tests)');
  }
  let auth: MatrixAuth;
  if (cfg.MATRIX_ACCESS_TOKEN) auth = { accessToken: cfg.MATRIX_ACCESS_TOKEN };
  else if (cfg.MATRIX_USER && cfg.MATRIX_PASSWORD) auth = { user: cfg.MATRIX_USER, password: cfg.MATRIX_PASSWORD, deviceId: cfg.MATRIX_DEVICE_ID };
  else throw new ConfigError('MATRIX_ACCESS_TOKEN', 'no Matrix credentials', 'set MATRIX_ACCESS_TOKEN, or MATRIX_USER and MATRIX_PASSWORD');

  const routes: Route[] = [];
  const parseRoutes = (key: 'MATRIX_ROUTES' | 'MATRIX_ROUTES_FILE', text: string) => {
    let json: unknown;
    try { json = JSON.parse(text); } catch (e) { throw new ConfigError(key, `not JSON: ${(e as Error).message}`, help[key]); }
    const r = routesSchema.safeParse(json);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new ConfigError(key, `${i.path.join('.') || '(root)'}: ${i.message}`, help[key]);
    }
    routes.push(...r.data);
  };
  if (cfg.MATRIX_ROUTES) parseRoutes('MATRIX_ROUTES', cfg.MATRIX_ROUTES);
  if (cfg.MATRIX_ROUTES_FILE) {
    let text: string;
    try { text = readFileSync(cfg.MATRIX_ROUTES_FILE, 'utf8'); } catch (e) { throw new ConfigError('MATRIX_ROUTES_FILE', `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, help.MATRIX_ROUTES_FILE); }
    parseRoutes('MATRIX_ROUTES_FILE', text);
  }
  if (cfg.MATRIX_ROOM) {
    const r = routeSchema.safeParse({ room: cfg.MATRIX_ROOM });
    if (!r.success) throw new ConfigError('MATRIX_ROOM', r.error.issues[0]!.message, help.MATRIX_ROOM);
    routes.push(r.data);
  }
  if (routes.length === 0) throw new ConfigError('MATRIX_ROOM', 'no room to post to', 'set MATRIX_ROOM, MATRIX_ROUTES or MATRIX_ROUTES_FILE');
  return {
    homeserverUrl: cfg.MATRIX_HOMESERVER_URL,
    auth,
    routes,
    digestWindowMs: cfg.MATRIX_DIGEST_WINDOW,
    dedupLookbackMs: cfg.MATRIX_DEDUP_LOOKBACK,
    retryMaxMs: Math.max(100, cfg.MATRIX_RETRY_MAX),
    commandUsers: cfg.MATRIX_COMMAND_USERS ?? [],
  };
}

const rank = (s: AlertSeverity) => SEVERITIES.indexOf(s);

/** The rooms (ids or aliases, as configured) an alert goes to: every matching route, each room once. */
export function roomsFor(routes: Route[], alert: { kind: string; severity: AlertSeverity }): string[] {
  const rooms = new Set<string>();
  for (const r of routes) {
    if (r.kinds && !r.kinds.includes('*') && !r.kinds.includes(alert.kind)) continue;
    if (rank(alert.severity) < rank(r.minSeverity)) continue;
    rooms.add(r.room);
  }
  return [...rooms];
}
