/**
 * The one consumer engine. Every stage and sink is a composition on it (stage.ts, sink.ts): it
 * consumes a topic as a group (read_committed), decodes each record with the CURRENT schema, hands
 * it to per-record logic, dead-letters what cannot be decoded or processed (reason + original
 * bytes) and keeps going, counts everything (scop_stage_* metrics), survives consumer crashes and
 * reports its health (consumer-supervisor.ts). What differs is the commit strategy:
 *
 *  - transactional (stages): read-process-write. Per chunk of a partition's records, the records
 *    the logic produced, the dead letters and the consumed offset are committed in ONE Kafka
 *    transaction (kafka.ts TransactionalWriter), so read_committed readers see every output
 *    exactly once whatever crashes. The per-record logic is a function of its own (`process`), so
 *    a chain of stages can run on one consumed record and commit once (fusion).
 *  - at-least-once (sinks: deliveries, posts): `handle` is called in offset order but not awaited
 *    before the next record; a partition's offset is committed only up to the first record whose
 *    handle has not finished, so a crash replays exactly the unfinished ones (the target
 *    de-duplicates). At most `maxInFlight` wait at once, then consumption waits (heartbeating).
 */
import { performance } from 'node:perf_hooks';
import type { SchemaName } from '../schemas/index.ts';
import { ConsumerSupervisor } from './consumer-supervisor.ts';
import { commitScheduler, engineDeadlinesFromEnv, engineTuningFromEnv, IDLE_FETCH } from './engine-tuning.ts';
import { encodeDeadLetter, type DeadLetterReason } from './dead-letter.ts';
import type { Batch, GroupConsumer, KafkaMessage, MessageHeaders, OutRecord, Producer, TopicPartition, TransactionalWriter } from './kafka.ts';
import type { Logger } from './log.ts';
import { RecordFormatError, UnknownSchemaError } from './registry.ts';
import type { ServiceContext } from './service.ts';
import { stageMetrics, type StageMetrics } from './stage-metrics.ts';

/** Throw this for a failure that a retry may fix (a server down): the record is tried again after a pause, nothing is dead-lettered. */
export class TransientError extends Error {
  override name = 'TransientError';
}

/** Throw this from per-record logic to dead-letter the record with a specific reason. */
export class RecordRejected extends Error {
  override name = 'RecordRejected';
  constructor(readonly reason: DeadLetterReason, readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

/** Where a record came from. */
export interface SourceRef {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  headers: MessageHeaders;
}

/** What processing one record produced (transactional strategy), ready to write. */
export interface Produced {
  records: OutRecord[];
  /** How many of them count as output (scop_stage_records_out_total); the rest are side outputs. */
  outputs: number;
  /** Ingress time of the record (ms), for scop_stage_record_age_seconds. */
  receivedAt: number | null;
}

export interface TransactionalStrategy<In> {
  kind: 'transactional';
  /** Records per transaction (default 100). */
  maxRecordsPerTransaction?: number;
  /** Records processed at once within a chunk; results keep input order (default 8). */
  concurrency?: number;
  process(record: In, source: SourceRef, recordId: string | null): Promise<Produced>;
}

export interface AtLeastOnceStrategy<In> {
  kind: 'at-least-once';
  /** Records handed over but not done; beyond this consumption waits (default 1000). */
  maxInFlight?: number;
  /** How long stop() waits for records in flight before leaving them to the next start (default 10 s). */
  stopTimeoutMs?: number;
  /** Resolves when the record's effect is durable; rejects to dead-letter it (TransientError: hand it over again after a pause). */
  handle(record: In, source: SourceRef, recordId: string | null): Promise<void>;
  /** At stop, before waiting for records in flight. */
  drain?(): Promise<void> | void;
}

export type CommitStrategy<In> = TransactionalStrategy<In> | AtLeastOnceStrategy<In>;

export interface EngineOptions<In> {
  /** The `stage` label of the metrics, and the dead letters' stage. */
  name: string;
  version: string;
  groupId: string;
  input: string;
  inputSchema: SchemaName;
  deadLetters: string;
  strategy: CommitStrategy<In>;
  recordId?(record: In): string | null;
  sessionTimeoutMs?: number;
  partitionsConcurrently?: number;
  /** On the mail path: fetch with SCOP_FETCH_MIN_BYTES / SCOP_FETCH_MAX_WAIT_MS (runtime/engine-tuning.ts); else IDLE_FETCH. */
  mailPath?: boolean;
  /** /healthz says stalled after this long without progress while records wait (default SCOP_STALL_TIMEOUT_MS or 60 s). */
  stallTimeoutMs?: number;
  /**
   * Transactional strategy: a chunk's processing gives up after this long (default: never; stages
   * pass their worst legitimate chunk, runtime/stage.ts), and its commit after
   * SCOP_COMMIT_DEADLINE_MS (120 s): the consumer is re-created and the partition read again from
   * its committed offset. Without them a call that never returns (seen as fused instances stuck
   * after a broker restart) held its partitions for good, keepAlive's heartbeats keeping the member alive.
   */
  chunkDeadlineMs?: number;
  commitDeadlineMs?: number;
  /**
   * Further `stage` labels for the consumer lag and the transactions (a fused chain: its members'
   * names, so each member's dashboard shows the lag and commits of the process it runs in).
   */
  metricAliases?: string[];
  log: Logger;
}

export interface RunningEngine {
  groupId: string;
  metrics: StageMetrics;
  stop(): Promise<void>;
}

const tpKey = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`;
const backoff = (attempt: number, max: number) => Math.min(max, 500 * 2 ** attempt);

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

type Decoded<In> = { record: In } | { reason: DeadLetterReason; error: unknown };

type Outcome =
  | { kind: 'ok'; produced: Produced }
  | { kind: 'dead'; reason: DeadLetterReason; value: Buffer };

export async function startEngine<In>(svc: ServiceContext, o: EngineOptions<In>): Promise<RunningEngine> {
  const { log, name: stage } = o;
  const tuning = engineTuningFromEnv(svc.env);
  const metrics = stageMetrics(svc.metrics, stage, o.strategy.kind === 'transactional' ? 'stage' : 'sink');
  const deadLetterId = await svc.codec.registerSchema(o.deadLetters, 'DeadLetter');
  const recordIdOf = o.recordId ?? (() => null);
  const labels = [stage, ...(o.metricAliases ?? [])];
  const setLag = (tp: TopicPartition, lag: number) => { for (const l of labels) metrics.consumerLag.set({ stage: l, topic: tp.topic, partition: String(tp.partition) }, Math.max(0, lag)); };
  const countTransaction = (outcome: 'commit' | 'abort') => { for (const l of labels) metrics.transactions.inc({ stage: l, outcome }); };
  let stopping = false;
  const stopped = new AbortController();
  /** A pause that ends early when the engine stops. */
  const sleep = (ms: number) => new Promise<void>((ok) => {
    const t = setTimeout(ok, ms);
    stopped.signal.addEventListener('abort', () => { clearTimeout(t); ok(); }, { once: true });
  });

  const letter = (m: KafkaMessage, partition: number, reason: DeadLetterReason, error: unknown, recordId: string | null): Buffer => {
    const { value, message } = encodeDeadLetter(svc.codec, deadLetterId, { stage, stageVersion: o.version, topic: o.input, partition, message: m }, reason, error, recordId);
    log.warn({ recordId, reason, err: message, partition, offset: m.offset }, 'record sent to dead-letter topic');
    return value;
  };

  /** Decodes with the current schema; a registry that cannot be reached is transient. */
  const decode = async (m: KafkaMessage): Promise<Decoded<In>> => {
    if (!m.value || m.value.length === 0) return { reason: 'empty-record', error: new Error('record has no value') };
    try {
      return { record: await svc.codec.decodeAs<In>(m.value, o.inputSchema) };
    } catch (e) {
      if (e instanceof RecordFormatError) return { reason: 'decode-error', error: e };
      if (e instanceof UnknownSchemaError) return { reason: 'unknown-schema', error: e };
      throw new TransientError(`decoding failed (registry unreachable?): ${(e as Error).message}`);
    }
  };

  const source = (m: KafkaMessage, b: TopicPartition): SourceRef => ({ topic: o.input, partition: b.partition, offset: m.offset, key: m.key, headers: m.headers });

  const supervisor = new ConsumerSupervisor({
    name: stage, kafka: svc.kafka, log, metrics: svc.metrics, health: svc.health,
    consumer: { groupId: o.groupId, sessionTimeoutMs: o.sessionTimeoutMs, ...(o.mailPath ? { minBytes: tuning.fetchMinBytes, maxWaitTimeMs: tuning.fetchMaxWaitMs } : IDLE_FETCH) },
    topics: [o.input], fromBeginning: true, partitionsConcurrently: o.partitionsConcurrently,
    stallTimeoutMs: o.stallTimeoutMs ?? engineDeadlinesFromEnv(svc.env).stallTimeoutMs,
    onLag: setLag,
    setup: (c) => setup(c),
    eachBatch: (b) => eachBatch(b),
    onAssigned: (tps) => onAssigned(tps),
  });

  let setup: (c: GroupConsumer) => void;
  let eachBatch: (b: Batch) => Promise<void>;
  let onAssigned: (tps: TopicPartition[]) => void;
  /** Before the consumer stops (finish what is in flight), and after (close what the strategy opened). */
  let stopStrategy: () => Promise<void> = async () => {};
  let closeStrategy: () => Promise<void> = async () => {};

  if (o.strategy.kind === 'transactional') {
    const strat = o.strategy;
    const chunkSize = strat.maxRecordsPerTransaction ?? 100;
    const concurrency = strat.concurrency ?? 8;
    const processDeadlineMs = o.chunkDeadlineMs ?? Infinity;
    const commitDeadlineMs = o.commitDeadlineMs ?? engineDeadlinesFromEnv(svc.env).commitDeadlineMs;
    let writer: TransactionalWriter;
    // Offset of the next record per partition after our own last commit: records below it that a
    // re-read delivers again are done (cleared when the partition moves or a commit fails).
    const positions = new Map<string, bigint>();
    setup = (c) => { positions.clear(); writer = c.transactions({ log }); };
    onAssigned = (tps) => {
      const keep = new Set(tps.map(tpKey));
      for (const k of [...positions.keys()]) if (!keep.has(k)) positions.delete(k);
      log.info({ groupId: o.groupId, partitions: tps.map((t) => t.partition) }, 'joined consumer group');
    };

    const one = async (m: KafkaMessage, b: Batch): Promise<Outcome> => {
      const t0 = performance.now();
      const d = await decode(m);
      if ('reason' in d) return { kind: 'dead', reason: d.reason, value: letter(m, b.partition, d.reason, d.error, null) };
      const recordId = recordIdOf(d.record);
      try {
        const produced = await strat.process(d.record, source(m, b), recordId);
        metrics.processingSeconds.observe({ stage }, (performance.now() - t0) / 1000);
        return { kind: 'ok', produced };
      } catch (e) {
        if (e instanceof TransientError) throw e;
        const reason = e instanceof RecordRejected ? e.reason : 'process-error';
        return { kind: 'dead', reason, value: letter(m, b.partition, reason, e instanceof RecordRejected ? e.original : e, recordId) };
      }
    };

    eachBatch = async (b) => {
      const k = tpKey(b);
      const done = positions.get(k);
      const records = done === undefined ? b.records : b.records.filter((m) => BigInt(m.offset) >= done);
      for (let i = 0; i < records.length; i += chunkSize) {
        if (stopping || b.isStale()) return;
        const chunk = records.slice(i, i + chunkSize);
        const lastChunk = i + chunkSize >= records.length;
        const next = lastChunk ? b.nextOffset : BigInt(chunk[chunk.length - 1]!.offset) + 1n;
        metrics.recordsIn.inc({ stage }, chunk.length);
        let outcomes: Outcome[];
        for (let attempt = 0; ; attempt++) {
          try {
            outcomes = await keepAlive(b, processDeadlineMs, 'processing', () => mapLimit(chunk, concurrency, (m) => one(m, b)));
            break;
          } catch (e) {
            if (e instanceof ChunkDeadlineError) log.error({ err: e.message, partition: b.partition }, 'a chunk did not finish in time; re-creating the consumer');
            if (!(e instanceof TransientError) || stopping || b.isStale()) throw e;
            log.warn({ err: e.message, partition: b.partition, attempt }, 'transient failure; retrying the chunk after a pause');
            await sleep(backoff(attempt, 30000));
            await b.heartbeat();
          }
        }
        // Outputs, side outputs and dead letters grouped by topic, each in input order.
        const byTopic = new Map<string, OutRecord[]>();
        const push = (r: OutRecord) => { let l = byTopic.get(r.topic); if (!l) byTopic.set(r.topic, (l = [])); l.push(r); };
        for (const oc of outcomes) {
          if (oc.kind === 'ok') for (const r of oc.produced.records) push(r);
          else push({ topic: o.deadLetters, key: stage, value: oc.value });
        }
        if (stopping || b.isStale()) return;
        try {
          await keepAlive(b, commitDeadlineMs, 'commit', () => writer.commit(b, [...byTopic.values()].flat(), next));
        } catch (e) {
          positions.delete(k);
          countTransaction('abort');
          log.warn({ err: (e as Error).message, partition: b.partition }, 'transaction failed; the partition is read again from its committed offset');
          throw e;
        }
        positions.set(k, next);
        supervisor.progress(b, next);
        countTransaction('commit');
        const now = Date.now();
        for (const oc of outcomes) {
          if (oc.kind === 'dead') { metrics.deadLetters.inc({ stage, reason: oc.reason }); continue; }
          metrics.recordsOut.inc({ stage }, oc.produced.outputs);
          if (oc.produced.receivedAt !== null && oc.produced.outputs > 0) metrics.recordAgeSeconds.observe({ stage }, Math.max(0, now - oc.produced.receivedAt) / 1000);
        }
        if (b.highWatermark !== null) setLag(b, Number(b.highWatermark - next));
        await b.heartbeat();
      }
      // Only markers or records already done: the position still moves.
      if (!b.isStale()) supervisor.progress(b, b.nextOffset);
    };
  } else {
    const strat = o.strategy;
    const maxInFlight = strat.maxInFlight ?? 1000;
    const stopTimeoutMs = strat.stopTimeoutMs ?? 10000;
    const producer: Producer = svc.kafka.producer();
    await producer.connect();
    let progress = new Map<string, PartitionProgress>();
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const progressed = () => { wake?.(); wake = undefined; };
    const waitForProgress = (ms: number) => new Promise<void>((ok) => { wake = ok; setTimeout(ok, ms); });

    setup = () => { progress = new Map(); };
    onAssigned = (tps) => {
      const keep = new Set(tps.map(tpKey));
      // Partitions now owned elsewhere: their records' completions no longer decide our commits.
      for (const k of [...progress.keys()]) if (!keep.has(k)) progress.delete(k);
      log.info({ groupId: o.groupId, partitions: tps.map((t) => t.partition) }, 'joined consumer group');
    };

    // Commits are coalesced: one at a time, the latest position wins.
    let committing = false;
    let commitAgain = false;
    const commit = async (): Promise<void> => {
      if (committing) { commitAgain = true; return; }
      committing = true;
      try {
        do {
          commitAgain = false;
          const consumer = supervisor.consumer;
          if (!consumer) break;
          const offsets: (TopicPartition & { offset: bigint })[] = [];
          const parts = progress;
          for (const p of parts.values()) {
            const at = p.commitable();
            if (at > p.committed) offsets.push({ ...p.tp, offset: at });
          }
          if (offsets.length === 0) break;
          try {
            await consumer.commitOffsets(offsets);
            for (const off of offsets) {
              const p = parts.get(tpKey(off));
              if (p && off.offset > p.committed) p.committed = off.offset;
              supervisor.progress(off, off.offset);
            }
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
    commitTimer.unref();
    // Finished records ask for a commit; within SCOP_SINK_COMMIT_INTERVAL_MS they share one
    // OffsetCommit (a crash replays at most that much more; sinks de-duplicate).
    const commitSoon = commitScheduler(tuning.sinkCommitIntervalMs, () => void commit());
    const requestCommit = () => commitSoon.request();

    const deadLetter = async (m: KafkaMessage, partition: number, reason: DeadLetterReason, error: unknown, recordId: string | null): Promise<void> => {
      const value = letter(m, partition, reason, error, recordId);
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.send({ topic: o.deadLetters, acks: -1, messages: [{ key: stage, value }] });
          metrics.deadLetters.inc({ stage, reason });
          return;
        } catch (e) {
          if (stopping) throw e;
          log.warn({ err: (e as Error).message, attempt }, 'dead-letter write failed; retrying');
          await sleep(backoff(attempt, 30000));
        }
      }
    };

    /** Runs handle() to completion (retrying TransientError), dead-lettering a record it rejects. */
    const complete = async (record: In, m: KafkaMessage, b: TopicPartition, recordId: string | null): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          await strat.handle(record, source(m, b), recordId);
          metrics.recordsOut.inc({ stage });
          return;
        } catch (e) {
          if (e instanceof TransientError && !stopping) {
            log.warn({ recordId, err: e.message, attempt }, 'transient failure; handing the record over again after a pause');
            await sleep(backoff(attempt, 30000));
            continue;
          }
          if (e instanceof TransientError) throw e; // stopping: leave it uncommitted for the next start
          const reason = e instanceof RecordRejected ? e.reason : 'process-error';
          await deadLetter(m, b.partition, reason, e instanceof RecordRejected ? e.original : e, recordId);
          return;
        }
      }
    };

    eachBatch = async (b) => {
      const k = tpKey(b);
      const parts = progress;
      let p = parts.get(k);
      if (!p) parts.set(k, (p = new PartitionProgress(b)));
      if (b.records.length === 0) {
        // Markers only: once everything before is done, the commit may move past them.
        if (p.committed >= 0n && b.nextOffset > p.next) { p.next = b.nextOffset; requestCommit(); }
        return;
      }
      for (const m of b.records) {
        if (stopping || b.isStale()) return;
        const offset = BigInt(m.offset);
        // After a re-read the fetch starts at the committed offset: skip what we hold already.
        if (offset < p.next) continue;
        while (inFlight >= maxInFlight) {
          await waitForProgress(1000);
          await b.heartbeat();
          if (stopping || b.isStale()) return;
        }
        const t0 = performance.now();
        let d: Decoded<In>;
        for (let attempt = 0; ; attempt++) {
          try {
            d = await decode(m);
            break;
          } catch (e) {
            if (stopping || b.isStale()) return;
            log.warn({ err: (e as Error).message, attempt }, 'decoding failed; retrying');
            await sleep(backoff(attempt, 10000));
            await b.heartbeat();
          }
        }
        if (p.committed < 0n) p.committed = offset; // first record seen: nothing before it is ours to commit
        p.pending.set(offset, false);
        p.next = offset + 1n;
        inFlight++;
        metrics.recordsIn.inc({ stage });
        const recordId = 'record' in d ? recordIdOf(d.record) : null;
        const work = 'record' in d ? complete(d.record, m, b, recordId) : deadLetter(m, b.partition, d.reason, d.error, null);
        const current = p;
        work.then(
          () => {
            current.pending.set(offset, true);
            metrics.processingSeconds.observe({ stage }, (performance.now() - t0) / 1000);
            requestCommit();
          },
          (e: unknown) => log.warn({ err: (e as Error).message, recordId, offset: m.offset }, 'record left unfinished; it is replayed on the next start'),
        ).finally(() => { inFlight--; progressed(); });
        if (b.highWatermark !== null) metrics.consumerLag.set({ stage, topic: b.topic, partition: String(b.partition) }, Math.max(0, Number(b.highWatermark - offset - 1n)));
        await b.heartbeat();
      }
    };

    stopStrategy = async () => {
      if (strat.drain) await strat.drain();
      const deadline = Date.now() + stopTimeoutMs;
      while (inFlight > 0 && Date.now() < deadline) await waitForProgress(Math.max(1, Math.min(250, deadline - Date.now())));
      if (inFlight > 0) log.warn({ inFlight }, 'stopping with records not done; they are replayed on the next start');
      clearInterval(commitTimer);
      commitSoon.cancel();
      while (committing) await new Promise((r) => setTimeout(r, 20));
      await commit();
    };
    closeStrategy = () => producer.disconnect().catch(() => {});
  }

  await supervisor.start();
  log.info({ groupId: o.groupId, input: o.input, deadLetters: o.deadLetters, strategy: o.strategy.kind }, `${stage} consuming`);

  return {
    groupId: o.groupId,
    metrics,
    async stop() {
      if (stopping) return;
      stopping = true;
      stopped.abort();
      await stopStrategy();
      await supervisor.stop();
      await closeStrategy();
    },
  };
}

/** Offsets handed over on one partition, in order, and which of them are done (at-least-once). */
class PartitionProgress {
  readonly tp: TopicPartition;
  /** offset → done; Map keeps insertion (= offset) order. */
  readonly pending = new Map<bigint, boolean>();
  /** The next offset not handed over yet. */
  next = -1n;
  committed = -1n;

  constructor(tp: TopicPartition) {
    this.tp = { topic: tp.topic, partition: tp.partition };
  }

  /** The offset to commit: the first record not done, or the next one to hand over. */
  commitable(): bigint {
    for (const [offset, done] of this.pending) {
      if (!done) return offset;
      this.pending.delete(offset);
    }
    return this.next;
  }
}

/**
 * Heartbeats while a chunk is worked on and committed: kafkajs heartbeats only when asked, and a
 * chunk on a loaded box may take longer than the (10 s) session. A heartbeat refused because the group rebalances is ignored here:
 * the chunk's commit is fenced then, and the partition read again.
 */
async function keepAlive<T>(b: Batch, deadlineMs: number, what: string, work: () => Promise<T>): Promise<T> {
  const t = setInterval(() => { b.heartbeat().catch(() => {}); }, 1000);
  let deadline: NodeJS.Timeout | undefined;
  try {
    // The deadline ends the heartbeats too: a chunk stuck for good must not keep its partition.
    return await Promise.race([
      work(),
      new Promise<never>((_, fail) => { if (Number.isFinite(deadlineMs)) deadline = setTimeout(() => fail(new ChunkDeadlineError(what, deadlineMs, b.partition)), deadlineMs); }),
    ]);
  } finally {
    clearInterval(t);
    clearTimeout(deadline);
  }
}

/** A chunk's processing or commit did not finish in time: the consumer is re-created (not a transient retry of the same stuck call). */
export class ChunkDeadlineError extends Error {
  constructor(what: string, ms: number, partition: number) {
    super(`the chunk's ${what} on partition ${partition} did not finish within ${ms} ms${what === 'commit' ? ' (SCOP_COMMIT_DEADLINE_MS)' : ' (the stage\'s time limit per record × records per chunk ÷ concurrency)'}; re-reading the partition from its committed offset`);
  }
}
