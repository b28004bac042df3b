/**
 * Schema registry access: registers the schemas of schemas/ under `<topic>-value` and encodes /
 * decodes records in the Confluent wire format (magic byte + schema id + Avro). Works with any
 * Confluent-compatible registry (Confluent, Karapace, Apicurio's ccompat API, Redpanda, scop's own).
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
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
    // Apicurio answers two concurrent first registrations of one subject with "A rule named
    // 'COMPATIBILITY' already exists" for the loser; asked again, the subject exists and it works.
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(loadedSchema(name).schema) },
          { subject: subjectFor(topicName) },
        );
        this.ids.set(topicName, id);
        return id;
      } catch (e) {
        if (attempt >= 5 || !/already exists/i.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
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

  /**
   * Encodes locally with schema `name` under a known registry id (from register()): no registry
   * round trip, and a value that does not fit the schema throws RecordFormatError (a bad record,
   * not a transient failure).
   */
  encodeWith(id: number, name: SchemaName, value: unknown): Buffer {
    let payload: Buffer;
    try {
      payload = loadedSchema(name).type.toBuffer(value);
    } catch (e) {
      const paths: string[] = [];
      loadedSchema(name).type.isValid(value, { errorHook: (path) => { if (paths.length < 5) paths.push(path.join('.') || '(root)'); } });
      throw new RecordFormatError(`value does not fit ${name}${paths.length ? ` at ${paths.join(', ')}` : ''}: ${(e as Error).message}`);
    }
    const header = Buffer.alloc(5);
    header.writeInt32BE(id, 1);
    return Buffer.concat([header, payload]);
  }

  private readonly resolvers = new Map<string, avro.Resolver | null>();

  /**
   * Decodes with the CURRENT schema `reader` as the reader schema, so a record written with an
   * older (compatible) version comes out in today's shape (new nullable fields read as their
   * defaults). The resolver per (reader, writer id) is cached: the registry library's own
   * readerSchema option re-parses the reader schema on every call, too slow per record.
   * Throws RecordFormatError (not Confluent framing, Avro that does not decode or resolve, or
   * decodes to a value its schema refuses) and
   * UnknownSchemaError (the registry has no such id) for bad records; other errors (registry
   * unreachable) are transient.
   */
  async decodeAs<T>(buf: Buffer, reader: SchemaName): Promise<T> {
    if (!Buffer.isBuffer(buf) || buf.length < 5 || buf[0] !== 0) {
      throw new RecordFormatError(`not a Confluent-framed record (${buf?.length ?? 0} bytes, magic byte ${buf?.[0] ?? 'none'})`);
    }
    const id = buf.readInt32BE(1);
    const readerType = loadedSchema(reader).type;
    const cacheKey = `${reader}:${id}`;
    let resolver = this.resolvers.get(cacheKey);
    if (resolver === undefined) {
      let writer: avro.Type;
      try {
        writer = (await this.registry.getSchema(id)) as unknown as avro.Type;
      } catch (e) {
        const status = (e as { status?: number }).status;
        if (typeof status === 'number' && status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429) {
          throw new UnknownSchemaError(id, (e as Error).message);
        }
        throw e;
      }
      try {
        resolver = writer.equals(readerType) ? null : readerType.createResolver(writer);
      } catch (e) {
        throw new RecordFormatError(`schema id ${id} cannot be read as ${reader}: ${(e as Error).message}`);
      }
      this.resolvers.set(cacheKey, resolver);
    }
    let value: T;
    try {
      value = readerType.fromBuffer(buf.subarray(5), resolver ?? undefined) as T;
    } catch (e) {
      throw new RecordFormatError(`Avro payload does not decode as ${reader} (schema id ${id}): ${(e as Error).message}`);
    }
    // avsc reads an int from a varint of any length, so a value can come out that its own schema
    // refuses (an "int" of 1e200); it would only fail later, when a stage encodes its output.
    if (!readerType.isValid(value)) {
      const paths: string[] = [];
      readerType.isValid(value, { errorHook: (path) => { if (paths.length < 5) paths.push(path.join('.') || '(root)'); } });
      throw new RecordFormatError(`Avro payload decodes to a value outside ${reader} (schema id ${id}) at ${paths.join(', ')}`);
    }
    return value;
  }
}

/** The bytes are not a record of the expected schema: retrying cannot help (dead-letter it). */
export class RecordFormatError extends Error {
  override name = 'RecordFormatError';
}

/** The record names a schema id the registry does not know: retrying cannot help (dead-letter it). */
export class UnknownSchemaError extends Error {
  override name = 'UnknownSchemaError';
  constructor(readonly schemaId: number, detail: string) {
    super(`schema id ${schemaId} is not in the registry (${detail})`);
  }
}
