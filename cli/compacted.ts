/** Reads a (compacted) topic from its start to its current end: the latest value per key, tombstones removed. */
import type { KafkaClient } from '../runtime/kafka.ts';
import { readCompactedTopic } from '../runtime/compacted-topic.ts';
import { loggerFor } from '../runtime/log.ts';
import { createKafkaClient, kafkaSettingsFromEnv, probeBrokers } from '../runtime/kafka.ts';
import { probeRegistry, RecordCodec, registrySettingsFromEnv } from '../runtime/registry.ts';

export async function readLatest(kafka: KafkaClient, topic: string, timeoutMs = 30000): Promise<Map<string, Buffer>> {
  return readCompactedTopic(kafka, topic, loggerFor('cli'), timeoutMs);
}

/** Kafka client and codec from KAFKA_BROKERS / SCHEMA_REGISTRY_URL, checked first (a clear error when unset or down). */
export async function cliClients(): Promise<{ kafka: KafkaClient; codec: RecordCodec }> {
  const settings = kafkaSettingsFromEnv();
  await probeBrokers(settings);
  const registry = registrySettingsFromEnv();
  await probeRegistry(registry);
  return { kafka: createKafkaClient({ ...settings, clientId: 'scop-cli' }), codec: new RecordCodec(registry) };
}

export const operator = () => process.env.SCOP_OPERATOR ?? process.env.USER ?? 'operator';
