/**
 * The one way to build a stream stage. A stage file declares its name, version, topics and a
 * `process` function; defineStage turns that into a ServiceDefinition (`scop run <name>`,
 * `scop start`) that does everything else:
 *
 *   consume input as group `scop-<name>` (read_committed) → decode Avro with the CURRENT schema as
 *   reader → process (bounded concurrency) → encode → in ONE Kafka transaction per chunk: produce
 *   outputs + dead letters, sendOffsets, commit.
 *
 * So a crash never loses or duplicates a record downstream (read_committed readers see each
 * output exactly once), and a bad record goes to the dead-letter topic with the reason and its
 * original bytes while the stage keeps going. Fencing: see partition-producers.ts.
 */
import { performance } from 'node:perf_hooks';
import type { SchemaName } from '../schemas/index.ts';
import type { Admin, Consumer, KafkaMessage, MessageHeaders } from './kafka.ts';
import type { Logger } from './log.ts';
import { PartitionProducers } from './partition-producers.ts';
import { encodeDeadLetter, type DeadLetterReason } from './dead-letter.ts';
import { RecordFormatError, UnknownSchemaError } from './registry.ts';
import type { RunningService, ServiceContext, ServiceDefinition } from './service.ts';
import { stageMetrics, type StageMetrics } from './stage-metrics.ts';
import { MAX_RECORD_BYTES, TOPICS, type TopicSpec } from './topics.ts';
import type { MailRecord } from '../schemas/types.ts';

/** Throw this from process() for a failure that a retry may fix (a server down): the batch is retried, nothing is dead-lettered. */
export class TransientError extends Error {
  override name = 'TransientError';
}

export type { DeadLetterReason } from './dead-letter.ts';

export interface StageContext<S> {
  /** Logger with this record's recordId. */
  log: Logger;
  recordId: string | null;
  /** What init() returned. */
  state: S;
  /** Aborted when the record's time (processTimeoutMs) is up; pass it to I/O. */
  signal: AbortSignal;
  source: { topic: string; partition: number; offset: string; headers: MessageHeaders };
  /**
   * Writes an extra record to one of the stage's declared `sideOutputs`, in the same transaction as
   * this record's output (so exactly once, and only if process() returns; a throw discards it).
   */
  emit(output: string, key: string, record: unknown): void;
}

export interface StageDefinition<S = undefined, In = MailRecord, Out = In> {
  name: string;
  /** Semantic version of the stage logic; written into dead letters (and by stages into their section). */
  version: string;
  description: string;
  input: TopicSpec;
  output: TopicSpec;
  /** Further topics process() may write to through ctx.emit(name, …), e.g. events derived from each record. */
  sideOutputs?: Record<string, TopicSpec>;
  /** Port for /metrics and /healthz under `scop start`; env `<NAME>_METRICS_PORT` overrides it. */
  defaultMetricsPort: number;
  /** Once at start: read config (env), open connections. The result is ctx.state. */
  init?(svc: ServiceContext): Promise<S> | S;
  /** At stop, after the last batch. */
  close?(state: S): Promise<void> | void;
  /** The stage's logic: the record with its own section added. Return null to write nothing. Throw to dead-letter it. */
  process(record: In, ctx: StageContext<S>): Promise<Out | null> | Out | null;
  /** Records processed at once within a chunk (default 8); output order follows input order anyway. */
  concurrency?: number;
  /** Records per transaction (default 100). */
  maxRecordsPerTransaction?: number;
  /** Per-record time limit for process(); past it the record is dead-lettered as process-timeout (default 60 s). */
  processTimeoutMs?: number;
  /** Input partitions processed in parallel, each with its own transactional producer (default 3). */
  partitionsConcurrently?: number;
  recordId?(record: In): string | null;
  /** Ingress time (ms) for the end-to-end age metric. */
  receivedAt?(record: Out): number | null;
}

/** Topic / group overrides, for tests (unique names) and replays. */
export interface StageOverrides {
  input?: string;
  output?: string;
  deadLetters?: string;
  /** Side output name → topic. */
  sideOutputs?: Record<string, string>;
  groupId?: string;
  /** Consumer session timeout: how long a dead member holds its partitions (default 30 s). */
  sessionTimeoutMs?: number;
  /** Called when the stage cannot go on (default: log). */
  onFatal?(error: unknown): void;
}

export interface RunningStage extends RunningService {
  groupId: string;
  topics: { input: string; output: string; deadLetters: string };
  metrics: StageMetrics;
}

export interface StageService<S = undefined, In = MailRecord, Out = In> extends ServiceDefinition {
  stage: StageDefinition<S, In, Out>;
  run(ctx: ServiceContext, overrides?: StageOverrides): Promise<RunningStage>;
}

export function defineStage<S = undefined, In = MailRecord, Out = In>(def: StageDefinition<S, In, Out>): StageService<S, In, Out> {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`stage name "${def.name}" must be lower-case letters, digits and dashes`);
  if (!def.input.valueSchema || !def.output.valueSchema) throw new Error(`stage ${def.name}: input and output topics need a value schema`);
  const service: StageService<S, In, Out> = {
    name: def.name,
    description: def.description,
    metricsPortEnv: `${def.name.toUpperCase().replace(/-/g, '_')}_METRICS_PORT`,
    defaultMetricsPort: def.defaultMetricsPort,
    stage: def,
    start: (ctx) => runStage(def, ctx),
    run: (ctx, overrides) => runStage(def, ctx, overrides),
  };
  return service;
}

type Outcome =
  | { kind: 'out'; key: Buffer | string; value: Buffer; headers: MessageHeaders; receivedAt: number | null; recordId: string | null; side: SideRecord[] }
  | { kind: 'dead'; value: Buffer; reason: DeadLetterReason; recordId: string | null }
  | { kind: 'drop'; side: SideRecord[] };

interface SideRecord { topic: string; key: string; value: Buffer }

const defaultRecordId = (r: unknown): string | null => (r as { envelope?: { id?: unknown } })?.envelope?.id as string ?? null;
const defaultReceivedAt = (r: unknown): number | null => {
  const t = (r as { envelope?: { receivedAt?: unknown } })?.envelope?.receivedAt;
  return typeof t === 'number' ? t : null;
};

/** Hand-written rather than p-limit: ten lines, keeps results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

class ProcessTimeoutError extends Error {
  override name = 'ProcessTimeoutError';
}


/** Groups messages into produce calls of at most this many bytes, so no request exceeds the broker's limits. */
const MAX_SEND_BYTES = 16 * 1024 * 1024;

async function runStage<S, In, Out>(def: StageDefinition<S, In, Out>, svc: ServiceContext, overrides: StageOverrides = {}): Promise<RunningStage> {
  const log = svc.log.child({ stage: def.name });
  const groupId = overrides.groupId ?? `scop-${def.name}`;
  const topics = {
    input: overrides.input ?? def.input.name,
    output: overrides.output ?? def.output.name,
    deadLetters: overrides.deadLetters ?? TOPICS.deadLetters.name,
  };
  const inputSchema = def.input.valueSchema as SchemaName;
  const outputSchema = def.output.valueSchema as SchemaName;
  const concurrency = def.concurrency ?? 8;
  const chunkSize = def.maxRecordsPerTransaction ?? 100;
  const timeoutMs = def.processTimeoutMs ?? 60000;
  const recordIdOf = def.recordId ?? defaultRecordId;
  const receivedAtOf = def.receivedAt ?? defaultReceivedAt;
  const stage = def.name;
  const metrics = stageMetrics(svc.metrics, stage);

  // Register first: a schema the registry refuses as incompatible stops the start, loudly.
  const outputId = await svc.codec.registerSchema(topics.output, outputSchema);
  const sides = new Map<string, { topic: string; schema: SchemaName; id: number }>();
  for (const [name, spec] of Object.entries(def.sideOutputs ?? {})) {
    if (!spec.valueSchema) throw new Error(`stage ${def.name}: side output ${name} needs a value schema`);
    const topic = overrides.sideOutputs?.[name] ?? spec.name;
    sides.set(name, { topic, schema: spec.valueSchema, id: await svc.codec.registerSchema(topic, spec.valueSchema) });
  }
  const deadLetterId = await svc.codec.registerSchema(topics.deadLetters, 'DeadLetter');
  const state = (def.init ? await def.init(svc) : undefined) as S;

  const admin: Admin = svc.kafka.admin();
  await admin.connect();
  const producers = new PartitionProducers(svc.kafka, admin, groupId, log);
  const sessionTimeoutMs = overrides.sessionTimeoutMs;
  const consumer: Consumer = svc.kafka.consumer({ groupId, sessionTimeoutMs, heartbeatIntervalMs: sessionTimeoutMs ? Math.max(500, Math.floor(sessionTimeoutMs / 6)) : undefined });
  let stopping = false;
  const inUse = new Set<string>();

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    log.info({ groupId, assignment: e.payload.memberAssignment }, 'joined consumer group');
    void producers.dropAll(inUse);
  });
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
    if (!e.payload.restart) (overrides.onFatal ?? ((err) => log.fatal({ err }, 'stage cannot continue')))(e.payload.error);
  });

  const deadLetter = (m: KafkaMessage, partition: number, reason: DeadLetterReason, error: unknown, recordId: string | null): Outcome => {
    const { value, message } = encodeDeadLetter(svc.codec, deadLetterId, { stage, stageVersion: def.version, topic: topics.input, partition, message: m }, reason, error, recordId);
    log.warn({ recordId, reason, err: message, partition, offset: m.offset }, 'record sent to dead-letter topic');
    return { kind: 'dead', value, reason, recordId };
  };

  const handle = async (m: KafkaMessage, partition: number): Promise<Outcome> => {
    const t0 = performance.now();
    if (!m.value || m.value.length === 0) return deadLetter(m, partition, 'empty-record', new Error('record has no value'), null);
    let record: In;
    try {
      record = await svc.codec.decodeAs<In>(m.value, inputSchema);
    } catch (e) {
      if (e instanceof RecordFormatError) return deadLetter(m, partition, 'decode-error', e, null);
      if (e instanceof UnknownSchemaError) return deadLetter(m, partition, 'unknown-schema', e, null);
      throw e; // registry unreachable: retry the batch
    }
    const recordId = recordIdOf(record);
    const recordLog = log.child({ recordId });
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let out: Out | null;
    const emitted: { side: { topic: string; schema: SchemaName; id: number }; key: string; record: unknown }[] = [];
    try {
      out = await Promise.race([
        Promise.resolve().then(() => def.process(record, {
          log: recordLog, recordId, state, signal: abort.signal,
          source: { topic: topics.input, partition, offset: m.offset, headers: m.headers ?? {} },
          emit: (name, key, rec) => {
            const side = sides.get(name);
            if (!side) throw new Error(`stage ${stage}: no side output named "${name}"`);
            emitted.push({ side, key, record: rec });
          },
        })),
        new Promise<never>((_, fail) => {
          timer = setTimeout(() => { abort.abort(); fail(new ProcessTimeoutError(`process() took longer than ${timeoutMs} ms`)); }, timeoutMs);
        }),
      ]);
    } catch (e) {
      if (e instanceof TransientError) throw e;
      return deadLetter(m, partition, e instanceof ProcessTimeoutError ? 'process-timeout' : 'process-error', e, recordId);
    } finally {
      clearTimeout(timer);
    }
    let side: SideRecord[];
    try {
      side = emitted.map((e) => ({ topic: e.side.topic, key: e.key, value: svc.codec.encodeWith(e.side.id, e.side.schema, e.record) }));
    } catch (e) {
      return deadLetter(m, partition, 'encode-error', e, recordId);
    }
    if (out === null) return { kind: 'drop', side };
    let value: Buffer;
    try {
      value = svc.codec.encodeWith(outputId, outputSchema, out);
    } catch (e) {
      return deadLetter(m, partition, 'encode-error', e, recordId);
    }
    if (value.length > MAX_RECORD_BYTES) {
      return deadLetter(m, partition, 'oversize', new Error(`output record is ${value.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit`), recordId);
    }
    metrics.processingSeconds.observe({ stage }, (performance.now() - t0) / 1000);
    recordLog.debug({ ms: Math.round(performance.now() - t0) }, 'processed');
    return { kind: 'out', key: m.key ?? recordId ?? '', value, headers: m.headers ?? {}, receivedAt: receivedAtOf(out), recordId, side };
  };

  await consumer.connect();
  await consumer.subscribe({ topic: topics.input, fromBeginning: true });
  await consumer.run({
    autoCommit: false, // offsets are committed inside the transactions
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: def.partitionsConcurrently ?? 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { topic, partition } = batch;
      const key = `${topic}:${partition}`;
      inUse.add(key);
      try {
        const tp = await producers.get(topic, partition);
        for (let i = 0; i < batch.messages.length; i += chunkSize) {
          if (stopping || !isRunning() || isStale()) break;
          const chunk = batch.messages.slice(i, i + chunkSize);
          const last = chunk[chunk.length - 1]!;
          const todo = chunk.filter((m) => BigInt(m.offset) >= tp.nextOffset);
          if (todo.length < chunk.length) log.info({ partition, skipped: chunk.length - todo.length, nextOffset: String(tp.nextOffset) }, 'skipping records already committed by an earlier producer');
          if (todo.length > 0) {
            metrics.recordsIn.inc({ stage }, todo.length);
            const outcomes = await mapLimit(todo, concurrency, (m) => handle(m, partition));
            const outputs = outcomes.filter((o): o is Extract<Outcome, { kind: 'out' }> => o.kind === 'out');
            const dead = outcomes.filter((o): o is Extract<Outcome, { kind: 'dead' }> => o.kind === 'dead');
            const nextOffset = BigInt(last.offset) + 1n;
            const txn = await tp.producer.transaction();
            try {
              const sends: { topic: string; messages: { key: Buffer | string; value: Buffer; headers?: MessageHeaders }[] }[] = [];
              let bytes = 0;
              const add = (t: string, msg: { key: Buffer | string; value: Buffer; headers?: MessageHeaders }) => {
                const cur = sends[sends.length - 1];
                if (!cur || cur.topic !== t || bytes + msg.value.length > MAX_SEND_BYTES) {
                  sends.push({ topic: t, messages: [msg] });
                  bytes = msg.value.length;
                } else {
                  cur.messages.push(msg);
                  bytes += msg.value.length;
                }
              };
              for (const o of outputs) add(topics.output, { key: o.key, value: o.value, headers: o.headers });
              for (const o of outcomes) if (o.kind !== 'dead') for (const r of o.side) add(r.topic, { key: r.key, value: r.value });
              for (const d of dead) add(topics.deadLetters, { key: stage, value: d.value });
              for (const s of sends) await txn.send({ topic: s.topic, messages: s.messages, acks: -1 });
              await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: nextOffset.toString() }] }] });
              await txn.commit();
            } catch (e) {
              metrics.transactions.inc({ stage, outcome: 'abort' });
              log.warn({ err: (e as Error).message, partition, transactionalId: tp.transactionalId }, 'transaction failed; aborting, re-initialising the producer and retrying the batch');
              await txn.abort().catch(() => {});
              await producers.drop(topic, partition);
              throw e;
            }
            tp.nextOffset = nextOffset;
            metrics.transactions.inc({ stage, outcome: 'commit' });
            metrics.recordsOut.inc({ stage }, outputs.length);
            for (const d of dead) metrics.deadLetters.inc({ stage, reason: d.reason });
            const now = Date.now();
            for (const o of outputs) if (o.receivedAt !== null) metrics.recordAgeSeconds.observe({ stage }, Math.max(0, now - o.receivedAt) / 1000);
          }
          resolveOffset(last.offset);
          metrics.consumerLag.set({ stage, topic, partition: String(partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n)));
          await heartbeat();
        }
      } finally {
        inUse.delete(key);
      }
    },
  });
  log.info({ groupId, ...topics }, `stage ${stage} consuming`);

  return {
    groupId,
    topics,
    metrics,
    endpoints: {},
    async stop() {
      if (stopping) return;
      stopping = true;
      // disconnect() waits for the batch in flight; eachBatch stops after its current transaction.
      await consumer.disconnect();
      await producers.dropAll();
      await admin.disconnect();
      if (def.close) await def.close(state);
      log.info(`stage ${stage} stopped`);
    },
  };
}
