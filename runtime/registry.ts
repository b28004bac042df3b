/**
 * Schema registry access: registers the schemas of schemas/ under `<topic>-value` and encodes /
 * decodes records in the Confluent wire format (magic byte + schema id + Avro). Works with any
 * Confluent-compatible registry (Confluent, Karapace, Apicurio's ccompat API, Redpanda, scop's own).
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { z } from 'zod';
import { schema as loadedSchema, type SchemaName } from '../schemas/index.ts';
import { ConfigError, loadEnv } from './config.ts';
import type { TopicSpec } from './topics.ts';

export interface RegistrySettings {
  url: string;
  username?: string;
  password?: string;
}

const registryEnvShape = {
  SCHEMA_REGISTRY_URL: z.string().url(),
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
};
const registryEnvHelp = {
  SCHEMA_REGISTRY_URL: 'set SCHEMA_REGISTRY_URL=http(s)://host:port[/path] of a Confluent-compatible registry, or leave it unset to let scop start a local one',
  SCHEMA_REGISTRY_USERNAME: 'the registry’s basic-auth user',
  SCHEMA_REGISTRY_PASSWORD: 'the registry’s basic-auth password',
};

export function registrySettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RegistrySettings {
  const cfg = loadEnv(registryEnvShape, registryEnvHelp, env);
  return { url: cfg.SCHEMA_REGISTRY_URL.replace(/\/+$/, ''), username: cfg.SCHEMA_REGISTRY_USERNAME, password: cfg.SCHEMA_REGISTRY_PASSWORD };
}

function authHeader(s: RegistrySettings): Record<string, string> {
  return s.username ? { Authorization: `Basic ${Buffer.from(`${s.username}:${s.password ?? ''}`).toString('base64')}` } : {};
}

/** Fails with a ConfigError naming SCHEMA_REGISTRY_URL when the registry does not answer GET /subjects. */
export async function probeRegistry(s: RegistrySettings, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let reason = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${s.url}/subjects`, { headers: authHeader(s), signal: AbortSignal.timeout(Math.max(500, deadline - Date.now())) });
      if (res.ok) return;
      reason = `HTTP ${res.status}`;
      if (res.status === 401 || res.status === 403) break;
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      reason = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ConfigError(
    'SCHEMA_REGISTRY_URL',
    `the schema registry at ${s.url} did not answer GET /subjects within ${timeoutMs} ms (${reason})`,
    'start the registry there, fix SCHEMA_REGISTRY_URL (and SCHEMA_REGISTRY_USERNAME/PASSWORD), or unset it to let scop start a local one',
  );
}

export const subjectFor = (topic: string) => `${topic}-value`;

/** Typed Avro encode/decode against the registry; one instance per process is enough. */
export class RecordCodec {
  readonly registry: SchemaRegistry;
  private readonly ids = new Map<string, number>();

  constructor(readonly settings: RegistrySettings) {
    this.registry = new SchemaRegistry(
      { host: settings.url, auth: settings.username ? { username: settings.username, password: settings.password ?? '' } : undefined },
    );
  }

  /** Registers (idempotently) the topic's value schema and remembers its id. */
  async register(topic: Pick<TopicSpec, 'name' | 'valueSchema'>): Promise<number> {
    if (!topic.valueSchema) throw new Error(`topic ${topic.name} has no value schema`);
    return this.registerSchema(topic.name, topic.valueSchema);
  }

  async registerSchema(topicName: string, name: SchemaName): Promise<number> {
    const { id } = await this.registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(loadedSchema(name).schema) },
      { subject: subjectFor(topicName) },
    );
    this.ids.set(topicName, id);
    return id;
  }

  /** Encodes with the id registered for the topic (register it first, usually at start-up). */
  async encode<T>(topicName: string, value: T): Promise<Buffer> {
    let id = this.ids.get(topicName);
    if (id === undefined) {
      id = await this.registry.getLatestSchemaId(subjectFor(topicName));
      this.ids.set(topicName, id);
    }
    return this.registry.encode(id, value);
  }

  /** Decodes any Confluent-framed Avro record; the writer schema is fetched by id and cached. */
  async decode<T>(buf: Buffer): Promise<T> {
    return (await this.registry.decode(buf)) as T;
  }
}
