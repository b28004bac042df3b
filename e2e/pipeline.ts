/**
 * The whole inbound pipeline in one process on unique topics (so it shares a broker with other
 * tests and with a running `npm start` without crossing them): ingress → mime → auth → spam →
 * firewall → decision → egress relay. Used by the end-to-end test and bench/e2e.ts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { freePort } from '../infra/ports.ts';
import { loadIngressConfig } from '../ingress/config.ts';
import { startIngress, type RunningIngress } from '../ingress/ingress.ts';
import { createKafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';
import type { RunningService, ServiceContext } from '../runtime/service.ts';
import { testKafka, testRegistry, uniqueName } from '../runtime/testing.ts';
import { applyTopics, TOPICS, type TopicKey, type TopicSpec } from '../runtime/topics.ts';
import { mimeService } from '../processors/mime/service.ts';
import { authService } from '../processors/auth/service.ts';
import { spamService } from '../processors/spam/service.ts';
import { startFirewall, type RunningFirewall } from '../processors/firewall/service.ts';
import { decisionService } from '../processors/decision/service.ts';
import { startRelay, type RunningRelay } from '../egress/relay/service.ts';

const USED: TopicKey[] = ['inboundRaw', 'outboundRaw', 'inboundParsed', 'inboundAuthenticated', 'dmarcEvents', 'inboundScored', 'inboundScreened', 'inboundDecided', 'quarantine',
  'firewallEvents', 'firewallReputation', 'blocklist', 'alerts', 'deadLetters', 'spamModel', 'deliveryRequests', 'deliveryRetry1', 'deliveryRetry2', 'deliveryRetry3', 'deliveryDead', 'deliveryLog'];

export type PipelineTopics = Record<(typeof USED)[number], string>;

export interface Pipeline {
  topics: PipelineTopics;
  mxPort: number;
  ingress: RunningIngress;
  relay: RunningRelay;
  firewall: RunningFirewall;
  /** A context for reading topics from the test. */
  svc: ServiceContext;
  stop(): Promise<void>;
}

function context(name: string, env: NodeJS.ProcessEnv, dataDir: string): ServiceContext {
  const kafkaSettings = testKafka(`e2e-${name}`);
  const registry = testRegistry();
  return { kafka: createKafkaClient(kafkaSettings), kafkaSettings, registry, codec: new RecordCodec(registry), log: loggerFor(`e2e-${name}`), metrics: new Registry(), env, dataDir };
}

export async function startPipeline(opts: { name: string; env: Record<string, string>; dataDir: string; partitions?: number }): Promise<Pipeline> {
  mkdirSync(opts.dataDir, { recursive: true });
  const topics = Object.fromEntries(USED.map((k) => [k, uniqueName(`${opts.name}-${TOPICS[k].name}`)])) as PipelineTopics;
  const env: NodeJS.ProcessEnv = { ...process.env, SPAM_MODEL_TOPIC: topics.spamModel, ...opts.env };
  const svc = context(`${opts.name}-main`, env, opts.dataDir);
  const admin = svc.kafka.admin();
  await admin.connect();
  try {
    const p = opts.partitions ?? 3;
    await applyTopics(admin, USED.map((k): TopicSpec => ({ ...TOPICS[k], name: topics[k], partitions: TOPICS[k].partitions === 1 ? 1 : p })));
    // Leaders of new partitions may take a moment: wait until every topic answers an offsets request.
    for (const t of Object.values(topics)) {
      for (let i = 0; ; i++) {
        try { await admin.fetchTopicOffsets(t); break; } catch (e) { if (i > 40) throw e; await new Promise((r) => setTimeout(r, 250)); }
      }
    }
  } finally {
    await admin.disconnect();
  }
  const running: RunningService[] = [];
  const group = (n: string) => uniqueName(`${opts.name}-${n}`);
  const dlq = topics.deadLetters;
  try {
    const relay = await startRelay(context('egress', env, opts.dataDir), {
      topics: { decided: topics.inboundDecided, requests: topics.deliveryRequests, retries: [topics.deliveryRetry1, topics.deliveryRetry2, topics.deliveryRetry3], dead: topics.deliveryDead, log: topics.deliveryLog, alerts: topics.alerts },
      groupPrefix: group('egress'),
    });
    running.push(relay);
    running.push(await decisionService.run(context('decision', env, opts.dataDir), { input: topics.inboundScreened, output: topics.inboundDecided, deadLetters: dlq, sideOutputs: { quarantine: topics.quarantine }, groupId: group('decision') }));
    const firewall = await startFirewall(context('firewall', env, opts.dataDir), {
      reputationTopic: topics.firewallReputation,
      screen: { input: topics.inboundScored, output: topics.inboundScreened, deadLetters: dlq, sideOutputs: { events: topics.firewallEvents }, groupId: group('firewall') },
      reputation: { input: topics.firewallEvents, output: topics.firewallReputation, deadLetters: dlq, sideOutputs: { blocks: topics.blocklist, alerts: topics.alerts }, groupId: group('firewall-rep') },
    });
    running.push(firewall);
    running.push(await spamService.run(context('spam', env, opts.dataDir), { input: topics.inboundAuthenticated, output: topics.inboundScored, deadLetters: dlq, groupId: group('spam') }));
    running.push(await authService.run(context('auth', env, opts.dataDir), { input: topics.inboundParsed, output: topics.inboundAuthenticated, deadLetters: dlq, sideOutputs: { dmarcEvents: topics.dmarcEvents }, groupId: group('auth') }));
    running.push(await mimeService.run(context('mime', env, opts.dataDir), { input: topics.inboundRaw, output: topics.inboundParsed, deadLetters: dlq, groupId: group('mime') }));
    const mxPort = await freePort();
    const ictx = context('ingress', env, opts.dataDir);
    const config = loadIngressConfig({ INGRESS_HOSTNAME: 'mx.e2e.scop.test', INGRESS_MX_PORT: String(mxPort), INGRESS_SUBMISSION_PORT: String(await freePort()), INGRESS_REVERSE_DNS: 'false', ...opts.env }, join(opts.dataDir, 'ingress'));
    const ingress = await startIngress({ kafka: ictx.kafka, kafkaSettings: ictx.kafkaSettings, codec: ictx.codec, log: ictx.log, metrics: ictx.metrics }, config, { inbound: topics.inboundRaw, outbound: topics.outboundRaw, blocklist: topics.blocklist });
    running.push({ endpoints: {}, stop: () => ingress.stop() });
    return {
      topics, mxPort, ingress, relay, firewall, svc,
      async stop() {
        for (const r of running.reverse()) await r.stop().catch(() => {});
      },
    };
  } catch (e) {
    for (const r of running.reverse()) await r.stop().catch(() => {});
    throw e;
  }
}
