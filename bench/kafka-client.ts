/**
 * The two Kafka clients behind runtime/kafka.ts, measured side by side in one run (same broker,
 * same records, rounds interleaved so a busy box hurts both alike):
 *   1. idempotent produce (acks=all): records/s and CPU ms per 1,000 records;
 *   2. consumer fetch (read_committed, a fresh group, no work): records/s and CPU;
 *   3. transactional read-process-write (the stages' pattern: per partition chunk, the records
 *      copied to an output topic + the consumed offsets in one transaction): records/s, commit
 *      latency p50/p99 (one TransactionalWriter.commit call) and CPU.
 * Prints a table per client and the ratios platformatic / kafkajs.
 *
 * Run: `npm run bench -- kafka-client [records=20000] [rounds=2]` (KAFKA_BROKERS=… to use a running
 * broker; otherwise it starts a local one in .data/bench-kafka-client and stops it at the end).
 * Bounded: every phase gives up after 3 minutes.
 */
import { performance } from 'node:perf_hooks';
import { benchKafka } from './lib/bench-kafka.ts';
import { CLIENT_KINDS, createKafkaClient, type Batch, type ClientKind, type KafkaClient, type KafkaSettings, type OutRecord } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { uniqueName } from '../runtime/testing.ts';

const N = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 2);
const PARTITIONS = 3;
const VALUE_BYTES = 2048;
const CHUNK = 100;
const LIMIT_MS = 180_000;
const log = loggerFor('bench-kafka-client');
log.level = 'warn';

interface Result { produce: number; produceCpu: number; fetch: number; fetchCpu: number; rpw: number; rpwCpu: number; commits: number[] }

const cpuMs = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + LIMIT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not done within ${LIMIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function round(settings: KafkaSettings, kind: ClientKind): Promise<Result> {
  const kafka: KafkaClient = createKafkaClient({ ...settings, client: kind, clientId: `bench-${kind}` });
  const admin = kafka.admin();
  await admin.connect();
  const input = uniqueName(`bench-${kind}-in`);
  const output = uniqueName(`bench-${kind}-out`);
  await admin.createTopics({ waitForLeaders: true, topics: [input, output].map((topic) => ({ topic, numPartitions: PARTITIONS })) });
  const value = Buffer.alloc(VALUE_BYTES, 0x61);

  // 1. Idempotent produce: batches of 100 records, 4 sends in flight (as a busy ingress would).
  const producer = kafka.producer();
  await producer.connect();
  let c0 = cpuMs();
  let t0 = performance.now();
  let next = 0;
  const sender = async () => {
    while (next < N) {
      const from = next;
      next += 100;
      await producer.send({ topic: input, acks: -1, messages: Array.from({ length: Math.min(100, N - from) }, (_, i) => ({ key: `k${from + i}`, value })) });
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  const produceS = (performance.now() - t0) / 1000;
  const produceCpu = cpuMs() - c0;
  await producer.disconnect();

  // 2. Fetch: a fresh group reads everything, no work per record.
  let read = 0;
  const reader = kafka.consumer({ groupId: uniqueName('bench-read'), maxWaitTimeMs: 100 });
  c0 = cpuMs();
  t0 = performance.now();
  await reader.run({ topics: [input], fromBeginning: true, partitionsConcurrently: PARTITIONS, onCrash: (e) => { throw e; }, eachBatch: async (b) => { read += b.records.length; } });
  await until('fetch', () => read >= N);
  const fetchS = (performance.now() - t0) / 1000;
  const fetchCpu = cpuMs() - c0;
  await reader.stop();

  // 3. Read-process-write: chunks of up to 100 records per transaction, offsets inside it.
  let copied = 0;
  const commits: number[] = [];
  const rpw = kafka.consumer({ groupId: uniqueName('bench-rpw'), maxWaitTimeMs: 100 });
  const writer = rpw.transactions({ log });
  c0 = cpuMs();
  t0 = performance.now();
  await rpw.run({
    topics: [input], fromBeginning: true, partitionsConcurrently: PARTITIONS, onCrash: (e) => log.error({ err: e.message }, 'rpw consumer crashed'),
    eachBatch: async (b: Batch) => {
      for (let i = 0; i < b.records.length; i += CHUNK) {
        const chunk = b.records.slice(i, i + CHUNK);
        const out: OutRecord[] = chunk.map((m) => ({ topic: output, key: m.key, value: m.value }));
        const last = i + CHUNK >= b.records.length;
        const s = performance.now();
        await writer.commit(b, out, last ? b.nextOffset : BigInt(chunk[chunk.length - 1]!.offset) + 1n);
        commits.push(performance.now() - s);
        copied += chunk.length;
      }
    },
  });
  await until('read-process-write', () => copied >= N);
  const rpwS = (performance.now() - t0) / 1000;
  const rpwCpu = cpuMs() - c0;
  await rpw.stop();
  await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
  await admin.disconnect();
  return { produce: N / produceS, produceCpu: (produceCpu / N) * 1000, fetch: N / fetchS, fetchCpu: (fetchCpu / N) * 1000, rpw: N / rpwS, rpwCpu: (rpwCpu / N) * 1000, commits };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const kafka = await benchKafka('kafka-client');
  const brokers = kafka.brokers;
  const settings: KafkaSettings = { brokers, clientId: 'bench' };
  const results = new Map<ClientKind, Result[]>(CLIENT_KINDS.map((k) => [k, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order so neither client always runs on a warmer broker.
      const order = r % 2 === 0 ? [...CLIENT_KINDS] : [...CLIENT_KINDS].reverse();
      for (const kind of order) {
        process.stderr.write(`round ${r + 1}/${ROUNDS}: ${kind} …\n`);
        results.get(kind)!.push(await round(settings, kind));
      }
    }
  } finally {
    await kafka.stop();
  }
  const summary = new Map(CLIENT_KINDS.map((k) => {
    const rs = results.get(k)!;
    const commits = rs.flatMap((x) => x.commits).sort((a, b) => a - b);
    return [k, {
      produce: mean(rs.map((x) => x.produce)), produceCpu: mean(rs.map((x) => x.produceCpu)),
      fetch: mean(rs.map((x) => x.fetch)), fetchCpu: mean(rs.map((x) => x.fetchCpu)),
      rpw: mean(rs.map((x) => x.rpw)), rpwCpu: mean(rs.map((x) => x.rpwCpu)),
      p50: pct(commits, 50), p99: pct(commits, 99), commits: commits.length,
    }];
  }));
  const k = summary.get('kafkajs')!, p = summary.get('platformatic')!;
  const row = (name: string, a: number, b: number, unit: string, digits = 0) =>
    `${name.padEnd(38)} ${a.toFixed(digits).padStart(10)} ${b.toFixed(digits).padStart(13)}  ${unit.padEnd(12)} ${(b / a).toFixed(2).padStart(6)}`;
  console.log(`\n${N} records of ${VALUE_BYTES} B, ${PARTITIONS} partitions, ${ROUNDS} rounds per client (means), node ${process.version}`);
  console.log(`${''.padEnd(38)} ${'kafkajs'.padStart(10)} ${'platformatic'.padStart(13)}  ${''.padEnd(12)} ${'ratio'.padStart(6)}`);
  console.log(row('idempotent produce', k.produce, p.produce, 'records/s'));
  console.log(row('  CPU', k.produceCpu, p.produceCpu, 'ms/1k rec', 1));
  console.log(row('consumer fetch (read_committed)', k.fetch, p.fetch, 'records/s'));
  console.log(row('  CPU', k.fetchCpu, p.fetchCpu, 'ms/1k rec', 1));
  console.log(row('transactional read-process-write', k.rpw, p.rpw, 'records/s'));
  console.log(row('  CPU', k.rpwCpu, p.rpwCpu, 'ms/1k rec', 1));
  console.log(row('  commit latency p50', k.p50, p.p50, 'ms', 1));
  console.log(row('  commit latency p99', k.p99, p.p99, 'ms', 1));
  console.log(row('  transactions', k.commits, p.commits, 'commits'));
  console.log('ratio = platformatic / kafkajs (above 1: platformatic higher; for CPU and latency lower is better)');
}

main().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });
