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
 * record and commit once: `runChain` (a fused topology, cli/inbound.ts).
 *
 * MailRecords after the ingress's carry a reference to the raw message, not its bytes (raw-ref.ts):
 * a stage that consumes a raw topic writes the reference; a stage that reads the raw (needsRaw,
 * default true) gets it fetched first; a topic that keeps mail inline gets it resolved.
 */
import type { SchemaName } from '../schemas/index.ts';
import type { MailRecord, MailSymbol, SymbolStage } from '../schemas/types.ts';
import { RecordRejected, startEngine, TransientError, type Produced, type SourceRef } from './engine.ts';
import { CpuTaskTimeoutError } from './cpu-pool.ts';
import { engineDeadlinesFromEnv } from './engine-tuning.ts';
import type { MessageHeaders, OutRecord } from './kafka.ts';
import type { Logger } from './log.ts';
import { acquireRawStore, forTopic, hasInlineRaw, RawUnavailable, refFrom, type RawPolicy, type RawStore } from './raw-ref.ts';
import { serviceIdentity, type RunningService, type ServiceContext, type ServiceDefinition } from './service.ts';
import { stageMetrics, type StageMetrics } from './stage-metrics.ts';
import { MAX_RECORD_BYTES, rawPolicy, TOPICS, type TopicSpec } from './topics.ts';
import type { SymbolDeclarations } from './symbols.ts';

export { TransientError };
export type { DeadLetterReason } from './dead-letter.ts';

/** The sections of a MailRecord a stage may own (the envelope is the ingress's; `symbols` is everyone's, merged here). */
export type SectionName = Exclude<keyof MailRecord, 'envelope' | 'symbols' | 'rawRef'>;
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

/**
 * What every stage definition has. `C` is the context the stage needs at start (init): a plain
 * ServiceContext, or one with more (SymbolsContext, the decision's). `init` is a property, not a
 * method, so TypeScript checks its parameter strictly and a stage that needs more cannot be run,
 * alone or in a chain, with a context that has less.
 */
interface StageCommon<S, C extends ServiceContext = ServiceContext> {
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
  /** The symbol names process() emits, declared in the stage's folder (runtime/symbols.ts). */
  symbols?: SymbolDeclarations;
  /** Once at start: read config (env), open connections. The result is ctx.state. */
  init?: (svc: C) => Promise<S> | S;
  /** At stop, after the last batch. */
  close?(state: S): Promise<void> | void;
  /** Records processed at once within a chunk (default 8); output order follows input order anyway. */
  concurrency?: number;
  /** Records per transaction (default 100). */
  maxRecordsPerTransaction?: number;
  /** Per-record time limit for process(); past it (or when process() throws a CpuTaskTimeoutError) the record is dead-lettered as process-timeout (default 60 s). */
  processTimeoutMs?: number;
  /** Input partitions processed in parallel (default 3). */
  partitionsConcurrently?: number;
}

export interface SectionStageDefinition<S, K extends SectionName, C extends ServiceContext = ServiceContext> extends StageCommon<S, C> {
  /** The one section of the MailRecord this stage writes. */
  section: K;
  /**
   * Whether process() reads envelope.raw (default true). Records after the ingress's carry a
   * reference instead of the bytes (runtime/raw-ref.ts); for a stage that reads them the runtime
   * fetches them first. A stage that only reads other sections says false and is spared the fetch.
   */
  needsRaw?: boolean;
  /** The stage's logic: its section for this record. Return null to write nothing. Throw to dead-letter it. */
  process(record: Readonly<MailRecord>, ctx: StageContext<S>): Promise<SectionResult<K> | null> | SectionResult<K> | null;
  /** With the merged record (this stage's section in it): side outputs that need the whole record. */
  afterMerge?(record: Readonly<MailRecord>, ctx: StageContext<S>): void;
}

export interface TransformDefinition<S, In, Out, C extends ServiceContext = ServiceContext> extends StageCommon<S, C> {
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

export interface StageService<S = unknown, C extends ServiceContext = ServiceContext, D extends StageCommon<S, C> = StageCommon<S, C>> extends ServiceDefinition<C> {
  /** The definition as written (a section stage's keeps its typed process(), for tests and fusion). */
  stage: D;
  run: (ctx: C, overrides?: StageOverrides) => Promise<RunningStage>;
}

class ProcessTimeoutError extends Error {
  override name = 'ProcessTimeoutError';
}

interface SideTopic { topic: string; schema: SchemaName; id: number; raw: RawPolicy | undefined }

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
async function sideTopics(def: Pick<StageCommon<unknown>, 'name' | 'sideOutputs'>, svc: ServiceContext, overrides: StageOverrides): Promise<Map<string, SideTopic>> {
  const sides = new Map<string, SideTopic>();
  for (const [name, spec] of Object.entries(def.sideOutputs ?? {})) {
    if (!spec.valueSchema) throw new Error(`stage ${def.name}: side output ${name} needs a value schema`);
    const topic = overrides.sideOutputs?.[name] ?? spec.name;
    sides.set(name, { topic, schema: spec.valueSchema, id: await svc.codec.registerSchema(topic, spec.valueSchema), raw: rawPolicy(spec) });
  }
  return sides;
}

/** What a step needs besides its stage: the service, and the process's store of raw messages by reference. */
export interface StepEnv {
  svc: ServiceContext;
  raws: RawStore;
}

/** The record with its raw bytes fetched by reference; a message that cannot be had is dead-lettered, a Kafka hiccup retried. */
export async function resolveRaw(raws: RawStore, record: MailRecord): Promise<MailRecord> {
  if (hasInlineRaw(record)) return record;
  try {
    return await raws.resolve(record);
  } catch (e) {
    if (e instanceof RawUnavailable) throw new RecordRejected('raw-unavailable', e);
    throw new TransientError(`fetching the raw message by reference failed: ${(e as Error).message}`);
  }
}

/** A MailRecord as a topic with `policy` stores it (fetching the raw first where the topic keeps it inline). */
async function storedAs(env: StepEnv, record: MailRecord, policy: RawPolicy): Promise<MailRecord> {
  if (policy === 'inline') return forTopic(await resolveRaw(env.raws, record), 'inline');
  return forTopic(record, 'ref');
}

/**
 * One stage's per-record logic: `prepare` (fetch what the stage reads), process() under its time
 * limit with ctx.emit collecting side outputs (encoded, a MailRecord as its topic stores it; an
 * encode error rejects the record), then `finish` (merge a section, or not).
 */
function step<S, In, R, Out>(
  def: Pick<StageCommon<S>, 'name' | 'processTimeoutMs'> & { process(record: In, ctx: StageContext<S>): Promise<R | null> | R | null },
  env: StepEnv, state: S, sides: Map<string, SideTopic>,
  prepare: (record: In) => Promise<In> | In,
  finish: (record: In, result: R, ctx: StageContext<S>) => Out,
): StageStep<In, Out> {
  const timeoutMs = def.processTimeoutMs ?? 60000;
  const { svc } = env;
  return {
    name: def.name,
    async apply(input, source, recordId, log) {
      const record = await prepare(input);
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
        // A worker task stopped at its own time limit (runtime/cpu-pool.ts) is this record's timeout too.
        throw new RecordRejected(e instanceof ProcessTimeoutError || e instanceof CpuTaskTimeoutError ? 'process-timeout' : 'process-error', e);
      } finally {
        clearTimeout(timer);
      }
      const out = result === null ? null : finish(record, result, ctx);
      const side: OutRecord[] = [];
      for (const e of emitted) {
        const value = e.side.raw && e.side.schema === 'MailRecord' ? await storedAs(env, e.record as MailRecord, e.side.raw) : e.record;
        try {
          side.push({ topic: e.side.topic, key: e.key, value: svc.codec.encodeWith(e.side.id, e.side.schema, value) });
        } catch (err) {
          throw new RecordRejected('encode-error', err);
        }
      }
      return { out, side };
    },
  };
}

/**
 * A section stage's step: fetch the raw message if it reads it, process, then merge the returned
 * section and symbols into the record. This merge is the only place a stage's result enters the
 * record (also in a fused chain, which runs these steps one after the other): the section under the
 * stage's own name, the symbols stamped with it (mergeSymbols).
 */
export function sectionStep<S, K extends SectionName, C extends ServiceContext>(def: SectionStageDefinition<S, K, C>, env: StepEnv, state: S, sides: Map<string, SideTopic>): StageStep<MailRecord, MailRecord> {
  const prepare = (record: MailRecord) => (def.needsRaw === false ? record : resolveRaw(env.raws, record));
  return step(def, env, state, sides, prepare, (record: MailRecord, r: SectionResult<K>, ctx) => {
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

function serviceFor<S, C extends ServiceContext, D extends StageCommon<S, C>>(def: D, run: (ctx: C, overrides?: StageOverrides) => Promise<RunningStage>): StageService<S, C, D> {
  const identity = serviceIdentity('stage', def);
  if (!def.input.valueSchema || !def.output.valueSchema) throw new Error(`stage ${def.name}: input and output topics need a value schema`);
  return {
    ...identity,
    ...(def.symbols ? { symbols: def.symbols } : {}),
    stage: def,
    start: (ctx) => run(ctx),
    run,
  };
}

export function defineStage<S = undefined, K extends SectionName = SectionName, C extends ServiceContext = ServiceContext>(def: SectionStageDefinition<S, K, C>): StageService<S, C, SectionStageDefinition<S, K, C>> {
  if (def.input.valueSchema !== 'MailRecord' || def.output.valueSchema !== 'MailRecord') throw new Error(`stage ${def.name}: a section stage reads and writes MailRecords (use defineTransform otherwise)`);
  return serviceFor(def, (ctx, overrides = {}) => runStage(def, ctx, overrides, async (env, state) => sectionStep(def, env, state, await sideTopics(def, ctx, overrides)), MAIL_CODEC));
}

export function defineTransform<S = undefined, In = unknown, Out = unknown, C extends ServiceContext = ServiceContext>(def: TransformDefinition<S, In, Out, C>): StageService<S, C, TransformDefinition<S, In, Out, C>> {
  return serviceFor(def, (ctx, overrides = {}) => runStage(def, ctx, overrides,
    async (env, state) => step(def, env, state, await sideTopics(def, ctx, overrides), (r: In) => r, (_record: In, out: Out) => out),
    { recordId: (def.recordId ?? defaultRecordId) as (r: unknown) => string | null, receivedAt: (def.receivedAt ?? defaultReceivedAt) as (r: unknown) => number | null }));
}

/** How the runner treats records: ids and ingress times, and for MailRecords where their raw message goes. */
interface RecordHandling {
  recordId(r: unknown): string | null;
  receivedAt(r: unknown): number | null;
  /** MailRecords: the consumed record gets its reference (input a raw topic), the output is stored per its topic's policy. */
  mail?: true;
}

const MAIL_CODEC: RecordHandling = { recordId: defaultRecordId, receivedAt: defaultReceivedAt, mail: true };

/** What runStage runs: a definition's settings, and its step built once init() ran. */
type MakeStep<S, In, Out> = (env: StepEnv, state: S) => Promise<StageStep<In, Out>>;

async function runStage<S, In, Out, C extends ServiceContext>(
  def: StageCommon<S, C>, svc: C, overrides: StageOverrides,
  makeStep: MakeStep<S, In, Out>, handling: RecordHandling, metricAliases: string[] = [],
): Promise<RunningStage> {
  const log = svc.log.child({ stage: def.name });
  const groupId = overrides.groupId ?? `scop-${def.name}`;
  const topics = {
    input: overrides.input ?? def.input.name,
    output: overrides.output ?? def.output.name,
    deadLetters: overrides.deadLetters ?? TOPICS.deadLetters.name,
  };
  const outputSchema = def.output.valueSchema as SchemaName;
  const inputIsRawSource = rawPolicy(def.input) === 'source';
  const outputRaw = rawPolicy(def.output);
  // Register first: a schema the registry refuses as incompatible stops the start, loudly.
  const outputId = await svc.codec.registerSchema(topics.output, outputSchema);
  const raws = acquireRawStore(svc.kafka, svc.codec);
  const env: StepEnv = { svc, raws: raws.store };
  let state: S | undefined;
  let s: StageStep<In, Out>;
  try {
    state = (def.init ? await def.init(svc) : undefined) as S;
    s = await makeStep(env, state);
  } catch (e) {
    if (def.close && state !== undefined) await def.close(state);
    await raws.release();
    throw e;
  }

  const process = async (consumed: In, source: SourceRef, recordId: string | null): Promise<Produced> => {
    let record = consumed;
    if (handling.mail) {
      // Consumed from a raw topic: later records refer to this one instead of copying its raw bytes.
      const m = consumed as unknown as MailRecord;
      const ref = refFrom(m, source, inputIsRawSource);
      if (ref && ref !== m.rawRef) record = { ...m, rawRef: ref } as unknown as In;
    }
    const { out, side } = await s.apply(record, source, recordId, log.child({ recordId }));
    if (out === null) return { records: side, outputs: 0, receivedAt: null };
    let value: Buffer;
    const stored = handling.mail && outputRaw ? await storedAs(env, out as unknown as MailRecord, outputRaw) : out;
    try {
      value = svc.codec.encodeWith(outputId, outputSchema, stored);
    } catch (e) {
      throw new RecordRejected('encode-error', e);
    }
    if (value.length > MAX_RECORD_BYTES) throw new RecordRejected('oversize', new Error(`output record is ${value.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit`));
    return { records: [{ topic: topics.output, key: source.key ?? recordId ?? '', value, headers: carriedHeaders(source.headers) }, ...side], outputs: 1, receivedAt: handling.receivedAt(out) };
  };

  let engine;
  try {
    engine = await startEngine<In>(svc, {
      name: def.name, version: def.version, groupId, input: topics.input, inputSchema: def.input.valueSchema as SchemaName, deadLetters: topics.deadLetters,
      recordId: handling.recordId, sessionTimeoutMs: overrides.sessionTimeoutMs, partitionsConcurrently: def.partitionsConcurrently ?? 3, log, metricAliases, mailPath: true,
      // A record may legitimately take its whole time limit: stalls are judged beyond that.
      stallTimeoutMs: Math.max(engineDeadlinesFromEnv(svc.env).stallTimeoutMs, (def.processTimeoutMs ?? 60000) + 15000),
      // Every record ending at its time limit is the slowest legitimate chunk; past that (and a minute) it is stuck.
      chunkDeadlineMs: Math.ceil((def.maxRecordsPerTransaction ?? 100) / (def.concurrency ?? 8)) * (def.processTimeoutMs ?? 60000) + 60000,
      strategy: { kind: 'transactional', maxRecordsPerTransaction: def.maxRecordsPerTransaction, concurrency: def.concurrency, process },
    });
  } catch (e) {
    if (def.close) await def.close(state as S);
    await raws.release();
    throw e;
  }
  return {
    groupId, topics, metrics: engine.metrics, endpoints: {},
    async stop() {
      await engine.stop();
      if (def.close) await def.close(state as S);
      await raws.release();
      log.info(`stage ${def.name} stopped`);
    },
  };
}

/** The input key and headers are carried over to the output. */
function carriedHeaders(h: MessageHeaders): Record<string, Buffer | string> {
  const headers: Record<string, Buffer | string> = {};
  for (const [k, v] of Object.entries(h)) { const first = Array.isArray(v) ? v[0] : v; if (first !== undefined) headers[k] = first; }
  return headers;
}

// ——— Fusion: several section stages in one consumer and one transaction ———

/** One section stage of a chain, with its topic overrides (side outputs; output, for the intermediate topic). */
export interface ChainMember<C extends ServiceContext = ServiceContext> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  stage: SectionStageDefinition<any, any, C>;
  overrides?: Pick<StageOverrides, 'output' | 'sideOutputs'>;
}

export interface ChainOptions {
  /** The chain's service name: consumer group `scop-<name>`, the `stage` label of its engine metrics. */
  name: string;
  description: string;
  defaultMetricsPort: number;
  /** Also write each member's output to its own topic (off by default: the last output carries every section). */
  writeIntermediate?: boolean;
  /** Records per transaction (default: the largest of the members', at least 100). */
  maxRecordsPerTransaction?: number;
  /** Records in flight within a chunk (default: the largest of the members'). */
  concurrency?: number;
}

/**
 * Runs section stages fused, the way Kafka Streams runs a sub-topology in one task: one consumer of
 * the first stage's input, every member's logic on each record in turn (sectionSteps), and one
 * transaction per chunk with the last member's output, every member's side outputs, dead letters
 * and the consumed offsets. Each member's input must be the previous member's output. Members keep
 * their own time limits, metrics (`stage` label = member), side outputs and state; a record one
 * member rejects is dead-lettered with that member named in the error.
 */
export async function runChain<C extends ServiceContext>(svc: C, members: ChainMember<C>[], o: ChainOptions, overrides: StageOverrides = {}): Promise<RunningStage> {
  if (members.length === 0) throw new Error(`chain ${o.name}: no stages`);
  for (let i = 1; i < members.length; i++) {
    const prev = members[i - 1]!.stage;
    const cur = members[i]!.stage;
    if (prev.output.name !== cur.input.name) throw new Error(`chain ${o.name}: ${cur.name} reads ${cur.input.name}, not ${prev.name}'s output ${prev.output.name}`);
  }
  const first = members[0]!.stage;
  const last = members[members.length - 1]!.stage;
  const defs = members.map((m) => m.stage);
  const def: StageCommon<unknown[], C> = {
    name: o.name, version: defs.map((d) => `${d.name}@${d.version}`).join(' '), description: o.description,
    input: first.input, output: last.output, defaultMetricsPort: o.defaultMetricsPort,
    concurrency: o.concurrency ?? Math.max(...defs.map((d) => d.concurrency ?? 8)),
    maxRecordsPerTransaction: o.maxRecordsPerTransaction ?? Math.max(100, ...defs.map((d) => d.maxRecordsPerTransaction ?? 100)),
    // The chain's records may take every member's time limit in turn.
    processTimeoutMs: defs.reduce((t, d) => t + (d.processTimeoutMs ?? 60000), 0),
    partitionsConcurrently: Math.max(...defs.map((d) => d.partitionsConcurrently ?? 3)),
    async init(ctx) {
      const states: unknown[] = [];
      try {
        for (const d of defs) states.push(d.init ? await d.init(ctx) : undefined);
      } catch (e) {
        for (let i = states.length - 1; i >= 0; i--) await defs[i]!.close?.(states[i]);
        throw e;
      }
      return states;
    },
    async close(states) {
      for (let i = states.length - 1; i >= 0; i--) await defs[i]!.close?.(states[i]);
    },
  };
  const makeStep: MakeStep<unknown[], MailRecord, MailRecord> = async (env, states) => {
    const steps: StageStep<MailRecord, MailRecord>[] = [];
    for (const [i, m] of members.entries()) {
      const inner = sectionStep(m.stage, env, states[i], await sideTopics(m.stage, svc, m.overrides ?? {}));
      const intermediate = o.writeIntermediate && i < members.length - 1
        ? { topic: m.overrides?.output ?? m.stage.output.name, id: await svc.codec.registerSchema(m.overrides?.output ?? m.stage.output.name, 'MailRecord'), raw: rawPolicy(m.stage.output) ?? 'ref' }
        : undefined;
      steps.push(memberStep(inner, m.stage.name, env, intermediate));
    }
    return sectionSteps(steps);
  };
  return runStage(def, svc, overrides, makeStep, MAIL_CODEC, defs.map((d) => d.name));
}

/**
 * A member of a chain: its own metrics (records in and out, dead letters, processing time, age when
 * its section is added), its name on the errors it raises, and optionally its output written to its
 * own topic too (in the chain's transaction).
 */
function memberStep(inner: StageStep<MailRecord, MailRecord>, name: string, env: StepEnv, intermediate?: { topic: string; id: number; raw: RawPolicy }): StageStep<MailRecord, MailRecord> {
  const m = stageMetrics(env.svc.metrics, name, 'stage');
  return {
    name,
    async apply(record, source, recordId, log) {
      const t0 = performance.now();
      m.recordsIn.inc({ stage: name });
      let r;
      try {
        r = await inner.apply(record, source, recordId, log);
      } catch (e) {
        if (e instanceof RecordRejected) {
          m.deadLetters.inc({ stage: name, reason: e.reason });
          const original = e.original instanceof Error ? e.original : new Error(String(e.original));
          throw new RecordRejected(e.reason, Object.assign(new Error(`${name}: ${original.message}`), { stack: original.stack }));
        }
        throw e;
      }
      m.processingSeconds.observe({ stage: name }, (performance.now() - t0) / 1000);
      if (r.out === null) return r;
      m.recordsOut.inc({ stage: name });
      m.recordAgeSeconds.observe({ stage: name }, Math.max(0, Date.now() - r.out.envelope.receivedAt) / 1000);
      if (!intermediate) return r;
      let value: Buffer;
      try {
        value = env.svc.codec.encodeWith(intermediate.id, 'MailRecord', await storedAs(env, r.out, intermediate.raw));
      } catch (e) {
        if (e instanceof RecordRejected || e instanceof TransientError) throw e;
        throw new RecordRejected('encode-error', e);
      }
      return { out: r.out, side: [{ topic: intermediate.topic, key: source.key ?? recordId ?? '', value, headers: carriedHeaders(source.headers) }, ...r.side] };
    },
  };
}
