/**
 * Operator actions shared by the `scop` command line and the web console (console/): writes to the
 * pipeline's topics with a short-lived idempotent producer, acks from every in-sync replica.
 */
import type { KafkaClient } from '../kafka.ts';

export interface OutMessage { key: string | Buffer | null; value: Buffer | null; headers?: Record<string, string | Buffer> }

export async function sendAll(kafka: KafkaClient, topic: string, messages: OutMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}
