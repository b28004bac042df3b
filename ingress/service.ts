/** `scop run ingress` / `scop start`: the SMTP ingress as a scop service. */
import type { ServiceDefinition } from '../runtime/service.ts';
import { loadIngressConfig } from './config.ts';
import { startIngress } from './ingress.ts';

export const ingressService: ServiceDefinition = {
  name: 'ingress',
  description: 'SMTP ingress: MX and submission listeners that hand each accepted message to Kafka before answering 250',
  metricsPortEnv: 'INGRESS_METRICS_PORT',
  defaultMetricsPort: 9464,
  async start(ctx) {
    // Config first: a wrong INGRESS_* value fails before anything connects.
    const config = loadIngressConfig(ctx.env, ctx.dataDir);
    const running = await startIngress({ kafka: ctx.kafka, kafkaSettings: ctx.kafkaSettings, codec: ctx.codec, log: ctx.log, metrics: ctx.metrics }, config);
    return { endpoints: running.endpoints, notes: running.notes, stop: running.stop };
  },
};
