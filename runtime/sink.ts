/**
 * A sink: a service that consumes a topic and acts on the outside world (posts to Matrix, delivers
 * mail) instead of producing an output topic. A thin composition on the consumer engine
 * (engine.ts, at-least-once strategy): handle() is called in offset order and not awaited before
 * the next record; a partition's offset is committed only up to the first record whose handle()
 * has not resolved, so a crash replays exactly the unfinished records — the target de-duplicates
 * them (the Matrix notifier with transaction ids, the egress with its delivery log). Decoding, dead
 * letters, metrics, crash recovery and health are the engine's, shared with stages.
 */
import type { SchemaName } from '../schemas/index.ts';
import { startEngine, TransientError } from './engine.ts';
import { engineDeadlinesFromEnv } from './engine-tuning.ts';
import type { MessageHeaders } from './kafka.ts';
import type { Logger } from './log.ts';
import { serviceIdentity, type RunningService, type ServiceContext, type ServiceDefinition } from './service.ts';
import type { StageMetrics } from './stage-metrics.ts';
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
  /** How long handle() may legitimately hold a record (a digest window); /healthz judges stalls beyond it (default 0). */
  holdMs?(svc: ServiceContext, state: S): number;
  /** Mail flows through it (egress): fetches are batched as the stages' are (runtime/engine-tuning.ts); default false. */
  mailPath?: boolean;
  recordId?(record: In): string | null;
}

/** Topic / group overrides, for tests (unique names) and replays; same shape as StageOverrides. */
export interface SinkOverrides {
  input?: string;
  deadLetters?: string;
  groupId?: string;
  /** Consumer session timeout: how long a dead member keeps its partitions (default 30 s). */
  sessionTimeoutMs?: number;
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
  const identity = serviceIdentity('sink', def);
  if (!def.input.valueSchema) throw new Error(`sink ${def.name}: the input topic needs a value schema`);
  return {
    ...identity,
    sink: def,
    start: (ctx) => runSink(def, ctx),
    run: (ctx, overrides) => runSink(def, ctx, overrides),
  };
}

async function runSink<S, In>(def: SinkDefinition<S, In>, svc: ServiceContext, overrides: SinkOverrides = {}): Promise<RunningSink<S>> {
  const log = svc.log.child({ sink: def.name });
  const groupId = overrides.groupId ?? `scop-${def.name}`;
  const topics = { input: overrides.input ?? def.input.name, deadLetters: overrides.deadLetters ?? TOPICS.deadLetters.name };
  const state = (def.init ? await def.init(svc) : undefined) as S;
  let engine;
  try {
    engine = await startEngine<In>(svc, {
      name: def.name, version: def.version, groupId, input: topics.input, inputSchema: def.input.valueSchema as SchemaName, deadLetters: topics.deadLetters,
      recordId: def.recordId, log, stallTimeoutMs: engineDeadlinesFromEnv(svc.env).stallTimeoutMs + (def.holdMs?.(svc, state) ?? 0), sessionTimeoutMs: overrides.sessionTimeoutMs, mailPath: def.mailPath,
      strategy: {
        kind: 'at-least-once', maxInFlight: def.maxInFlight, stopTimeoutMs: def.stopTimeoutMs,
        handle: (record, source, recordId) => def.handle(record, { log: log.child({ recordId }), recordId, state, source }),
        drain: def.drain ? () => def.drain!(state) : undefined,
      },
    });
  } catch (e) {
    if (def.close) await def.close(state);
    throw e;
  }
  return {
    groupId, topics, metrics: engine.metrics, state, endpoints: {},
    async stop() {
      await engine.stop();
      if (def.close) await def.close(state);
      log.info(`sink ${def.name} stopped`);
    },
  };
}
