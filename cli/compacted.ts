/** Reads a (compacted) topic from its start to its current end: the latest value per key, tombstones removed. */
import { randomBytes } from 'node:crypto';
import type { Admin, KafkaClient } from '../runtime/kafka.ts';
import { createKafkaClient, kafkaSettingsFromEnv, probeBrokers } from '../runtime/kafka.ts';
import { probeRegistry, RecordCodec, registrySettingsFromEnv } from '../runtime/registry.ts';

export async function readLatest(kafka: KafkaClient, topic: string, timeoutMs = 30000): Promise<Map<string, Buffer>> {
  const admin = kafka.admin();
  await admin.connect();
  let targets: Map<number, bigint>;
  try {
    targets = await endOffsets(admin, topic);
  } finally {
    await admin.disconnect();
  }
  const latest = new Map<string, Buffer>();
  if (targets.size === 0) return latest;
  const position = new Map<number, bigint>();
  const done = () => [...targets].every(([p, high]) => (position.get(p) ?? -1n) >= high);
  const consumer = kafka.consumer({ groupId: `scop-cli-${randomBytes(6).toString('hex')}`, maxWaitTimeMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((ok) => { finish = ok; });
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const next = BigInt(e.payload.lastOffset) + 1n;
      if (next > (position.get(e.payload.partition) ?? -1n)) position.set(e.payload.partition, next);
      if (done()) finish();
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        const key = message.key?.toString('utf8') ?? '';
        if (message.value && message.value.length > 0) latest.set(key, message.value);
        else latest.delete(key);
        position.set(partition, BigInt(message.offset) + 1n);
        if (done()) finish();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise<never>((_, fail) => { timer = setTimeout(() => fail(new Error(`could not read ${topic} to its end within ${timeoutMs} ms`)), timeoutMs); })]);
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return latest;
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

/** fetchTopicOffsets right after a topic was created can meet a leader not elected yet: retry briefly. */
async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  for (let i = 0; ; i++) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
