/**
 * The history view's writer: sinks (runtime/sink.ts, so they move with the consumer engine) on
 * mail.inbound.decided and mail.outbound.signed (one row per message), mail.delivery.log (one row
 * per recipient outcome) and ops.dead-letters (one row per dead letter), and a follower of the
 * compacted mail.quarantine (held or not: a tombstone means released or deleted). Every write is
 * an upsert keyed like its topic, so `scop console rebuild` (empty tables, consumer groups deleted)
 * replays the topics into the same rows.
 */
import { followCompactedTopic, type CompactedTopicFollower } from '../runtime/compacted-topic.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { RunningService, ServiceContext } from '../runtime/service.ts';
import { defineSink, type RunningSink } from '../runtime/sink.ts';
import { TOPICS } from '../runtime/topics.ts';
import type { DeadLetter, DeliveryStatus, MailRecord } from '../schemas/types.ts';
import type { HistoryStore } from './store.ts';
import { deliveryRow, summarize } from './summary.ts';

export interface HistoryTopics { decided: string; outbound: string; deliveryLog: string; deadLetters: string; quarantine: string }
export const defaultHistoryTopics = (): HistoryTopics => ({
  decided: TOPICS.inboundDecided.name, outbound: TOPICS.outboundSigned.name, deliveryLog: TOPICS.deliveryLog.name, deadLetters: TOPICS.deadLetters.name, quarantine: TOPICS.quarantine.name,
});

/** The consumer groups the history uses (deleted by a rebuild), for a group prefix (default `scop`). */
export const historyGroups = (prefix = 'scop') => ['history-decided', 'history-outbound', 'history-delivery', 'history-dead-letters'].map((n) => `${prefix}-${n}`);

const VERSION = '1.0.0';
const PORT = 0; // the console service's metrics port is the one served; sinks here are run, never started alone

/** The four sinks, writing to `store`. */
function historySinks(store: HistoryStore) {
  const common = { version: VERSION, defaultMetricsPort: PORT, init: () => store };
  return {
    decided: defineSink<HistoryStore, MailRecord>({
      ...common, name: 'history-decided', description: 'history: one row per inbound message', input: TOPICS.inboundDecided,
      recordId: (r) => r.envelope.id,
      handle: (r, ctx) => ctx.state.upsertMessage(summarize(r, 'inbound')),
    }),
    outbound: defineSink<HistoryStore, MailRecord>({
      ...common, name: 'history-outbound', description: 'history: one row per outbound message', input: TOPICS.outboundSigned,
      recordId: (r) => r.envelope.id,
      handle: (r, ctx) => ctx.state.upsertMessage(summarize(r, 'outbound')),
    }),
    delivery: defineSink<HistoryStore, DeliveryStatus>({
      ...common, name: 'history-delivery', description: 'history: delivery outcomes', input: TOPICS.deliveryLog,
      recordId: (s) => s.recordId,
      handle: (s, ctx) => ctx.state.upsertDelivery(deliveryRow(s)),
    }),
    deadLetters: defineSink<HistoryStore, DeadLetter>({
      ...common, name: 'history-dead-letters', description: 'history: dead letters by stage and reason', input: TOPICS.deadLetters,
      recordId: (d) => d.recordId,
      handle: (d, ctx) => ctx.state.upsertDeadLetter({
        partition: ctx.source.partition, offset: ctx.source.offset, stage: d.stage, reason: d.reason, error: d.error.slice(0, 4000), recordId: d.recordId,
        sourceTopic: d.sourceTopic, sourcePartition: d.sourcePartition, sourceOffset: d.sourceOffset, failedAt: d.failedAt, redrivenAt: null, redrivenBy: null,
      }),
    }),
  };
}

export async function startHistory(svc: ServiceContext, store: HistoryStore, o: { topics?: HistoryTopics; groupPrefix?: string } = {}): Promise<RunningService> {
  const topics = o.topics ?? defaultHistoryTopics();
  const prefix = o.groupPrefix ?? 'scop';
  const ctx: ServiceContext = { ...svc, log: svc.log.child({ component: 'history' }) };
  const sinks: RunningSink<unknown>[] = [];
  let follower: CompactedTopicFollower | undefined;
  const stop = async () => {
    await follower?.stop();
    for (const s of sinks.reverse()) await s.stop();
  };
  try {
    const defs = historySinks(store);
    const overrides = (input: string, name: string) => ({ input, groupId: `${prefix}-${name}`, deadLetters: topics.deadLetters });
    sinks.push(await defs.decided.run(ctx, overrides(topics.decided, 'history-decided')) as RunningSink<unknown>);
    sinks.push(await defs.outbound.run(ctx, overrides(topics.outbound, 'history-outbound')) as RunningSink<unknown>);
    sinks.push(await defs.delivery.run(ctx, overrides(topics.deliveryLog, 'history-delivery')) as RunningSink<unknown>);
    sinks.push(await defs.deadLetters.run(ctx, overrides(topics.deadLetters, 'history-dead-letters')) as RunningSink<unknown>);
    follower = await followCompactedTopic({
      kafka: svc.kafka, topic: topics.quarantine, name: 'console-quarantine', log: ctx.log,
      onRecord: (key, value) => store.setHeld(key, value !== null),
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoints: {}, stop };
}

/**
 * Rebuild by replay: refuses while a history consumer runs, deletes the history's consumer groups
 * and empties the store, so the next start reads every topic from its beginning into it.
 */
export async function rebuildHistory(kafka: KafkaClient, store: HistoryStore, groupPrefix = 'scop'): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const groups = historyGroups(groupPrefix);
    const active = (await admin.describeGroups(groups)).groups.filter((g) => g.members.length > 0).map((g) => g.groupId);
    if (active.length) throw new Error(`the console is running (${active.join(', ')} have members): stop it first`);
    const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    const deleted = groups.filter((g) => existing.has(g));
    if (deleted.length) await admin.deleteGroups(deleted);
    await store.clear();
    return deleted;
  } finally {
    await admin.disconnect();
  }
}
