/**
 * A local Kafka cluster of several KRaft nodes (each broker + controller, one JVM each) for tests
 * that lose a broker: every node is formatted with one cluster id and the same controller quorum,
 * all start at once (a node is ready only once the quorum has formed). `kill(i)` SIGKILLs node i,
 * as a crashed machine would; `restart(i)` brings it back with its data.
 */
import { join } from 'node:path';
import { freePort } from '../ports.ts';
import { newClusterId, startLocalKafka, type LocalKafka } from './broker.ts';

export interface LocalKafkaCluster {
  /** host:port of every node, for KAFKA_BROKERS. */
  bootstrap: string[];
  nodes: (LocalKafka | undefined)[];
  kill(i: number): Promise<void>;
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalKafkaCluster(o: { dataDir: string; size?: number; host?: string; heap?: string }): Promise<LocalKafkaCluster> {
  const size = o.size ?? 3;
  const host = o.host ?? '127.0.0.1';
  const ports = new Set<number>();
  while (ports.size < 2 * size) ports.add(await freePort(host));
  const [clientPorts, controllerPorts] = [[...ports].slice(0, size), [...ports].slice(size)];
  const clusterId = newClusterId();
  const voters = controllerPorts.map((p, i) => `${i + 1}@${host}:${p}`).join(',');
  const options = (i: number) => ({
    dataDir: join(o.dataDir, `node-${i + 1}`), host, port: clientPorts[i]!, controllerPort: controllerPorts[i]!, heap: o.heap ?? '320m',
    cluster: { nodeId: i + 1, voters, clusterId, size },
  });
  const nodes: (LocalKafka | undefined)[] = [];
  const started = await Promise.allSettled(Array.from({ length: size }, (_, i) => startLocalKafka(options(i))));
  started.forEach((r, i) => { nodes[i] = r.status === 'fulfilled' ? r.value : undefined; });
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n?.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    bootstrap: clientPorts.map((p) => `${host}:${p}`),
    nodes,
    async kill(i) {
      const n = nodes[i];
      if (!n) return;
      process.kill(n.pid, 'SIGKILL');
      await n.stop().catch(() => {}); // reaps the process and its pid file
      nodes[i] = undefined;
    },
    async restart(i) {
      if (nodes[i]) return;
      nodes[i] = await startLocalKafka(options(i));
    },
    async stop() {
      await Promise.all(nodes.map((n) => n?.stop()));
    },
  };
}
