/**
 * Wires state, the Kafka log, the service and the HTTP API into one running registry.
 * Used in-process by tests and `npm start`, and by main.ts as a standalone process.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../runtime/config.ts';
import type { KafkaSettings } from '../../runtime/kafka.ts';
import { accessCheck, isLoopbackHost } from './access.ts';
import { loggerFor } from '../../runtime/log.ts';
import { RegistryError } from './errors.ts';
import { requestHandler, routes } from './http-api.ts';
import { RegistryService } from './registry-service.ts';
import { KafkaSchemaLog } from './schema-log.ts';
import { RegistryState } from './state.ts';

export const DEFAULT_SCHEMAS_TOPIC = '_schemas';

export interface RegistryOptions {
  host: string;
  /** 0 picks a free port; the chosen one is in the returned url. */
  port: number;
  kafka: KafkaSettings;
  /** Defaults to `_schemas`; instances sharing a topic share one registry. */
  topic?: string;
  /** For a newly created topic; defaults to 1. */
  replicationFactor?: number;
  /** Secret required for writes (access.ts); required when `host` is not a loopback address. */
  token?: string;
  /** Host names clients use for this server (besides IP literals and localhost): the Host check. */
  allowedHosts?: readonly string[];
}

export interface RunningRegistry {
  url: string;
  close(): Promise<void>;
}

export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  if (!opts.token && !isLoopbackHost(opts.host)) {
    throw new ConfigError('SCOP_REGISTRY_TOKEN', `the registry would listen on ${opts.host} with its write API (register, delete subjects, change compatibility) open to anyone who reaches it`,
      'set SCOP_REGISTRY_TOKEN to a random secret (clients send it as SCHEMA_REGISTRY_PASSWORD with any SCHEMA_REGISTRY_USERNAME), or listen on 127.0.0.1');
  }
  const topic = opts.topic ?? DEFAULT_SCHEMAS_TOPIC;
  const logger = loggerFor('registry').child({ topic });
  const state = new RegistryState();
  const log = new KafkaSchemaLog({ kafka: opts.kafka, topic, replicationFactor: opts.replicationFactor ?? 1, state, logger });
  try {
    await log.start();
  } catch (e) {
    await log.close();
    throw e;
  }
  const service = new RegistryService(state, log, logger);
  const health = () => {
    if (log.failure) throw new RegistryError(503, 50001, `the _schemas consumer stopped: ${log.failure}`);
    return { status: 'ok', topic, appliedOffset: log.appliedOffset };
  };
  const server = createServer(requestHandler(routes(service, health), logger, accessCheck({ token: opts.token, allowedHosts: opts.allowedHosts })));
  // Plain keep-alive connections from clients would otherwise hold close() open.
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await log.close();
    throw e;
  }
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  logger.info({ url, appliedOffset: log.appliedOffset }, 'schema registry serving');

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await log.close();
      })()),
  };
}
