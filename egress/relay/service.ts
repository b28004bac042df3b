/**
 * `scop run egress`: the egress relay. Six sinks in one process share one Relay: the decided
 * topic (deliver / junk; quarantine and reject are held elsewhere and skipped here), the signed
 * outbound topic, the delivery requests (released from quarantine, DSNs) and the three retry
 * topics, whose jobs wait for their notBefore time before they are tried. A record's offset is
 * committed only after its outcome is durable (delivery log, retry or dead-letter topic):
 * at-least-once, de-duplicated by the log (and the local journal for the last moments before a
 * crash). Start-up: the log is read and the journal recovered, every sink is started, and only
 * then does the relay deliver — a restarted relay does not begin with its first sink while the
 * others (and /healthz) are not up yet.
 */
import { join } from 'node:path';
import { defineSink, TransientError, type RunningSink } from '../../runtime/sink.ts';
import type { RunningService, ServiceContext, ServiceDefinition } from '../../runtime/service.ts';
import { TOPICS, type TopicSpec } from '../../runtime/topics.ts';
import { acquireRawStore } from '../../runtime/raw-ref.ts';
import type { DeliveryJob, MailRecord } from '../../schemas/types.ts';
import { loadRelayConfig } from './config.ts';
import { DeliveryLog } from './delivery-log.ts';
import { DeliveryJournal } from './journal.ts';
import { InDoubtGate, inDoubtMetrics } from './in-doubt.ts';
import { Retransmissions } from './retransmissions.ts';
import { nextHopDelivery, Relay, relayMetrics, type NextHopDelivery, type RelayTopics } from './relay.ts';
import { poolMetrics, SmtpPool } from './smtp-pool.ts';
import { MtaStsPolicies } from './mta-sts.ts';
import { createResolver, type Dns } from './mx.ts';
import { OutboundRouter, outboundMetrics } from './outbound.ts';
import type { SmtpSend } from './transport.ts';
import { UndeliverableMessage } from './wire.ts';

export const RELAY_VERSION = '1.0.0';

export const defaultRelayTopics = (): RelayTopics => ({
  decided: TOPICS.inboundDecided.name,
  requests: TOPICS.deliveryRequests.name,
  retries: [TOPICS.deliveryRetry1.name, TOPICS.deliveryRetry2.name, TOPICS.deliveryRetry3.name],
  dead: TOPICS.deliveryDead.name,
  log: TOPICS.deliveryLog.name,
  alerts: TOPICS.alerts.name,
  outbound: TOPICS.outboundSigned.name,
});

export interface RelayOverrides {
  topics?: RelayTopics;
  /** Group id prefix (tests): groups are `<prefix>`, `<prefix>-requests`, `<prefix>-retry-N`. */
  groupPrefix?: string;
  /** Replaces the delivery to the next hop (tests that count attempts). */
  nextHop?: NextHopDelivery;
  /** Replaces the outbound SMTP session (tests). */
  outboundSend?: SmtpSend;
  /** Replaces the outbound resolver (tests). */
  dns?: Dns;
}

export interface RunningRelay extends RunningService {
  relay: Relay;
  deliveryLog: DeliveryLog;
  pool: SmtpPool;
  inDoubt: { nextHop: InDoubtGate; mx: InDoubtGate };
}

/** Delivery trouble is retried by the sink; a message that must not be sent (UndeliverableMessage) is dead-lettered. */
const asTransient = (e: unknown) => (e instanceof TransientError || e instanceof UndeliverableMessage ? e : new TransientError((e as Error).message));

export async function startRelay(ctx: ServiceContext, o: RelayOverrides = {}): Promise<RunningRelay> {
  const cfg = loadRelayConfig(ctx.env, ctx.dataDir);
  const topics = o.topics ?? defaultRelayTopics();
  const log = ctx.log.child({ component: 'egress' });
  const metrics = relayMetrics(ctx.metrics);
  // Two producers: the delivery log's group commits never queue behind a retry hand-off or a DSN.
  const producer = ctx.kafka.producer();
  const logProducer = ctx.kafka.producer();
  await producer.connect();
  await logProducer.connect();
  const journal = cfg.journalDir ? new DeliveryJournal({ dir: join(cfg.journalDir, topics.log), log, onError: () => metrics.journal.inc({ event: 'error' }) }) : undefined;
  // What was delivered lately, by content, from every relay's log entries (retransmissions.ts).
  const retransmissions = new Retransmissions(cfg.retransmissionWindowMs);
  const deliveryLog = new DeliveryLog({ kafka: ctx.kafka, codec: ctx.codec, producer: logProducer, topic: topics.log, log, journal, health: ctx.health, metrics: ctx.metrics,
    onDelivered: (s) => { if (s.contentKey) retransmissions.delivered(s.contentKey, s.recipient, s.recordId, s.at); }, onBatch: (n) => metrics.logBatch.observe(n), onRecovered: (n) => metrics.journal.inc({ event: 'recovered' }, n), onInDoubt: (n) => metrics.journal.inc({ event: 'in-doubt' }, n) });
  await deliveryLog.start();
  const doubtMetrics = inDoubtMetrics(ctx.metrics);
  const inDoubt = {
    nextHop: new InDoubtGate({ max: cfg.maxInDoubt.nextHop, journal, metrics: doubtMetrics, route: 'next-hop' }),
    mx: new InDoubtGate({ max: cfg.maxInDoubt.mx, journal, metrics: doubtMetrics, route: 'mx' }),
  };
  const pool = new SmtpPool({ ...cfg.sessions, metrics: poolMetrics(ctx.metrics) });
  const dns = o.dns ?? createResolver({ servers: cfg.outbound.dnsServers, timeoutMs: cfg.outbound.dnsTimeoutMs });
  const sts = new MtaStsPolicies({ dns, urlTemplate: cfg.outbound.policyUrlTemplate, ca: cfg.outbound.extraCa, timeoutMs: Math.min(cfg.timeoutMs, 15000), log });
  const outbound = new OutboundRouter({ cfg: { ...cfg.outbound, hostname: cfg.hostname, timeoutMs: cfg.timeoutMs }, dns, sts, metrics: outboundMetrics(ctx.metrics), send: o.outboundSend ?? pool.send, inDoubt: inDoubt.mx });
  // Decided and signed records refer to the raw message (runtime/raw-ref.ts): one store per process fetches them.
  const raws = acquireRawStore(ctx.kafka, ctx.codec);
  const relay = new Relay(cfg, { codec: ctx.codec, producer, log, deliveryLog, metrics, topics, outbound, nextHop: o.nextHop ?? nextHopDelivery(cfg, pool, inDoubt.nextHop), raws: raws.store, retransmissions });
  await relay.registerSchemas();
  log.info({ nextHop: cfg.nextHop.url, retryDelaysMs: cfg.retryDelaysMs, maxAttempts: cfg.maxAttempts, concurrency: cfg.concurrency, sessions: cfg.sessions, maxInDoubt: cfg.maxInDoubt, journal: journal ? cfg.journalDir : 'off', outbound: topics.outbound ?? null, dnsServers: cfg.outbound.dnsServers ?? 'system', mxPort: cfg.outbound.mxPort, mtaSts: cfg.outbound.mtaSts }, 'egress relay starting');

  const group = o.groupPrefix ?? 'scop-egress';
  const drain = () => relay.stopping.abort();
  const sinks: RunningSink<unknown>[] = [];
  const decided = defineSink<undefined, MailRecord>({
    name: 'egress', version: RELAY_VERSION, description: 'delivers decided mail', input: { ...TOPICS.inboundDecided, name: topics.decided }, defaultMetricsPort: 9490,
    maxInFlight: Math.max(64, cfg.concurrency * 4), recordId: (r) => r.envelope.id, drain, holdMs: () => cfg.timeoutMs, mailPath: true,
    async handle(record, c) {
      const action = record.decision?.action ?? 'deliver';
      if (action === 'quarantine' || action === 'reject') {
        relay.metrics.skipped.inc({ reason: 'held' });
        return;
      }
      try {
        await relay.run({ record, recipients: record.envelope.rcptTo, attempt: 0, notBefore: record.envelope.receivedAt, lastError: null, origin: 'inbound', junk: action === 'junk' }, c.log);
      } catch (e) { throw asTransient(e); }
    },
  });
  const dlq = topics.deadLetters ? { deadLetters: topics.deadLetters } : {};
  // holdMs: a job waits for its notBefore time (the retry delay) before it is tried; that is not a stall.
  const jobSink = (name: string, topic: string, spec: TopicSpec, maxInFlight: number, delayMs: number) => defineSink<undefined, DeliveryJob>({
    name, version: RELAY_VERSION, description: `delivers jobs from ${topic}`, input: { ...spec, name: topic }, defaultMetricsPort: 9490,
    maxInFlight, recordId: (j) => j.record.envelope.id, drain, holdMs: () => delayMs + cfg.timeoutMs, mailPath: delayMs === 0,
    async handle(job, c) {
      try {
        await relay.waitUntil(job.notBefore);
        await relay.run(job, c.log);
      } catch (e) { throw asTransient(e); }
    },
  });
  // Signed submissions: delivered to each recipient domain's MX (the job's origin selects MX routing).
  const signed = defineSink<undefined, MailRecord>({
    name: 'egress-outbound', version: RELAY_VERSION, description: 'delivers signed outbound mail to the recipient domains\' MX hosts', input: { ...TOPICS.outboundSigned, name: topics.outbound ?? TOPICS.outboundSigned.name }, defaultMetricsPort: 9490,
    maxInFlight: Math.max(64, cfg.concurrency * 4), recordId: (r) => r.envelope.id, drain, holdMs: () => cfg.timeoutMs, mailPath: true,
    async handle(record, c) {
      try {
        await relay.run({ record, recipients: record.envelope.rcptTo, attempt: 0, notBefore: record.envelope.receivedAt, lastError: null, origin: 'outbound', junk: false }, c.log);
      } catch (e) { throw asTransient(e); }
    },
  });
  const starting: Promise<RunningSink<unknown>>[] = [
    decided.run(ctx, { groupId: group, input: topics.decided, ...dlq, sessionTimeoutMs: cfg.groupSessionMs }) as Promise<RunningSink<unknown>>,
    jobSink('egress-requests', topics.requests, TOPICS.deliveryRequests, Math.max(64, cfg.concurrency * 4), 0).run(ctx, { groupId: `${group}-requests`, input: topics.requests, ...dlq, sessionTimeoutMs: cfg.groupSessionMs }) as Promise<RunningSink<unknown>>,
    // Jobs on one retry topic come in notBefore order (same delay), so waiting in order is fair; up to 10000 wait at once.
    ...topics.retries.map((topic, i) => jobSink(`egress-retry-${i + 1}`, topic, TOPICS.deliveryRetry1, 10000, cfg.retryDelaysMs[i] ?? cfg.retryDelaysMs.at(-1) ?? 0)
      .run(ctx, { groupId: `${group}-retry-${i + 1}`, input: topic, ...dlq, sessionTimeoutMs: cfg.groupSessionMs }) as Promise<RunningSink<unknown>>),
    ...(topics.outbound ? [signed.run(ctx, { groupId: `${group}-outbound`, input: topics.outbound, ...dlq, sessionTimeoutMs: cfg.groupSessionMs }) as Promise<RunningSink<unknown>>] : []),
  ];
  // All at once (each joins its own group); if one cannot start, the others are stopped again.
  const started = await Promise.allSettled(starting);
  for (const r of started) if (r.status === 'fulfilled') sinks.push(r.value);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    relay.stopping.abort();
    for (const s of sinks) await s.stop().catch(() => {});
    pool.close();
    await deliveryLog.stop().catch(() => {});
    await producer.disconnect().catch(() => {});
    await logProducer.disconnect().catch(() => {});
    throw (failed as PromiseRejectedResult).reason;
  }
  // Every sink runs: deliveries may start.
  relay.open();
  log.info({ sinks: sinks.length }, 'egress relay delivering');
  return {
    relay, deliveryLog, pool, inDoubt,
    endpoints: {},
    async stop() {
      relay.stopping.abort();
      for (const s of sinks.reverse()) await s.stop();
      pool.close();
      await deliveryLog.stop();
      await producer.disconnect();
      await logProducer.disconnect();
      await raws.release();
    },
  };
}

export const egressService: ServiceDefinition = {
  name: 'egress',
  description: 'egress relay: delivers decided mail to the next hop (SMTP/LMTP) or the local Maildir, and signed outbound mail to the recipients\' MX hosts (MTA-STS, DSN), with retries and a delivery log',
  metricsPortEnv: 'EGRESS_METRICS_PORT',
  defaultMetricsPort: 9490,
  start: (ctx) => startRelay(ctx),
};
