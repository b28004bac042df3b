/** Round-trip worker: checks the index ranges the main thread sends, answers with tallies. */
import { parentPort, workerData } from 'node:worker_threads';
import { checkMessage } from './check.ts';
import { Tally } from './tally.ts';

const { seed, maxDepth } = workerData as { seed: string; maxDepth: number };
if (!parentPort) throw new Error('worker.ts runs as a worker thread');
const port = parentPort;

port.on('message', async (job: { from: number; to: number } | null) => {
  if (job === null) return process.exit(0);
  const tally = new Tally();
  for (let i = job.from; i < job.to; i++) {
    try {
      tally.add(await checkMessage(seed, i, { maxDepth }));
    } catch (e) {
      tally.error(i, e as Error);
    }
    if ((i - job.from) % 100 === 99) port.postMessage({ progress: 100 });
  }
  port.postMessage({ progress: (job.to - job.from) % 100, done: tally.toJSON() });
});
