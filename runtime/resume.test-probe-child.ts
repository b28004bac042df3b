/**
 * One group member for runtime/resume.test-probe.ts: consumes RESUME_TOPIC in group RESUME_GROUP with
 * the KAFKA_* settings of its environment (KAFKA_CLIENT, KAFKA_SESSION_TIMEOUT_MS,
 * SCOP_INSTANCE_ID), commits as it goes, and prints one JSON line per record it consumes.
 */
import { createKafkaClient, kafkaSettingsFromEnv } from './kafka.ts';

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
say({ started: Date.now() });
const client = createKafkaClient(kafkaSettingsFromEnv());
const consumer = client.consumer({ groupId: process.env.RESUME_GROUP!, maxWaitTimeMs: 200 });
await consumer.run({
  topics: [process.env.RESUME_TOPIC!],
  fromBeginning: true,
  eachBatch: async (b) => {
    for (const r of b.records) say({ consumed: r.value?.toString(), at: Date.now() });
    await consumer.commitOffsets([{ topic: b.topic, partition: b.partition, offset: b.nextOffset }]);
  },
  onAssigned: (partitions) => say({ assigned: partitions.length, at: Date.now() }),
  onCrash: (e) => { say({ crash: e.message }); process.exit(1); },
});
const stop = () => void consumer.stop().then(() => process.exit(0), () => process.exit(1));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
