/**
 * Helpers for tests that need the real stack. `npm test` (infra/run-tests.ts) sets KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL; a test run another way must set them too.
 */
import { randomBytes } from 'node:crypto';
import type { KafkaSettings } from './kafka.ts';
import type { RegistrySettings } from './registry.ts';

function required(name: string): string {
  const v = process.env[name]?.trim();
  if (!v) throw new Error(`${name} is not set: run tests with \`npm test\` (it starts Kafka and the registry) or set ${name}`);
  return v;
}

export function testKafka(clientId = 'scop-test'): KafkaSettings {
  return { brokers: required('KAFKA_BROKERS').split(','), clientId };
}

export function testRegistry(): RegistrySettings {
  return { url: required('SCHEMA_REGISTRY_URL') };
}

/** A name no other test (or earlier run against the same cluster) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
