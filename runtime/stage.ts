/**
 * Stream stages: thin compositions on the consumer engine (engine.ts, transactional strategy).
 *
 *   defineStage     a MailRecord stage that owns ONE section (`section: 'mime'`): process() sees the
 *                   record read-only and returns `{ section, symbols? }` (or null to write nothing);
 *                   the runtime merges both into the record. A stage cannot write another stage's
 *                   section or symbols — the types allow only its own, and the runtime stamps them.
 *   defineTransform any other record type in and out (the firewall's reputation aggregator).
 *
 * Either way: consume as group `scop-<name>` → decode with the CURRENT schema → process (bounded
 * concurrency, per-record time limit) → encode → one Kafka transaction per chunk with outputs, side
 * outputs, dead letters and the consumed offsets. The per-record part (`stageStep`, `sectionSteps`)
 * is separate from consuming and committing, so several section stages can run on one consumed
 * record and commit once (a fused topology).
 */
import type { SchemaName } from '../schemas/index.ts';
import type { MailRecord, MailSymbol, SymbolStage } from '../schemas/types.ts';
import { RecordRejected, stallTimeoutFromEnv, startEngine, TransientError, type Produced, type SourceRef } from './engine.ts';
import type { MessageHeaders, OutRecord } from './kafka.ts';
import type { Logger } from './log.ts';
import { serviceIdentity, type RunningService, type ServiceContext, type ServiceDefinition } from './service.ts';
import type { StageMetrics } from './stage-metrics.ts';
import { MAX_RECORD_BYTES, TOPICS, type TopicSpec } from './topics.ts';

export { TransientError };
export type { DeadLetterReason } from './dead-letter.ts';

/** The sections of a MailRecord a stage may own (the envelope is the ingress's; `symbols` is everyone's, merged here). */
export type SectionName = Exclude<keyof MailRecord, 'envelope' | 'symbols'>;
/**
 * A symbol as a stage returns it: without `stage`, which the runtime stamps with the stage's own
 * section — so a stage can neither emit nor remove another stage's symbols (issue 16).
 */
export type StageSymbol = Omit<MailSymbol, 'stage'>;
/** What a section stage returns: its own section, and its findings as symbols. */
export interface SectionResult<K extends SectionName> {
  section: NonNullable<MailRecord[K]>;
  /**
   * This stage's symbols. They replace the ones this stage wrote before (a replay through the stage)
   * and leave every other stage's alone; omitted means none.
   */
  symbols?: readonly StageSymbol[];
}

// Every section is a symbol stage: a section added to MailRecord without a Stage enum value fails here.
const stageOfSection = (k: SectionName): SymbolStage => k;

/** A word (a result, a flag, a verdict) as part of a symbol name: "double-extension" → DOUBLE_EXTENSION. */
export const symbolWord = (w: string) => w.toUpperCase().replace(/[^A-Z0-9]+/g, '_');

/** Symbol names: upper-case letters, digits and _, as the policy file names them. */
const SYMBOL_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Bounds, whatever a stage hands over: a stage bounds its own lists; these keep a bug from bloating the record. */
export const SYMBOL_LIMITS = { perStage: 256, options: 16, optionChars: 256 } as const;

/**
 * The record's symbols with `stage`'s replaced by `mine` (stamped with the stage, bounded): every
 * other stage's symbols stay as they were, in their order; this stage's come last. A name that is
 * not a symbol name is a stage bug: it throws (the record is dead-lettered with the message).
 */
export function mergeSymbols(existing: readonly MailSymbol[], section: SectionName, mine: readonly StageSymbol[] = []): MailSymbol[] {
  const stage = stageOfSection(section);
  const own = mine.slice(0, SYMBOL_LIMITS.perStage).map((s): MailSymbol => {
    if (!SYMBOL_NAME.test(s.symbol)) throw new Error(`stage ${stage} emitted an invalid symbol name ${JSON.stringify(s.symbol.slice(0, 80))} (upper-case letters, digits and _, at most 64)`);
    const score = s.score === null || Number.isFinite(s.score) ? s.score : null;
    return { symbol: s.symbol, stage, score, options: s.options.slice(0, SYMBOL_LIMITS.options).map((o) => o.slice(0, SYMBOL_LIMITS.optionChars)) };
  });
  return [...existing.filter((s) => s.stage !== stage), ...own];
}

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

interface StageCommon<S> {
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
  /** Records processed at once within a chunk (default 8); output order follows input order anyway. */
  concurrency?: number;
  /** Records per transaction (default 100). */
  maxRecordsPerTransaction?: number;
  /** Per-record time limit for process(); past it the record is dead-lettered as process-timeout (default 60 s). */
  processTimeoutMs?: number;
  /** Input partitions processed in parallel (default 3). */
  partitionsConcurrently?: number;
}

export interface SectionStageDefinition<S, K extends SectionName> extends StageCommon<S> {
  /** The one section of the MailRecord this stage writes. */
  section: K;
  /** The stage's logic: its section for this record. Return null to write nothing. Throw to dead-letter it. */
  process(record: Readonly<MailRecord>, ctx: StageContext<S>): Promise<SectionResult<K> | null> | SectionResult<K> | null;
  /** With the merged record (this stage's section in it): side outputs that need the whole record. */
  afterMerge?(record: Readonly<MailRecord>, ctx: StageContext<S>): void;
}

export interface TransformDefinition<S, In, Out> extends StageCommon<S> {
  /** The record to write for this input, or null to write nothing. Throw to dead-letter it. */
  process(record: In, ctx: StageContext<S>): Promise<Out | null> | Out | null;
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
}

export interface RunningStage extends RunningService {
  groupId: string;
  topics: { input: string; output: string; deadLetters: string };
  metrics: StageMetrics;
}

export interface StageService<S = unknown, D extends StageCommon<S> = StageCommon<S>> extends ServiceDefinition {
  /** The definition as written (a section stage's keeps its typed process(), for tests and fusion). */
  stage: D;
  run(ctx: ServiceContext, overrides?: StageOverrides): Promise<RunningStage>;
}

class ProcessTimeoutError extends Error {
  override name = 'ProcessTimeoutError';
}

interface SideTopic { topic: string; schema: SchemaName; id: number }

/** A stage's logic on one decoded record, with its state, time limit and side outputs: the unit a fused chain is made of. */
export interface StageStep<In, Out> {
  name: string;
  apply(record: In, source: SourceRef, recordId: string | null, log: Logger): Promise<{ out: Out | null; side: OutRecord[] }>;
}

const defaultRecordId = (r: unknown): string | null => (r as { envelope?: { id?: unknown } })?.envelope?.id as string ?? null;
const defaultReceivedAt = (r: unknown): number | null => {
  const t = (r as { envelope?: { receivedAt?: unknown } })?.envelope?.receivedAt;
  return typeof t === 'number' ? t : null;
};

/** Registers the side outputs' schemas and returns their topics. */
async function sideTopics(def: StageCommon<unknown>, svc: ServiceContext, overrides: StageOverrides): Promise<Map<string, SideTopic>> {
  const sides = new Map<string, SideTopic>();
  for (const [name, spec] of Object.entries(def.sideOutputs ?? {})) {
    if (!spec.valueSchema) throw new Error(`stage ${def.name}: side output ${name} needs a value schema`);
    const topic = overrides.sideOutputs?.[name] ?? spec.name;
    sides.set(name, { topic, schema: spec.valueSchema, id: await svc.codec.registerSchema(topic, spec.valueSchema) });
  }
  return sides;
}

/**
 * One stage's per-record logic: process() under its time limit with ctx.emit collecting side
 * outputs (encoded; an encode error rejects the record), then `finish` (merge a section, or not).
 */
function step<S, In, R, Out>(
  def: StageCommon<S> & { process(record: In, ctx: StageContext<S>): Promise<R | null> | R | null },
  svc: ServiceContext, state: S, sides: Map<string, SideTopic>,
  finish: (record: In, result: R, ctx: StageContext<S>) => Out,
): StageStep<In, Out> {
  const timeoutMs = def.processTimeoutMs ?? 60000;
  return {
    name: def.name,
    async apply(record, source, recordId, log) {
      const emitted: { side: SideTopic; key: string; record: unknown }[] = [];
      const abort = new AbortController();
      const ctx: StageContext<S> = {
        log, recordId, state, signal: abort.signal,
        source: { topic: source.topic, partition: source.partition, offset: source.offset, headers: source.headers },
        emit: (name, key, rec) => {
          const side = sides.get(name);
          if (!side) throw new Error(`stage ${def.name}: no side output named "${name}"`);
          emitted.push({ side, key, record: rec });
        },
      };
      let timer: NodeJS.Timeout | undefined;
      let result: R | null;
      try {
        result = await Promise.race([
          Promise.resolve().then(() => def.process(record, ctx)),
          new Promise<never>((_, fail) => {
            timer = setTimeout(() => { abort.abort(); fail(new ProcessTimeoutError(`process() took longer than ${timeoutMs} ms`)); }, timeoutMs);
          }),
        ]);
      } catch (e) {
        if (e instanceof TransientError) throw e;
        throw new RecordRejected(e instanceof ProcessTimeoutError ? 'process-timeout' : 'process-error', e);
      } finally {
        clearTimeout(timer);
      }
      const out = result === null ? null : finish(record, result, ctx);
      let side: OutRecord[];
      try {
        side = emitted.map((e) => ({ topic: e.side.topic, key: e.key, value: svc.codec.encodeWith(e.side.id, e.side.schema, e.record) }));
      } catch (e) {
        throw new RecordRejected('encode-error', e);
      }
      return { out, side };
    },
  };
}

/**
 * A section stage's step: process, then merge the returned section and symbols into the record.
 * This merge is the only place a stage's result enters the record (also in a fused chain, which
 * runs these steps one after the other): the section under the stage's own name, the symbols
 * stamped with it (mergeSymbols).
 */
export function sectionStep<S, K extends SectionName>(def: SectionStageDefinition<S, K>, svc: ServiceContext, state: S, sides: Map<string, SideTopic>): StageStep<MailRecord, MailRecord> {
  return step(def, svc, state, sides, (record: MailRecord, r: SectionResult<K>, ctx) => {
    const merged = { ...record, [def.section]: r.section, symbols: mergeSymbols(record.symbols ?? [], def.section, r.symbols) } as MailRecord;
    def.afterMerge?.(merged, ctx);
    return merged;
  });
}

/** Runs section steps one after the other on one record (null from any ends the chain), collecting every side output. */
export function sectionSteps(steps: StageStep<MailRecord, MailRecord>[]): StageStep<MailRecord, MailRecord> {
  return {
    name: steps.map((s) => s.name).join('+'),
    async apply(record, source, recordId, log) {
      let current: MailRecord | null = record;
      const side: OutRecord[] = [];
      for (const s of steps) {
        if (current === null) break;
        const r = await s.apply(current, source, recordId, log);
        side.push(...r.side);
        current = r.out;
      }
      return { out: current, side };
    },
  };
}

function serviceFor<S, D extends StageCommon<S>>(def: D, run: (ctx: ServiceContext, overrides?: StageOverrides) => Promise<RunningStage>): StageService<S, D> {
  const identity = serviceIdentity('stage', def);
  if (!def.input.valueSchema || !def.output.valueSchema) throw new Error(`stage ${def.name}: input and output topics need a value schema`);
  return {
    ...identity,
    stage: def,
    start: (ctx) => run(ctx),
    run,
  };
}

export function defineStage<S = undefined, K extends SectionName = SectionName>(def: SectionStageDefinition<S, K>): StageService<S, SectionStageDefinition<S, K>> {
  if (def.input.valueSchema !== 'MailRecord' || def.output.valueSchema !== 'MailRecord') throw new Error(`stage ${def.name}: a section stage reads and writes MailRecords (use defineTransform otherwise)`);
  return serviceFor(def, (ctx, overrides = {}) => runStage(def, ctx, overrides, (state, sides) => sectionStep(def, ctx, state, sides), defaultRecordId, defaultReceivedAt));
}

export function defineTransform<S = undefined, In = unknown, Out = unknown>(def: TransformDefinition<S, In, Out>): StageService<S, TransformDefinition<S, In, Out>> {
  return serviceFor(def, (ctx, overrides = {}) => runStage(def, ctx, overrides,
    (state, sides) => step(def, ctx, state, sides, (_record: In, out: Out) => out),
    (def.recordId ?? defaultRecordId) as (r: unknown) => string | null,
    (def.receivedAt ?? defaultReceivedAt) as (r: unknown) => number | null));
}

async function runStage<S, In, Out>(
  def: StageCommon<S>, svc: ServiceContext, overrides: StageOverrides,
  makeStep: (state: S, sides: Map<string, SideTopic>) => StageStep<In, Out>,
  recordIdOf: (r: unknown) => string | null, receivedAtOf: (r: unknown) => number | null,
): Promise<RunningStage> {
  const log = svc.log.child({ stage: def.name });
  const groupId = overrides.groupId ?? `scop-${def.name}`;
  const topics = {
    input: overrides.input ?? def.input.name,
    output: overrides.output ?? def.output.name,
    deadLetters: overrides.deadLetters ?? TOPICS.deadLetters.name,
  };
  const outputSchema = def.output.valueSchema as SchemaName;
  // Register first: a schema the registry refuses as incompatible stops the start, loudly.
  const outputId = await svc.codec.registerSchema(topics.output, outputSchema);
  const sides = await sideTopics(def, svc, overrides);
  const state = (def.init ? await def.init(svc) : undefined) as S;
  const s = makeStep(state, sides);

  const process = async (record: In, source: SourceRef, recordId: string | null): Promise<Produced> => {
    const { out, side } = await s.apply(record, source, recordId, log.child({ recordId }));
    if (out === null) return { records: side, outputs: 0, receivedAt: null };
    let value: Buffer;
    try {
      value = svc.codec.encodeWith(outputId, outputSchema, out);
    } catch (e) {
      throw new RecordRejected('encode-error', e);
    }
    if (value.length > MAX_RECORD_BYTES) throw new RecordRejected('oversize', new Error(`output record is ${value.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit`));
    // The input key and headers are carried over.
    const headers: Record<string, Buffer | string> = {};
    for (const [k, v] of Object.entries(source.headers)) { const first = Array.isArray(v) ? v[0] : v; if (first !== undefined) headers[k] = first; }
    return { records: [{ topic: topics.output, key: source.key ?? recordId ?? '', value, headers }, ...side], outputs: 1, receivedAt: receivedAtOf(out) };
  };

  let engine;
  try {
    engine = await startEngine<In>(svc, {
      name: def.name, version: def.version, groupId, input: topics.input, inputSchema: def.input.valueSchema as SchemaName, deadLetters: topics.deadLetters,
      recordId: recordIdOf, sessionTimeoutMs: overrides.sessionTimeoutMs, partitionsConcurrently: def.partitionsConcurrently ?? 3, log,
      // A record may legitimately take its whole time limit: stalls are judged beyond that.
      stallTimeoutMs: Math.max(stallTimeoutFromEnv(svc.env), (def.processTimeoutMs ?? 60000) + 15000),
      strategy: { kind: 'transactional', maxRecordsPerTransaction: def.maxRecordsPerTransaction, concurrency: def.concurrency, process },
    });
  } catch (e) {
    if (def.close) await def.close(state);
    throw e;
  }
  return {
    groupId, topics, metrics: engine.metrics, endpoints: {},
    async stop() {
      await engine.stop();
      if (def.close) await def.close(state);
      log.info(`stage ${def.name} stopped`);
    },
  };
}
