/**
 * Worker threads for CPU-bound per-record work that a time limit must be able to stop.
 *
 * JavaScript cannot interrupt a synchronous loop on the event loop's thread: a parser or regex that
 * runs for a minute on a hostile message blocks the whole process (the stage's per-record timer never
 * fires, consumer heartbeats stop, the group rebalances and the record comes back). Work run here is
 * stopped for real: when its time is up (or the caller's signal aborts) the worker thread running it
 * is terminated and replaced, the task rejects with CpuTaskTimeoutError / CpuTaskAbortedError, and
 * the caller goes on. Each worker has its own heap limit, so an allocation bomb kills a worker, not
 * the process.
 *
 * Built on piscina (workers, respawn, abort → terminate). This module keeps the queue itself and hands
 * piscina a task only when a thread is free, so a task's time limit counts from when it starts (a
 * task waiting behind a stuck one is not timed out with it); it adds typed errors, TypeScript worker
 * modules and metrics. A worker module's default export is the task
 * function (it may be async; its argument and result are structured-cloned).
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Registry } from 'prom-client';
import { counterOn, histogramOn } from './metrics.ts';

export interface CpuPoolOptions {
  /** Names the pool in metrics and errors. */
  name: string;
  /** The worker module; a `.ts` module runs through tsx, as the rest of scop. */
  module: URL;
  /** Worker threads (each runs one task at a time). */
  threads: number;
  /** Per-task limit (ms), counted from when a thread takes the task: past it the worker is terminated and replaced, and the task rejects with CpuTaskTimeoutError. */
  timeoutMs: number;
  /** Tasks waiting for a thread; one more is refused at once with CpuPoolFullError (default threads × 256). */
  maxQueue?: number;
  /** Heap limit of each worker (MB). */
  maxHeapMb?: number;
  /** Metrics go here (scop_cpu_pool_*), labelled with the pool's name. */
  registry?: Registry;
}

export interface CpuRunOptions {
  /** Aborting it stops the task (terminating its worker if it is running). */
  signal?: AbortSignal;
  /** Overrides the pool's timeoutMs for this task. */
  timeoutMs?: number;
  /** ArrayBuffers in the task moved to the worker rather than copied (they are detached here once the task is sent). */
  transferList?: ArrayBuffer[];
}

export class CpuTaskTimeoutError extends Error {
  override name = 'CpuTaskTimeoutError';
}
export class CpuTaskAbortedError extends Error {
  override name = 'CpuTaskAbortedError';
}
export class CpuPoolFullError extends Error {
  override name = 'CpuPoolFullError';
}

type Outcome = 'ok' | 'error' | 'timeout' | 'aborted' | 'refused';
const OUTCOMES: Outcome[] = ['ok', 'error', 'timeout', 'aborted', 'refused'];

/**
 * A pool's metrics, its series at zero. A user that starts its pool lazily (at the first large
 * input) calls this at its own start, so the series exist before the first task and the first
 * task's increase is visible to rate() and the dashboard.
 */
export function cpuPoolMetrics(registry: Registry, pool: string) {
  const tasks = counterOn(registry, { name: 'scop_cpu_pool_tasks_total', help: 'Tasks run in worker threads, by pool and outcome (timeout and aborted terminated their worker).', labelNames: ['pool', 'outcome'] as const });
  const seconds = histogramOn(registry, { name: 'scop_cpu_pool_task_seconds', help: 'Time from submitting a task to its result, queueing included.', labelNames: ['pool'] as const, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5] });
  for (const outcome of OUTCOMES) tasks.inc({ pool, outcome }, 0);
  seconds.zero({ pool });
  return { tasks, seconds };
}

export class CpuPool<T, R> {
  private readonly pool: Piscina<T, R>;
  private readonly tasks?: { inc(labels: { pool: string; outcome: Outcome }): void };
  private readonly seconds?: { observe(labels: { pool: string }, v: number): void };
  private closed = false;
  private running = 0;
  /** Tasks waiting for a thread, oldest first. */
  private readonly waiting: { start(): void; cancel(e: Error): void }[] = [];

  constructor(private readonly options: CpuPoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new Error(`cpu pool ${options.name}: threads must be a positive integer (got ${options.threads})`);
    if (!(options.timeoutMs > 0)) throw new Error(`cpu pool ${options.name}: timeoutMs must be positive (got ${options.timeoutMs})`);
    const filename = fileURLToPath(options.module);
    this.pool = new Piscina<T, R>({
      filename,
      name: 'default',
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: 60_000,
      maxQueue: 0, // tasks reach piscina only when a thread is free (see run)
      // A TypeScript worker module loads through tsx, as every scop process does (cli/bin/scop.js).
      execArgv: filename.endsWith('.ts') ? ['--import', 'tsx'] : [],
      resourceLimits: options.maxHeapMb ? { maxOldGenerationSizeMb: options.maxHeapMb } : undefined,
      recordTiming: false,
    });
    // A worker that dies between tasks is replaced by piscina; nothing to do but not crash on the event.
    this.pool.on('error', () => undefined);
    if (options.registry) ({ tasks: this.tasks, seconds: this.seconds } = cpuPoolMetrics(options.registry, options.name));
  }

  get threads(): number {
    return this.options.threads;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves when a thread is free for this task (FIFO); rejects if the signal aborts first. */
  private async slot(signal?: AbortSignal): Promise<void> {
    if (this.running < this.options.threads && this.waiting.length === 0) {
      this.running++;
      return;
    }
    const maxQueue = this.options.maxQueue ?? this.options.threads * 256;
    if (this.waiting.length >= maxQueue) throw new CpuPoolFullError(`cpu pool ${this.options.name}: ${this.waiting.length} tasks already waiting`);
    await new Promise<void>((resolve, reject) => {
      const entry = {
        start: () => { signal?.removeEventListener('abort', onAbort); this.running++; resolve(); },
        cancel: (e: Error) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new CpuTaskAbortedError(`cpu pool ${this.options.name}: task aborted while waiting for a thread (${String(signal?.reason?.message ?? signal?.reason)})`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private release(): void {
    this.running--;
    const next = this.waiting.shift();
    if (next) next.start();
  }

  /** Runs one task in a worker. Rejects with CpuTaskTimeoutError past the time limit, CpuTaskAbortedError when `signal` aborts, the task's own error when it throws. */
  async run(task: T, opts: CpuRunOptions = {}): Promise<R> {
    const { name } = this.options;
    if (this.closed) throw new Error(`cpu pool ${name} is closed`);
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs;
    const t0 = performance.now();
    const done = (outcome: Outcome) => {
      this.tasks?.inc({ pool: name, outcome });
      this.seconds?.observe({ pool: name }, (performance.now() - t0) / 1000);
    };
    if (opts.signal?.aborted) {
      done('aborted');
      throw new CpuTaskAbortedError(`cpu pool ${name}: task aborted before it started`);
    }
    try {
      await this.slot(opts.signal);
    } catch (e) {
      done(e instanceof CpuPoolFullError ? 'refused' : 'aborted');
      throw e;
    }
    // The clock starts now: a thread is free (or being respawned) for this task.
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    try {
      const result = await this.pool.run(task, { signal, transferList: opts.transferList });
      done('ok');
      return result;
    } catch (e) {
      if (opts.signal?.aborted) {
        done('aborted');
        throw new CpuTaskAbortedError(`cpu pool ${name}: task aborted (${String(opts.signal.reason?.message ?? opts.signal.reason)})`, { cause: e });
      }
      if (timeout.aborted) {
        done('timeout');
        throw new CpuTaskTimeoutError(`cpu pool ${name}: task took longer than ${timeoutMs} ms; its worker was terminated`, { cause: e });
      }
      done('error');
      throw e;
    } finally {
      this.release();
    }
  }

  /** Stops every worker (running tasks are aborted). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.cancel(new CpuTaskAbortedError(`cpu pool ${this.options.name} closed`));
    await this.pool.destroy();
  }
}

export interface BoundedWorkerOptions<I> {
  /** The pool, started at the first input past `inlineUpTo` (its metrics series from the start). */
  pool: CpuPoolOptions;
  /** Inputs whose size is at most this run on the caller's thread (0: none), where the worker hop would cost more than the work. */
  inlineUpTo: number;
  /** What the work's cost grows with (bytes, characters). */
  sizeOf(input: I): number;
  /** The setting that sets pool.timeoutMs (e.g. MIME_PARSE_TIMEOUT_MS): a timeout's error names it, and so does the dead letter. */
  timeoutKey: string;
  /** The work on an input of `size`, as a timeout's error starts (e.g. `MIME parse of a 70000-byte message`). */
  describe(size: number): string;
}

/** A stage's CPU-bound step: small inputs inline, large ones in a lazily started pool whose time limit names its setting. */
export interface BoundedWorker<I, T, R> {
  /** Whether `input` is small enough to run on the caller's thread. */
  inline(input: I): boolean;
  /** Runs `task` (made from `input`) in the pool; a timeout rejects with a CpuTaskTimeoutError naming timeoutKey. */
  run(input: I, task: T, opts?: Omit<CpuRunOptions, 'timeoutMs'>): Promise<R>;
  close(): Promise<void>;
}

export function boundedWorker<I, T, R>(opts: BoundedWorkerOptions<I>): BoundedWorker<I, T, R> {
  const { pool: poolOptions } = opts;
  // The series from the stage's start, the threads only when needed: a stage that sees only small inputs runs none.
  if (poolOptions.registry) cpuPoolMetrics(poolOptions.registry, poolOptions.name);
  let pool: CpuPool<T, R> | null = null;
  return {
    inline: (input) => opts.sizeOf(input) <= opts.inlineUpTo,
    async run(input, task, runOpts) {
      try {
        return await (pool ??= new CpuPool<T, R>(poolOptions)).run(task, runOpts);
      } catch (e) {
        // The dead letter's error (reason process-timeout, runtime/stage.ts) names the limit to raise, if it ever should be.
        if (e instanceof CpuTaskTimeoutError) throw new CpuTaskTimeoutError(`${opts.describe(opts.sizeOf(input))} took longer than ${poolOptions.timeoutMs} ms (${opts.timeoutKey}); its worker thread was terminated`, { cause: e });
        throw e;
      }
    },
    async close() {
      await pool?.close();
    },
  };
}
