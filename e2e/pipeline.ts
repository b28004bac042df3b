/**
 * The whole inbound pipeline in one process on unique topics (so it shares a broker with other
 * tests and with a running `npm start` without crossing them): ingress → mime → auth → spam →
 * firewall → decision → egress relay. Used by the end-to-end test and bench/e2e.ts. Its services,
 * their order and their topics come from the topology (runtime/topology.ts), as `scop start`'s do:
 * `inbound: 'fused'` runs mime → decision as one `inbound` service (cli/inbound.ts), as
 * `scop start` does by default; `separate` runs each stage as its own service over the intermediate
 * topics; `mime+auth,spam+firewall+decision` fuses groups (SCOP_INBOUND's values).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { freePort } from '../infra/ports.ts';
import { loadIngressConfig } from '../ingress/config.ts';
import { startIngress, type RunningIngress } from '../ingress/ingress.ts';
import { createKafkaClient, kafkaSettingsFromEnv } from '../runtime/kafka.ts';
import { HealthRegistry } from '../runtime/health.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec, registrySettingsFromEnv } from '../runtime/registry.ts';
import type { RunningService, ServiceContext, SymbolsContext } from '../runtime/service.ts';
import { uniqueName } from '../runtime/testing.ts';
import { applyTopics, TOPICS, type TopicKey, type TopicSpec } from '../runtime/topics.ts';
import { mimeService } from '../processors/mime/service.ts';
import { authService } from '../processors/auth/service.ts';
import { spamService } from '../processors/spam/service.ts';
import { startFirewall, type RunningFirewall } from '../processors/firewall/service.ts';
import { decisionService } from '../processors/decision/service.ts';
import { startRelay, type RunningRelay } from '../egress/relay/service.ts';
import { dkimSignService } from '../processors/dkim-sign/service.ts';
import { startFused } from '../cli/inbound.ts';
import { chainSlice, fusedUnit, INBOUND_CHAIN, node, runArgument, startUnits, topicKeysOf } from '../runtime/topology.ts';
import { loadSubmissionMacKey, submissionMacKeyFile } from '../runtime/submission-mac.ts';
import { SYMBOL_CATALOG } from '../cli/services.ts';

/** The topology's services the harness runs (dkim-sign only with `outbound`). */
const HARNESS = ['ingress', ...INBOUND_CHAIN.members, 'egress', 'dkim-sign'];
/** Every topic they read or write: created under unique names. */
export const PIPELINE_TOPIC_KEYS: readonly TopicKey[] = topicKeysOf(HARNESS);

/**
 * Verdicts that never stop a message, for runs that count what reaches the next hop (bench/e2e.ts,
 * the chaos run): a policy file (written into `dir`) under which every message is delivered (at most to
 * the junk folder: no quarantine or reject by score, the forced rules off; the verdicts are still
 * computed), no prefix blocked by the firewall, no ingress rate limit. Returns the environment to add.
 */
export function deliverEverythingEnv(dir: string): Record<string, string> {
  const file = join(dir, 'deliver-all-policy.yaml');
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, [
    'actions: { quarantine: off, reject: off }',
    'force:',
    '  - { name: virus, enabled: false }',
    '  - { name: dmarc-reject, enabled: false }',
    '  - { name: bad-net, enabled: false }',
    '',
  ].join('\n'));
  return { SCOP_POLICY_FILE: file, FIREWALL_BLOCK_SCORE: '1000000000', INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: '10000000', INGRESS_MAX_SESSIONS_PER_PREFIX: '1000' };
}

/** The harness's topic names by key (only PIPELINE_TOPIC_KEYS are created). */
export type PipelineTopics = Record<TopicKey, string>;

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

/** A service context from `env` (not the process environment: the bench may have started its own stack). */
function context(name: string, env: NodeJS.ProcessEnv, dataDir: string): SymbolsContext {
  const kafkaSettings = { ...kafkaSettingsFromEnv(env), clientId: `e2e-${name}` };
  const registry = registrySettingsFromEnv(env);
  return { kafka: createKafkaClient(kafkaSettings), kafkaSettings, registry, codec: new RecordCodec(registry), log: loggerFor(`e2e-${name}`), metrics: new Registry(), env, dataDir, health: new HealthRegistry(), symbols: SYMBOL_CATALOG };
}

/**
 * opts.outbound: also start the DKIM signing stage (mail.outbound.raw → signed → egress by MX).
 * opts.inbound: how the inbound chain runs, as SCOP_INBOUND says it (default: SCOP_E2E_INBOUND, or
 * `fused` when SCOP_E2E_FUSED=1, else `separate`); opts.fused: true is `fused`, false `separate`.
 */
export async function startPipeline(opts: { name: string; env: Record<string, string>; dataDir: string; partitions?: number; outbound?: boolean; fused?: boolean; inbound?: string }): Promise<Pipeline> {
  mkdirSync(opts.dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // The ingress (its own data folder here) and the signer share one submission MAC key, as under `scop start`.
  if (!env.SCOP_SUBMISSION_MAC_KEY_FILE) {
    loadSubmissionMacKey({ dataDir: opts.dataDir, create: true });
    env.SCOP_SUBMISSION_MAC_KEY_FILE = submissionMacKeyFile(undefined, opts.dataDir);
  }
  const svc = context(`${opts.name}-main`, env, opts.dataDir);
  const topics = await createPipelineTopics(svc, opts.name, opts.partitions);
  const running: RunningService[] = [];
  const groupPrefix = uniqueName(opts.name);
  try {
    const started: Record<string, RunningService> = {};
    const inbound = opts.inbound ?? (opts.fused === undefined ? env.SCOP_E2E_INBOUND || (env.SCOP_E2E_FUSED === '1' ? 'fused' : 'separate') : opts.fused ? 'fused' : 'separate');
    for (const name of harnessServices({ inbound, outbound: opts.outbound })) {
      const r = await startOne(name, context(name, env, opts.dataDir), topics, groupPrefix);
      running.push(r);
      started[name] = r;
    }
    const ingress = (started.ingress as RunningService & { ingress: RunningIngress }).ingress;
    return {
      topics, mxPort: Number(started.ingress!.endpoints.smtp!.split(':').pop()), ingress,
      relay: started.egress as RunningRelay, firewall: Object.values(started).find((r) => 'table' in r && (r as RunningFirewall).table) as RunningFirewall, svc,
      async stop() {
        for (const r of [...running].reverse()) await r.stop().catch(() => {});
      },
    };
  } catch (e) {
    for (const r of [...running].reverse()) await r.stop().catch(() => {});
    throw e;
  }
}

/**
 * The harness's services for a deployment, as `scop run` arguments, downstream first (the reverse
 * of `scop start`'s order) so nothing waits on a consumer that is not there yet; stopped in reverse.
 * One instance of each.
 */
export function harnessServices(o: { inbound?: string; outbound?: boolean } = {}): string[] {
  const run = new Set(HARNESS.filter((n) => o.outbound || n !== 'dkim-sign'));
  return startUnits({ SCOP_INBOUND: o.inbound ?? 'fused', SCOP_FUSED_INSTANCES: '1' })
    .filter((u) => (u.members ?? [u.name]).every((m) => run.has(m)))
    .map(runArgument)
    .reverse();
}

/** Starts one service of the pipeline on the given topics (in this process; pipeline-child.ts runs it in its own). */
export async function startOne(name: string, ctx: SymbolsContext, topics: PipelineTopics, groupPrefix: string): Promise<RunningService> {
  const group = (n: string) => `${groupPrefix}-${n}`;
  const dlq = topics.deadLetters;
  switch (name) {
    case 'egress':
      return startRelay(ctx, {
        topics: { decided: topics.inboundDecided, requests: topics.deliveryRequests, retries: [topics.deliveryRetry1, topics.deliveryRetry2, topics.deliveryRetry3], dead: topics.deliveryDead, log: topics.deliveryLog, alerts: topics.alerts, outbound: topics.outboundSigned, deadLetters: dlq },
        groupPrefix: group('egress'),
      });
    case 'dkim-sign':
      return dkimSignService.run(ctx, { input: topics.outboundRaw, output: topics.outboundSigned, deadLetters: dlq, groupId: group('dkim-sign') });
    case 'decision':
      return decisionService.run(ctx, { input: topics.inboundScreened, output: topics.inboundDecided, deadLetters: dlq, sideOutputs: { quarantine: topics.quarantine }, groupId: group('decision') });
    case 'firewall':
      return startFirewall(ctx, {
        reputationTopic: topics.firewallReputation,
        screen: { input: topics.inboundScored, output: topics.inboundScreened, deadLetters: dlq, sideOutputs: { events: topics.firewallEvents }, groupId: group('firewall') },
        reputation: { input: topics.firewallEvents, output: topics.firewallReputation, deadLetters: dlq, sideOutputs: { blocks: topics.blocklist, alerts: topics.alerts }, groupId: group('firewall-rep') },
      });
    case 'spam':
      return spamService.run({ ...ctx, env: { ...ctx.env, SPAM_MODEL_TOPIC: topics.spamModel } }, { input: topics.inboundAuthenticated, output: topics.inboundScored, deadLetters: dlq, groupId: group('spam') });
    case 'auth':
      return authService.run(ctx, { input: topics.inboundParsed, output: topics.inboundAuthenticated, deadLetters: dlq, sideOutputs: { dmarcEvents: topics.dmarcEvents }, groupId: group('auth') });
    case 'mime':
      return mimeService.run(ctx, { input: topics.inboundRaw, output: topics.inboundParsed, deadLetters: dlq, groupId: group('mime') });
    case 'ingress': {
      const config = loadIngressConfig({ INGRESS_HOSTNAME: 'mx.e2e.scop.test', INGRESS_MX_PORT: String(await freePort()), INGRESS_SUBMISSION_PORT: String(await freePort()), INGRESS_REVERSE_DNS: 'false', ...ctx.env }, join(ctx.dataDir, 'ingress'));
      const ingress = await startIngress({ kafka: ctx.kafka, kafkaSettings: ctx.kafkaSettings, codec: ctx.codec, log: ctx.log, metrics: ctx.metrics }, config, { inbound: topics.inboundRaw, outbound: topics.outboundRaw, blocklist: topics.blocklist, refusals: topics.smtpRefusals, greylist: topics.greylist });
      return { endpoints: { smtp: `127.0.0.1:${config.mx.port}` }, stop: () => ingress.stop(), ingress } as RunningService & { ingress: RunningIngress };
    }
  }
  // A fused unit: `inbound` (the whole chain) or members joined by + (mime+auth), on its topology node's topics.
  const members = name === INBOUND_CHAIN.name ? INBOUND_CHAIN.members : chainSlice(INBOUND_CHAIN, name.split('+'));
  const unit = fusedUnit(INBOUND_CHAIN, members);
  return startFused({ ...ctx, env: { ...ctx.env, SPAM_MODEL_TOPIC: topics.spamModel } }, members, {
    chain: { input: topics[unit.input!], output: topics[unit.output!], deadLetters: dlq, groupId: group(unit.name) },
    dmarcEvents: topics.dmarcEvents, firewallEvents: topics.firewallEvents, quarantine: topics.quarantine, reputationTopic: topics.firewallReputation,
    reputation: { input: topics.firewallEvents, output: topics.firewallReputation, deadLetters: dlq, sideOutputs: { blocks: topics.blocklist, alerts: topics.alerts }, groupId: group('firewall-rep') },
    outputs: Object.fromEntries(members.map((m) => [m, topics[node(m).output!]])),
  });
}

/** Creates the pipeline's topics under unique names (3 partitions each, 1 where the real one has 1). */
export async function createPipelineTopics(svc: ServiceContext, name: string, partitions = 3): Promise<PipelineTopics> {
  const topics = Object.fromEntries((Object.keys(TOPICS) as TopicKey[]).map((k) => [k, uniqueName(`${name}-${TOPICS[k].name}`)])) as PipelineTopics;
  const admin = svc.kafka.admin();
  await admin.connect();
  try {
    await applyTopics(admin, PIPELINE_TOPIC_KEYS.map((k): TopicSpec => ({ ...TOPICS[k], name: topics[k], partitions: TOPICS[k].partitions === 1 ? 1 : partitions })));
    // Leaders of new partitions may take a moment: wait until every topic answers an offsets request.
    for (const t of PIPELINE_TOPIC_KEYS.map((k) => topics[k])) {
      for (let i = 0; ; i++) {
        try { await admin.fetchTopicOffsets(t); break; } catch (e) { if (i > 40) throw e; await new Promise((r) => setTimeout(r, 250)); }
      }
    }
  } finally {
    await admin.disconnect();
  }
  return topics;
}

export { context as pipelineContext };
