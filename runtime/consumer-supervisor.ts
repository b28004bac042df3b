/**
 * Keeps one group consumer alive and tells the truth about it. Used by the engine (stages, sinks)
 * and by compacted-topic followers — everything in scop that consumes.
 *
 * - A consumer that crashes (a broker away longer than the client retries, a fatal protocol error)
 *   is re-created with backoff (0.5 s doubling to 30 s; back to 0.5 s after a minute of health,
 *   and at once when a broker that was away answers again), logged and counted; nobody has to
 *   restart the process.
 * - Health (registered in the process's HealthRegistry, served on /healthz): not ready while the
 *   consumer is not running or has not joined its group yet, and when it is stalled: a partition it
 *   owns has records waiting (end offset > position) and its position has not moved for
 *   `stallTimeoutMs`. End offsets are read every few seconds, so a dead or stuck consumer is seen
 *   even though it delivers nothing.
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import type { HealthRegistry, ProbeResult } from './health.ts';
import { createKafkaClient, probeBrokers, type Admin, type Batch, type ConsumerOptions, type GroupConsumer, type KafkaClient, type TopicPartition } from './kafka.ts';
import type { Logger } from './log.ts';
import { counterOn, gaugeOn } from './metrics.ts';

export interface SupervisorOptions {
  /** Label for logs, metrics (`consumer`) and /healthz. */
  name: string;
  kafka: KafkaClient;
  log: Logger;
  metrics: Registry;
  health?: HealthRegistry;
  consumer: ConsumerOptions;
  topics: string[];
  fromBeginning: boolean;
  partitionsConcurrently?: number;
  /** No progress for this long while records wait → not ready (default 60 s). */
  stallTimeoutMs?: number;
  /** How often end offsets are read for health and lag (default min(5 s, stall timeout / 3)). */
  checkIntervalMs?: number;
  /** Each new consumer, before it runs (e.g. to create its transactional writer). */
  setup?(consumer: GroupConsumer): void;
  eachBatch(batch: Batch, consumer: GroupConsumer): Promise<void>;
  onAssigned?(partitions: TopicPartition[]): void;
  /** At the first launch and before each re-creation after a crash: where to start instead of the committed offsets. */
  startOffsets?(): Map<string, Map<number, bigint>> | undefined;
  /** Records waiting per owned partition, after every check. */
  onLag?(tp: TopicPartition, lag: number): void;
  /** Does a broker answer? (default: one metadata request to the client's brokers; see `backoff`). */
  brokerAnswers?(): Promise<boolean>;
}

interface PartitionState { position: bigint | null; movedAt: number; end: bigint | null }

const key = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`;

interface SupervisorMetrics { up: Gauge<'consumer'>; restarts: Counter<'consumer'>; stalled: Gauge<'consumer'> }

function supervisorMetrics(registry: Registry): SupervisorMetrics {
  return {
    up: gaugeOn(registry, { name: 'scop_consumer_up', help: 'A consumer runs and has joined its group (1) or not (0: crashed and being re-created, or joining).', labelNames: ['consumer'] as const }),
    restarts: counterOn(registry, { name: 'scop_consumer_restarts_total', help: 'Consumers re-created after a crash.', labelNames: ['consumer'] as const }),
    stalled: gaugeOn(registry, { name: 'scop_consumer_stalled', help: 'A partition this consumer owns has records waiting and its position has not moved for the stall timeout (1) or not (0).', labelNames: ['consumer'] as const }),
  };
}


export class ConsumerSupervisor {
  private current: GroupConsumer | undefined;
  private running = false;
  private joined = false;
  private stopping = false;
  private startedAt = 0;
  private backoffMs = 500;
  private generation = 0;
  private recovering: Promise<void> | undefined;
  /** A crash of the re-created consumer that came before recovery finished. */
  private crashAgain: Error | undefined;
  private readonly partitions = new Map<string, PartitionState & TopicPartition>();
  private admin: Admin | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private checkFailingSince: number | null = null;
  private checking = false;
  private lastCheckError = '';
  private lastCrash: string | null = null;
  private readonly stallTimeoutMs: number;
  private readonly metrics: SupervisorMetrics;
  private unregister: (() => void) | undefined;
  private readonly stopped = new AbortController();
  /** A broker did not answer during this recovery's backoff (see `backoff`). */
  private brokerAway = false;

  constructor(private readonly o: SupervisorOptions) {
    this.stallTimeoutMs = o.stallTimeoutMs ?? 60000;
    this.metrics = supervisorMetrics(o.metrics);
  }

  /** The consumer running now (a new one after every crash). */
  get consumer(): GroupConsumer | undefined {
    return this.current;
  }

  /** Increments on every re-creation: work of an older consumer must not touch the new one's state. */
  get incarnation(): number {
    return this.generation;
  }

  async start(): Promise<void> {
    this.unregister = this.o.health?.register(this.o.name, () => this.health());
    this.metrics.up.set({ consumer: this.o.name }, 0);
    this.metrics.stalled.set({ consumer: this.o.name }, 0);
    this.metrics.restarts.inc({ consumer: this.o.name }, 0); // a consumer never restarted shows 0, not no data
    try {
      await this.launch(this.o.startOffsets?.());
    } catch (e) {
      // A broker still loading its coordinators, or away: the same recovery as for a crash later;
      // /healthz says not ready meanwhile.
      this.crashed(e as Error);
    }
    const every = this.o.checkIntervalMs ?? Math.max(250, Math.min(5000, Math.floor(this.stallTimeoutMs / 3)));
    this.checkTimer = setInterval(() => void this.check(), every);
    this.checkTimer.unref();
  }

  private async launch(startOffsets: Map<string, Map<number, bigint>> | undefined): Promise<void> {
    const incarnation = ++this.generation;
    const c = this.o.kafka.consumer(this.o.consumer);
    this.current = c;
    this.joined = false;
    this.partitions.clear();
    this.o.setup?.(c);
    // A crash while starting (a broker away) fails this launch; one after it is a crash to recover from.
    let launched = false;
    let early: Error | undefined;
    await c.run({
      topics: this.o.topics,
      fromBeginning: this.o.fromBeginning,
      partitionsConcurrently: this.o.partitionsConcurrently,
      startOffsets,
      eachBatch: (b) => this.o.eachBatch(b, c),
      onAssigned: (tps) => {
        if (incarnation !== this.generation) return;
        this.joined = true;
        this.metrics.up.set({ consumer: this.o.name }, 1);
        const now = Date.now();
        const keep = new Set(tps.map(key));
        for (const k of [...this.partitions.keys()]) if (!keep.has(k)) this.partitions.delete(k);
        for (const tp of tps) if (!this.partitions.has(key(tp))) this.partitions.set(key(tp), { ...tp, position: null, movedAt: now, end: null });
        this.o.onAssigned?.(tps);
        // Lag and health from the start, not only after the first periodic check.
        setTimeout(() => void this.check(), 200).unref();
      },
      onCrash: (e) => {
        if (incarnation !== this.generation) return;
        if (!launched) early ??= e;
        else this.crashed(e);
      },
    });
    if (early) throw early;
    launched = true;
    this.running = true;
    this.startedAt = Date.now();
  }

  private crashed(e: Error): void {
    if (this.stopping) return;
    this.running = false;
    this.joined = false;
    this.lastCrash = e.message;
    this.metrics.up.set({ consumer: this.o.name }, 0);
    // Back to the shortest backoff only after a healthy minute: a consumer that crashes at once backs off.
    if (Date.now() - this.startedAt > 60000) this.backoffMs = 500;
    if (this.recovering) { this.crashAgain = e; return; }
    this.recovering = this.recover(e).finally(() => {
      this.recovering = undefined;
      const again = this.crashAgain;
      this.crashAgain = undefined;
      if (again) this.crashed(again);
    });
  }

  private async recover(first: Error): Promise<void> {
    let err: Error = first;
    await this.dropCurrent();
    while (!this.stopping) {
      const wait = this.backoffMs;
      this.backoffMs = Math.min(30000, this.backoffMs * 2);
      this.o.log.error({ consumer: this.o.name, err: err.message, retryInMs: wait }, `consumer ${this.o.name} crashed; re-creating it in ${wait} ms`);
      await this.backoff(wait);
      if (this.stopping) return;
      this.metrics.restarts.inc({ consumer: this.o.name });
      try {
        await this.launch(this.o.startOffsets?.());
        this.o.log.info({ consumer: this.o.name }, `consumer ${this.o.name} re-created`);
        return;
      } catch (e) {
        err = e as Error;
        await this.dropCurrent();
      }
    }
  }

  /**
   * Waits `ms`, or less: once a broker was seen away during this recovery, a broker that answers
   * again ends the wait and the backoff starts over from 0.5 s. The doubling is there not to hammer
   * a cluster that is away; it must not outlast it. Without this a consumer that crashed through a
   * 10 s broker restart slept a 16–30 s backoff after the broker was back (the whole-pipeline chaos
   * run, e2e/chaos.ts, saw every stage resume that late). Waits of 1 s or less never probe.
   */
  private async backoff(ms: number): Promise<void> {
    const until = Date.now() + ms;
    const answers = this.o.brokerAnswers ?? (() => probeBrokers(this.o.kafka.settings, 1000).then(() => true, () => false));
    while (!this.stopping) {
      const left = until - Date.now();
      if (left <= 0) return;
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, Math.min(left, 1000));
        this.stopped.signal.addEventListener('abort', () => { clearTimeout(t); ok(); }, { once: true });
      });
      if (this.stopping || Date.now() >= until) return;
      if (!(await answers())) this.brokerAway = true;
      else if (this.brokerAway) {
        this.brokerAway = false;
        this.backoffMs = 500;
        this.o.log.warn({ consumer: this.o.name }, `a broker answers again: re-creating consumer ${this.o.name} now`);
        return;
      }
    }
  }

  private async dropCurrent(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.stop().catch(() => {});
  }

  /** The engine's completed position of a partition (the offset of the next record to handle). */
  progress(tp: TopicPartition, nextOffset: bigint): void {
    const s = this.partitions.get(key(tp));
    if (!s) return;
    if (s.position === null || nextOffset > s.position) {
      s.position = nextOffset;
      s.movedAt = Date.now();
      if (s.end !== null) {
        if (s.end < nextOffset) s.end = nextOffset;
        this.o.onLag?.(s, Number(s.end - nextOffset));
      }
    }
  }

  private async check(): Promise<void> {
    if (!this.running || this.partitions.size === 0 || this.checking) return;
    this.checking = true;
    try {
      // Its own client with few retries: a broker that is away must show within one check.
      this.admin ??= createKafkaClient(this.o.kafka.settings, { retries: 1, connectionTimeoutMs: 3000, requestTimeoutMs: 10000 }).admin();
      await this.admin.connect();
      await Promise.race([this.readEnds(), new Promise((_, fail) => setTimeout(() => fail(new Error('no answer within 10 s')), 10000).unref())]);
      this.checkFailingSince = null;
    } catch (e) {
      this.lastCheckError = (e as Error).message;
      this.checkFailingSince ??= Date.now();
    } finally {
      this.checking = false;
    }
    this.metrics.stalled.set({ consumer: this.o.name }, this.stalledPartitions().length > 0 ? 1 : 0);
  }

  private async readEnds(): Promise<void> {
    const admin = this.admin!;
    const topics = [...new Set([...this.partitions.values()].map((p) => p.topic))];
    const unknown = [...this.partitions.values()].some((p) => p.position === null);
    const committed = unknown && this.o.consumer.groupId ? await admin.fetchOffsets({ groupId: this.o.consumer.groupId, topics }) : [];
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      for (const e of ends) {
        const s = this.partitions.get(key({ topic, partition: e.partition }));
        if (!s) continue;
        s.end = BigInt(e.high);
        let at = s.position;
        if (at === null) {
          const c = committed.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === e.partition);
          // Nothing handled yet: the committed offset (or the log start) is where it stands.
          at = c && BigInt(c.offset) >= 0n ? BigInt(c.offset) : BigInt(e.low);
          if (at >= s.end) { s.position = at; s.movedAt = Date.now(); }
        }
        this.o.onLag?.(s, Number(s.end > at ? s.end - at : 0n));
      }
    }
  }

  private stalledPartitions(): (PartitionState & TopicPartition)[] {
    const now = Date.now();
    return [...this.partitions.values()].filter((p) => p.end !== null && p.end > (p.position ?? -1n) && now - p.movedAt > this.stallTimeoutMs);
  }

  health(): ProbeResult {
    if (this.stopping) return { ok: false, reason: 'stopping' };
    if (!this.running) return { ok: false, reason: `consumer not running${this.lastCrash ? ` (crashed: ${this.lastCrash}); re-creating it` : ''}` };
    if (!this.joined) return { ok: false, reason: 'consumer joining its group' };
    // A broker that cannot be reached: the consumer cannot make progress either, whatever it reports.
    if (this.checkFailingSince !== null) {
      return { ok: false, reason: `cannot reach Kafka (end offsets unreadable for ${Math.round((Date.now() - this.checkFailingSince) / 1000)} s): ${this.lastCheckError}` };
    }
    const stalled = this.stalledPartitions();
    this.metrics.stalled.set({ consumer: this.o.name }, stalled.length > 0 ? 1 : 0);
    if (stalled.length > 0) {
      const waiting = stalled.reduce((n, p) => n + Number(p.end! - (p.position ?? 0n)), 0);
      return { ok: false, reason: `no progress for over ${Math.floor(this.stallTimeoutMs / 1000)} s with ${waiting} records waiting`, stalled: stalled.map((p) => `${p.topic}/${p.partition}`) };
    }
    return { ok: true, partitions: this.partitions.size };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort();
    clearInterval(this.checkTimer);
    this.unregister?.();
    await this.recovering;
    await this.current?.stop();
    await this.admin?.disconnect().catch(() => {});
    this.metrics.up.set({ consumer: this.o.name }, 0);
  }
}
