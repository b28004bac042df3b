/**
 * The broker a benchmark runs against: KAFKA_BROKERS when set, else a local one of its own in
 * .data/bench-<name> (fresh each run), stopped and removed by stop().
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLocalKafka } from '../../infra/kafka/broker.ts';
import { freePort } from '../../infra/ports.ts';

export async function benchKafka(name: string): Promise<{ brokers: string[]; stop(): Promise<void> }> {
  const given = process.env.KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean);
  if (given?.length) return { brokers: given, stop: async () => {} };
  const dir = join(resolve(import.meta.dirname, '..', '..'), '.data', `bench-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.error(`starting a local Kafka in .data/bench-${name} …`);
  const broker = await startLocalKafka({ dataDir: dir, port: await freePort(), controllerPort: await freePort() });
  return {
    brokers: [broker.bootstrap],
    async stop() {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
