/**
 * A sink: a stage that consumes a topic and acts on the outside world (posts to Matrix, delivers
 * mail) instead of producing an output topic. defineSink turns a `handle` function into a
 * ServiceDefinition and does the rest, like defineStage does for transforms:
 *
 *   consume as group `scop-<name>` (read_committed) → decode with the CURRENT schema → hand each
 *   record, in offset order, to handle() → commit a partition's offset only up to the first record
 *   whose handle() promise has not resolved yet.
 *
 * handle() may resolve long after later records were handed over (a digest waits for its window),
 * so commits follow completion, not consumption; at most maxInFlight records wait at once, beyond
 * that the consumer pauses (heartbeating) — a slow or unreachable target stops consumption, it
 * never skips records. Nothing is committed for a record that is not done, so a crash replays
 * exactly the unfinished records: at-least-once towards the target, which must de-duplicate (the
 * Matrix notifier does so with transaction ids). Bad records go to the dead-letter topic with the
 * reason, as in stage.ts, and share its metrics (stage-metrics.ts).
 */
import { performance } from 'node:perf_hooks';
import type { SchemaName } from '../schemas/index.ts';
import type { Consumer, KafkaMessage, MessageHeaders, Producer } from './kafka.ts';
import type { Logger } from './log.ts';
import { RecordFormatError, UnknownSchemaError } from './registry.ts';
import type { RunningService, ServiceContext, ServiceDefinition } from './service.ts';
import { TransientError } from './stage.ts';
import { encodeDeadLetter, type DeadLetterReason } from './dead-letter.ts';
import { stageMetrics, type StageMetrics } from './stage-metrics.ts';
import { TOPICS, type TopicSpec } from './topics.ts';

export { TransientError };

export interface SinkContext<S> {
  /** Logger with this record's recordId. */
  log: Logger;
  recordId: string | null;
  state: S;
  source: { topic: string; partition: number; offset: string; headers: MessageHeaders };
}

export interface SinkDefinition<S, In> {
  name: string;
  /** Semantic version of the sink logic; written into dead letters. */
  version: string;
  description: string;
  input: TopicSpec;
  /** Port for /metrics and /healthz under `scop start`; env `<NAME>_METRICS_PORT` overrides it. */
  defaultMetricsPort: number;
  /** Once at start: read config (env), open connections. The result is ctx.state. */
  init?(svc: ServiceContext): Promise<S> | S;
  /** At stop, before waiting for records in flight: finish held work early (e.g. post open digests). */
  drain?(state: S): Promise<void> | void;
  /** At stop, after the last commit. */
  close?(state: S): Promise<void> | void;
  /**
   * Takes one record (called in offset order, not awaited before the next one). Resolve when the
   * record's effect is durable: only then is its offset committed. Reject to dead-letter it;
   * reject with TransientError to have it handed over again after a backoff.
   */
  handle(record: In, ctx: SinkContext<S>): Promise<void>;
  /** Records handed over but not done; beyond this the consumer waits (default 1000). */
  maxInFlight?: number;
  /** How long stop() waits for records in flight before leaving them to the next start (default 10 s). */
  stopTimeoutMs?: number;
  recordId?(record: In): string | null;
}

/** Topic / group overrides, for tests (unique names) and replays; same shape as StageOverrides. */
export interface SinkOverrides {
  input?: string;
  deadLetters?: string;
  groupId?: string;
  onFatal?(error: unknown): void;
}

export interface RunningSink<S> extends RunningService {
  groupId: string;
  topics: { input: string; deadLetters: string };
  metrics: StageMetrics;
  state: S;
}

export interface SinkService<S, In> extends ServiceDefinition {
  sink: SinkDefinition<S, In>;
  run(ctx: ServiceContext, overrides?: SinkOverrides): Promise<RunningSink<S>>;
}

export function defineSink<S, In>(def: SinkDefinition<S, In>): SinkService<S, In> {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`sink name "${def.name}" must be lower-case letters, digits and dashes`);
  if (!def.input.valueSchema) throw new Error(`sink ${def.name}: the input topic needs a value schema`);
  return {
    name: def.name,
    description: def.description,
    metricsPortEnv: `${def.name.toUpperCase().replace(/-/g, '_')}_METRICS_PORT`,
    defaultMetricsPort: def.defaultMetricsPort,
    sink: def,
    start: (ctx) => runSink(def, ctx),
    run: (ctx, overrides) => runSink(def, ctx, overrides),
  };
}

/** Offsets handed over on one partition, in order, and which of them are done. */
class PartitionProgress {
  /** offset → done; Map keeps insertion (= offset) order. */
  readonly pending = new Map<bigint, boolean>();
  /** The next offset not handed over yet. */
  next = -1n;
  committed = -1n;

  /** The offset to commit: the first record not done, or the next one to hand over. */
  commitable(): bigint {
    for (const [offset, done] of this.pending) {
      if (!done) return offset;
      this.pending.delete(offset);
    }
    return this.next;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function runSink<S, In>(def: SinkDefinition<S, In>, svc: ServiceContext, overrides: SinkOverrides = {}): Promise<RunningSink<S>> {
  const log = svc.log.child({ sink: def.name });
  const stage = def.name;
  const groupId = overrides.groupId ?? `scop-${def.name}`;
  const topics = { input: overrides.input ?? def.input.name, deadLetters: overrides.deadLetters ?? TOPICS.deadLetters.name };
  const inputSchema = def.input.valueSchema as SchemaName;
  const maxInFlight = def.maxInFlight ?? 1000;
  const stopTimeoutMs = def.stopTimeoutMs ?? 10000;
  const recordIdOf = def.recordId ?? (() => null);
  const metrics = stageMetrics(svc.metrics, stage, 'sink');

  const deadLetterId = await svc.codec.registerSchema(topics.deadLetters, 'DeadLetter');
  const state = (def.init ? await def.init(svc) : undefined) as S;

  const producer: Producer = svc.kafka.producer(); // idempotent already (kafka.ts)
  await producer.connect();
  const consumer: Consumer = svc.kafka.consumer({ groupId });
  const progress = new Map<number, PartitionProgress>();
  let inFlight = 0;
  let stopping = false;
  let wake: (() => void) | undefined;
  const progressed = () => { wake?.(); wake = undefined; };
  const waitForProgress = (ms: number) => new Promise<void>((ok) => { wake = ok; setTimeout(ok, ms); });

  // Commits are coalesced: one at a time, the latest position wins.
  let committing = false;
  let commitAgain = false;
  const commit = async (): Promise<void> => {
    if (committing) { commitAgain = true; return; }
    committing = true;
    try {
      do {
        commitAgain = false;
        const offsets: { topic: string; partition: number; offset: string }[] = [];
        for (const [partition, p] of progress) {
          const at = p.commitable();
          if (at > p.committed) offsets.push({ topic: topics.input, partition, offset: at.toString() });
        }
        if (offsets.length === 0) break;
        try {
          await consumer.commitOffsets(offsets);
          for (const o of offsets) { const p = progress.get(o.partition); if (p) p.committed = BigInt(o.offset); }
        } catch (e) {
          // A rebalance in progress, the coordinator moving: the next completion (or the timer) retries.
          log.warn({ err: (e as Error).message }, 'offset commit failed; will retry');
          break;
        }
      } while (commitAgain);
    } finally {
      committing = false;
    }
  };
  const commitTimer = setInterval(() => void commit(), 5000);

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assigned = new Set((e.payload.memberAssignment[topics.input] ?? []) as number[]);
    // Partitions now owned elsewhere: their records' completions no longer decide our commits.
    for (const p of [...progress.keys()]) if (!assigned.has(p)) progress.delete(p);
    log.info({ groupId, assignment: e.payload.memberAssignment }, 'joined consumer group');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
    if (!e.payload.restart) (overrides.onFatal ?? ((err) => log.fatal({ err }, 'sink cannot continue')))(e.payload.error);
  });

  const deadLetter = async (m: KafkaMessage, partition: number, reason: DeadLetterReason, error: unknown, recordId: string | null): Promise<void> => {
    const { value, message } = encodeDeadLetter(svc.codec, deadLetterId, { stage, stageVersion: def.version, topic: topics.input, partition, message: m }, reason, error, recordId);
    log.warn({ recordId, reason, err: message, partition, offset: m.offset }, 'record sent to dead-letter topic');
    for (let attempt = 0; ; attempt++) {
      try {
        await producer.send({ topic: topics.deadLetters, acks: -1, messages: [{ key: stage, value }] });
        metrics.deadLetters.inc({ stage, reason });
        return;
      } catch (e) {
        if (stopping) throw e;
        log.warn({ err: (e as Error).message, attempt }, 'dead-letter write failed; retrying');
        await sleep(Math.min(30000, 500 * 2 ** attempt));
      }
    }
  };

  /** Runs handle() to completion (retrying TransientError), dead-lettering a record it rejects. */
  const complete = async (record: In, m: KafkaMessage, partition: number, recordId: string | null): Promise<void> => {
    const ctx: SinkContext<S> = {
      log: log.child({ recordId }), recordId, state,
      source: { topic: topics.input, partition, offset: m.offset, headers: m.headers ?? {} },
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await def.handle(record, ctx);
        metrics.recordsOut.inc({ stage });
        return;
      } catch (e) {
        if (e instanceof TransientError && !stopping) {
          ctx.log.warn({ err: e.message, attempt }, 'transient failure; handing the record over again after a pause');
          await sleep(Math.min(30000, 500 * 2 ** attempt));
          continue;
        }
        if (e instanceof TransientError) throw e; // stopping: leave it uncommitted for the next start
        await deadLetter(m, partition, 'process-error', e, recordId);
        return;
      }
    }
  };

  /** Decodes with retries for transient registry failures; null when the record went to dead letters. */
  const decode = async (m: KafkaMessage, partition: number, heartbeat: () => Promise<void>): Promise<{ record: In } | { dead: Promise<void> } | null> => {
    if (!m.value || m.value.length === 0) return { dead: deadLetter(m, partition, 'empty-record', new Error('record has no value'), null) };
    for (let attempt = 0; ; attempt++) {
      try {
        return { record: await svc.codec.decodeAs<In>(m.value, inputSchema) };
      } catch (e) {
        if (e instanceof RecordFormatError) return { dead: deadLetter(m, partition, 'decode-error', e, null) };
        if (e instanceof UnknownSchemaError) return { dead: deadLetter(m, partition, 'unknown-schema', e, null) };
        if (stopping) return null;
        log.warn({ err: (e as Error).message, attempt }, 'decoding failed (registry unreachable?); retrying');
        await sleep(Math.min(10000, 500 * 2 ** attempt));
        await heartbeat();
      }
    }
  };

  await consumer.connect();
  await consumer.subscribe({ topic: topics.input, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { topic, partition } = batch;
      let p = progress.get(partition);
      if (!p) progress.set(partition, (p = new PartitionProgress()));
      for (const m of batch.messages) {
        if (stopping || !isRunning() || isStale()) return;
        const offset = BigInt(m.offset);
        // After a consumer restart the fetch starts at the committed offset: skip what we hold already.
        if (offset < p.next) { resolveOffset(m.offset); continue; }
        while (inFlight >= maxInFlight) {
          await waitForProgress(1000);
          await heartbeat();
          if (stopping || !isRunning() || isStale()) return;
        }
        const t0 = performance.now();
        const decoded = await decode(m, partition, heartbeat);
        if (decoded === null) return;
        if (p.committed < 0n) p.committed = offset; // first record seen: nothing before it is ours to commit
        p.pending.set(offset, false);
        p.next = offset + 1n;
        inFlight++;
        metrics.recordsIn.inc({ stage });
        const recordId = 'record' in decoded ? recordIdOf(decoded.record) : null;
        const work = 'record' in decoded ? complete(decoded.record, m, partition, recordId) : decoded.dead;
        const current = p;
        work.then(
          () => {
            current.pending.set(offset, true);
            metrics.processingSeconds.observe({ stage }, (performance.now() - t0) / 1000);
            void commit();
          },
          (e: unknown) => log.warn({ err: (e as Error).message, recordId, offset: m.offset }, 'record left unfinished; it is replayed on the next start'),
        ).finally(() => { inFlight--; progressed(); });
        resolveOffset(m.offset);
        metrics.consumerLag.set({ stage, topic, partition: String(partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - offset - 1n)));
        await heartbeat();
      }
    },
  });
  log.info({ groupId, ...topics }, `sink ${stage} consuming`);

  return {
    groupId,
    topics,
    metrics,
    state,
    endpoints: {},
    async stop() {
      if (stopping) return;
      stopping = true;
      consumer.pause([{ topic: topics.input }]);
      if (def.drain) await def.drain(state);
      const deadline = Date.now() + stopTimeoutMs;
      while (inFlight > 0 && Date.now() < deadline) await waitForProgress(Math.max(1, Math.min(250, deadline - Date.now())));
      if (inFlight > 0) log.warn({ inFlight }, 'stopping with records not done; they are replayed on the next start');
      clearInterval(commitTimer);
      while (committing) await sleep(20);
      await commit();
      await consumer.disconnect();
      await producer.disconnect();
      if (def.close) await def.close(state);
      log.info(`sink ${stage} stopped`);
    },
  };
}
