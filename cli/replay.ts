/**
 * `scop replay --topic T --from <time|offset>`: re-reads a topic for analysts. Each record is
 * decoded with the schema it was written with (registry) and printed as one JSON line (bytes as
 * base64, or left out with --no-raw); a progress bar with rate and ETA goes to stderr.
 */
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import type { KafkaClient, KafkaMessage } from '../runtime/kafka.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { cliClients } from './compacted.ts';
import { progressBar } from './progress.ts';
import { printableJson } from './terminal.ts';
import { parseStartAt, readTopicRange, type StartAt } from '../runtime/topic-reader.ts';

export interface ReplayOptions { topic: string; from: StartAt; raw: boolean; out: NodeJS.WritableStream; quiet?: boolean; limit?: number }

function jsonable(v: unknown, raw: boolean): unknown {
  if (Buffer.isBuffer(v)) return raw ? { base64: v.toString('base64') } : { bytes: v.length };
  if (Array.isArray(v)) return v.map((x) => jsonable(x, raw));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x, raw)]));
  return v;
}

export async function replay(kafka: KafkaClient, codec: RecordCodec, opts: ReplayOptions): Promise<{ read: number; total: number }> {
  const bar = progressBar(`replay ${opts.topic}`, 'rec', opts.quiet);
  try {
    return await readTopicRange(kafka, opts.topic, opts.from, async (m: KafkaMessage, partition: number) => {
      let value: unknown = null;
      if (m.value) {
        try {
          value = await codec.decode(m.value);
        } catch (e) {
          value = { undecodable: (e as Error).message, base64: m.value.toString('base64') };
        }
      }
      const line = printableJson({ partition, offset: m.offset, timestamp: Number(m.timestamp), key: m.key?.toString() ?? null, value: jsonable(value, opts.raw) });
      if (!opts.out.write(`${line}\n`)) await new Promise((ok) => opts.out.once('drain', ok));
    }, (p) => bar.update(p.read, p.total));
  } finally {
    bar.stop();
  }
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('re-read a topic from a time or offset: one JSON line per record (progress, rate and ETA on stderr)')
    .requiredOption('--topic <topic>', 'topic to read')
    .option('--from <time|offset>', 'beginning, an offset (applies to every partition), or a time (ISO 8601, or epoch ms as 1738324800000ms)', 'beginning')
    .option('--out <file>', 'write the lines here instead of stdout')
    .option('--no-raw', 'leave byte fields out (only their length)')
    .action(async (opts: { topic: string; from: string; out?: string; raw: boolean }) => {
      const { kafka, codec } = await cliClients({ command: 'replay' });
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      const r = await replay(kafka, codec, { topic: opts.topic, from: parseStartAt(opts.from), raw: opts.raw, out });
      if (opts.out) await new Promise((ok) => (out as ReturnType<typeof createWriteStream>).end(ok));
      console.error(`${r.read} records from ${opts.topic}`);
      process.exit(0);
    });
}
