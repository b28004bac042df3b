/**
 * Runs index ranges [0, count) on worker threads with a progress bar (rate, ETA, mismatches so
 * far) and merges the tallies. Shared by the round trip and the differential run.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { Tally } from './tally.ts';

export interface PoolOptions {
  worker: URL;
  workerData: Record<string, unknown>;
  count: number;
  from?: number;
  workers?: number;
  chunk?: number;
  label: string;
  /** Progress bar on stderr (off in tests). */
  progress?: boolean;
}

export interface PoolResult {
  tally: Tally;
  seconds: number;
  /** CPU seconds of the whole process (all threads), a measure less moved by other load than wall time. */
  cpuSeconds: number;
  /**
   * CPU seconds the workers' threads spent on their ranges (what workers report as `cpuMicros`), without
   * their start (loading the code) and without the main thread: the cost of the checking itself.
   */
  workerCpuSeconds: number;
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export async function runPool(o: PoolOptions): Promise<PoolResult> {
  const from = o.from ?? 0;
  const end = from + o.count;
  const chunk = o.chunk ?? 200;
  const n = Math.max(1, Math.min(o.workers ?? defaultWorkers(), Math.ceil(o.count / chunk)));
  const tally = new Tally();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let next = from;
  let done = 0;
  let workerCpuMicros = 0;
  const bar = o.progress === false ? null : new cliProgress.SingleBar({
    format: `${o.label} {bar} {percentage}% | {value}/{total} | {rate} msg/s | ETA {eta_formatted} | mismatched {mismatched}`,
    etaBuffer: 200,
    fps: 2,
    noTTYOutput: true,
    notTTYSchedule: 15000,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  bar?.start(o.count, 0, { rate: '0', mismatched: 0 });
  await new Promise<void>((resolve, reject) => {
    let live = n;
    for (let w = 0; w < n; w++) {
      // Workers inherit the parent's execArgv (`--import tsx`), so they load TypeScript too.
      const worker = new Worker(o.worker, { workerData: o.workerData });
      const feed = () => {
        if (next >= end) { worker.postMessage(null); return; }
        const to = Math.min(end, next + chunk);
        worker.postMessage({ from: next, to });
        next = to;
      };
      worker.on('message', (m: { progress?: number; done?: ReturnType<Tally['toJSON']>; cpuMicros?: number }) => {
        if (m.progress) {
          done += m.progress;
          const rate = done / ((performance.now() - t0) / 1000);
          bar?.update(done, { rate: rate.toFixed(0), mismatched: tally.mismatched });
        }
        if (m.done) {
          tally.merge(m.done);
          workerCpuMicros += m.cpuMicros ?? 0;
          feed();
        }
      });
      worker.on('error', reject);
      worker.on('exit', () => { if (--live === 0) resolve(); });
      feed();
    }
  });
  bar?.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(0), mismatched: tally.mismatched });
  bar?.stop();
  const cpu = process.cpuUsage(c0);
  return { tally, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, workerCpuSeconds: workerCpuMicros / 1e6 };
}
