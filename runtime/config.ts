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
