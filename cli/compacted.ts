/** Reads a (compacted) topic from its start to its current end: the latest value per key, tombstones removed. */
import type { KafkaClient } from '../runtime/kafka.ts';
import { readCompactedTopic } from '../runtime/compacted-topic.ts';
import { loggerFor } from '../runtime/log.ts';
import { createKafkaClient, kafkaSettingsFromEnv, probeBrokers } from '../runtime/kafka.ts';
import { probeRegistry, RecordCodec, registrySettingsFromEnv } from '../runtime/registry.ts';

export async function readLatest(kafka: KafkaClient, topic: string, timeoutMs = 30000): Promise<Map<string, Buffer>> {
  return readCompactedTopic(kafka, topic, loggerFor('cli'), timeoutMs);
}

export interface CliClientsOptions {
  /**
   * The top-level command (`firewall`, `replay`…): the Kafka client id is `<KAFKA_CLIENT_ID>-cli-<command>`
   * (`scop-cli-firewall` by default), as each service appends its name, so broker logs, client-id
   * quotas and ACL audits tell the commands apart from each other and from the services.
   */
  command: string;
  env?: NodeJS.ProcessEnv;
  /** How long each server may take to answer the probe (default 10 s each). */
  probeTimeoutMs?: number;
}

/**
 * Kafka client and codec of a CLI command, from KAFKA_BROKERS / SCHEMA_REGISTRY_URL. One order of
 * errors for every command: both settings are read before either server is asked, so a configuration
 * error naming its key comes first (whatever is down); then the brokers, then the registry are probed,
 * each failing with a ConfigError naming its key.
 */
export async function cliClients(opts: CliClientsOptions): Promise<{ kafka: KafkaClient; codec: RecordCodec }> {
  const settings = kafkaSettingsFromEnv(opts.env);
  const registry = registrySettingsFromEnv(opts.env);
  await probeBrokers(settings, opts.probeTimeoutMs);
  await probeRegistry(registry, opts.probeTimeoutMs);
  return { kafka: createKafkaClient({ ...settings, clientId: `${settings.clientId}-cli-${opts.command}` }), codec: new RecordCodec(registry) };
}

export const operator = () => process.env.SCOP_OPERATOR ?? process.env.USER ?? 'operator';
