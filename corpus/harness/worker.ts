/**
 * Round-trip worker: checks the index ranges the main thread sends, answers with tallies. A few
 * messages are in flight at once: mailparser yields to the event loop after every chunk, and with
 * several parses waiting one turn of the loop serves them all (about a tenth less CPU than one at a time).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkMessage } from './check.ts';
import { Tally } from './tally.ts';

const IN_FLIGHT = 4;
const { seed, maxDepth } = workerData as { seed: string; maxDepth: number };
if (!parentPort) throw new Error('worker.ts runs as a worker thread');
const port = parentPort;

port.on('message', async (job: { from: number; to: number } | null) => {
  if (job === null) return process.exit(0);
  const tally = new Tally();
  const cpu0 = process.threadCpuUsage();
  let next = job.from;
  let reported = 0;
  let done = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < job.to) {
      const i = next++;
      try {
        tally.add(await checkMessage(seed, i, { maxDepth }));
      } catch (e) {
        tally.error(i, e as Error);
      }
      if (++done - reported >= 100) {
        port.postMessage({ progress: done - reported });
        reported = done;
      }
    }
  }));
  const cpu = process.threadCpuUsage(cpu0);
  port.postMessage({ progress: done - reported, done: tally.toJSON(), cpuMicros: cpu.user + cpu.system });
});
