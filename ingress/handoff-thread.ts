/**
 * The Kafka hand-off on a worker thread of its own. Profiling the ingress under load (`npm run
 * bench -- ingress` with --cpu-prof) showed its main thread spending about 0.6 ms per message
 * against the no-op smtp-server's 0.2 ms, and about half of the difference in the Kafka client:
 * request encoding (kafkajs copies each record several times into zero-filled buffers that grow by
 * doubling), CRC-32C in JavaScript, and the garbage collections those allocations cause. SMTP stays
 * on the main thread; records go to the worker (the buffer is transferred, not copied) and the
 * worker answers each with its outcome.
 *
 * The semantics are KafkaHandoff's, unchanged: publish() resolves only after the brokers
 * acknowledged, rejects with a HandoffError otherwise, and the worker enforces the deadline and
 * severs a producer whose batch timed out. As a backstop for a worker that stops answering, a
 * record still unanswered 5 s after its deadline terminates the worker — which destroys its
 * sockets, so nothing it held can be written later — fails everything it held, and a new worker
 * takes over.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../runtime/log.ts';
import { HandoffError, type HandoffOptions } from './handoff.ts';
import type { FromWorker, Outgoing, ToWorker, WorkerOptions } from './handoff-worker.ts';

const BACKSTOP_MS = 5000;

interface Waiting { resolve(): void; reject(e: HandoffError): void; due: number }

interface Thread { worker: Worker; waiting: Map<number, Waiting>; ready: Promise<void>; stopped?: Promise<void> }

export class ThreadedHandoff {
  private thread: Thread | undefined;
  private outbox: Outgoing[] = [];
  private outboxThread: Thread | undefined;
  private transfer: ArrayBuffer[] = [];
  private nextId = 1;
  private stopping = false;
  private readonly backstop: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly options: WorkerOptions;

  constructor(opts: HandoffOptions) {
    const { log, ...rest } = opts;
    this.log = log;
    this.options = rest;
    this.backstop = setInterval(() => this.checkBackstop(), 1000);
    this.backstop.unref();
  }

  get pending(): number {
    return this.thread?.waiting.size ?? 0;
  }

  async start(): Promise<void> {
    await this.spawn().ready;
  }

  /** Sends `value` under `key` (the record id; also sent as the scop-record-id header). */
  publish(topic: string, key: string, value: Buffer): Promise<void> {
    if (this.stopping) return Promise.reject(new HandoffError('the ingress is shutting down', 'stopped'));
    const thread = this.thread ?? this.spawn();
    if (this.outbox.length > 0 && this.outboxThread !== thread) this.flush();
    this.outboxThread = thread;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      thread.waiting.set(id, { resolve, reject, due: Date.now() + this.options.deadlineMs + BACKSTOP_MS });
      // A buffer that owns its memory moves to the worker without a copy; a view into a shared pool is copied.
      const owns = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength && value.buffer instanceof ArrayBuffer;
      if (owns) this.transfer.push(value.buffer as ArrayBuffer);
      this.outbox.push([id, topic, key, value]);
      if (this.outbox.length === 1) setImmediate(() => this.flush());
    });
  }

  /** One message for everything published during this turn of the event loop. */
  private flush(): void {
    const thread = this.outboxThread;
    const records = this.outbox;
    if (!thread || records.length === 0) return;
    const transfer = this.transfer;
    this.outbox = [];
    this.transfer = [];
    thread.worker.postMessage({ type: 'publish', records } satisfies ToWorker, transfer);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.backstop);
    const thread = this.thread;
    if (!thread) return;
    await thread.ready.catch(() => {});
    thread.stopped ??= new Promise<void>((ok) => {
      thread.worker.once('exit', () => ok());
      thread.worker.on('message', (m: FromWorker) => { if (m.type === 'stopped') void thread.worker.terminate(); });
      thread.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    });
    await thread.stopped;
  }

  private spawn(): Thread {
    const worker = new Worker(new URL('./handoff-worker.ts', import.meta.url), { workerData: this.options, execArgv: tsxExecArgv() });
    const waiting = new Map<number, Waiting>();
    const ready = new Promise<void>((ok, fail) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'started') ok();
        else if (m.type === 'start-failed') fail(new Error(m.message));
        else if (m.type === 'settled') {
          for (const o of m.outcomes) {
            const w = waiting.get(o.id);
            if (!w) continue;
            waiting.delete(o.id);
            if ('reason' in o) w.reject(new HandoffError(o.message, o.reason));
            else w.resolve();
          }
        }
      });
      worker.once('error', (e) => fail(e));
    });
    const thread: Thread = { worker, waiting, ready };
    worker.once('error', (e) => this.fail(thread, `the Kafka hand-off thread failed: ${e.message}`));
    worker.once('exit', (code) => this.fail(thread, `the Kafka hand-off thread exited (${code})`));
    ready.catch(() => {});
    this.thread = thread;
    return thread;
  }

  /** Answers everything the thread held with 451 and forgets the thread (the next publish spawns a new one). */
  private fail(thread: Thread, why: string): void {
    if (this.thread === thread) this.thread = undefined;
    if (thread.waiting.size === 0) return;
    if (!this.stopping) this.log.warn({ why, records: thread.waiting.size }, 'Kafka hand-off thread lost; its records are answered 451');
    for (const w of thread.waiting.values()) w.reject(new HandoffError(why, 'kafka'));
    thread.waiting.clear();
  }

  private checkBackstop(): void {
    const thread = this.thread;
    if (!thread) return;
    const now = Date.now();
    for (const w of thread.waiting.values()) {
      if (w.due > now) continue;
      this.log.error({ records: thread.waiting.size }, 'the Kafka hand-off thread did not answer in time: terminating it (its sockets die with it)');
      this.fail(thread, 'the Kafka hand-off thread did not answer in time');
      void thread.worker.terminate();
      return;
    }
  }
}

/**
 * The worker is TypeScript: it needs the loader this process was started with (--import tsx). CPU
 * profiling flags carry over too, so `--cpu-prof` profiles the hand-off thread as well.
 */
function tsxExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--import' || a === '--require' || a === '-r' || a === '--cpu-prof-dir') && argv[i + 1]) out.push(a, argv[++i]!);
    else if (/^--(import|require|cpu-prof-dir)=/.test(a) || a === '--cpu-prof') out.push(a);
  }
  return out;
}
