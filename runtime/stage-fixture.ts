/**
 * A stage for runtime/stage.test.ts: copies MailRecords through, marking them processed. The raw
 * body steers it: `THROW…` makes process() throw, `HANG…` never returns; FIXTURE_DELAY_MS slows
 * every record (so a test can kill it mid-stream).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineStage } from './stage.ts';
import { TOPICS } from './topics.ts';

const delayMs = Number(process.env.FIXTURE_DELAY_MS ?? 0);

export const fixtureStage = defineStage({
  name: 'fixture',
  version: '0.0.1',
  description: 'test fixture: copies records through',
  input: TOPICS.inboundRaw,
  output: TOPICS.inboundRaw,
  defaultMetricsPort: 0,
  processTimeoutMs: 1500,
  maxRecordsPerTransaction: 20,
  async process(record, ctx) {
    const head = record.envelope.raw.subarray(0, 5).toString('latin1');
    if (head === 'THROW') throw new Error('fixture refused this record');
    if (head === 'HANG.') await new Promise((_, fail) => ctx.signal.addEventListener('abort', () => fail(new Error('aborted')))); // until the time limit
    if (delayMs) await sleep(delayMs);
    return { ...record, envelope: { ...record.envelope, helo: `processed:${record.envelope.helo}` } };
  },
});
