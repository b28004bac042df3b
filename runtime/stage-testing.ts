/**
 * Test helpers for stream stages (used by runtime/stage.test.ts and each stage's tests): a service
 * context on the test stack, topics with unique names, MailRecords, a read_committed reader, and
 * a stage run as a child process that a test can SIGKILL, input that keeps it busy until the kill,
 * and a kill that shows it landed mid-run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { schema, type SchemaName } from '../schemas/index.ts';
import type { DecisionAction, DecisionSection, Envelope, MailRecord, MimeHeaders, MimeSection, SpamModelRecord } from '../schemas/types.ts';
import { clientKindFromEnv, createKafkaClient, memberPartitions, type Admin, type ClientKind, type KafkaClient, type MessageHeaders } from './kafka.ts';
import { HealthRegistry } from './health.ts';
import { loggerFor } from './log.ts';
import { RecordCodec } from './registry.ts';
import type { ServiceContext } from './service.ts';
import { eventually, testKafka, testRegistry, uniqueName } from './testing.ts';
import { topicConfig, type TopicSpec } from './topics.ts';
import { withDefaults, type RecordSchema } from './record-template.ts';

export function testServiceContext(name: string, client: ClientKind = clientKindFromEnv()): ServiceContext {
  const kafkaSettings = { ...testKafka(`test-${name}`), client };
  const registry = testRegistry();
  return {
    kafka: createKafkaClient(kafkaSettings),
    kafkaSettings,
    registry,
    codec: new RecordCodec(registry),
    log: loggerFor(name),
    metrics: new Registry(),
    env: process.env,
    dataDir: '.data/test',
    health: new HealthRegistry(),
  };
}

/**
 * A test file's context and admin client on the test stack; the admin connects before the file's
 * tests and disconnects after them. Call it at the top level of the file.
 */
export function testBroker(name: string, client?: ClientKind): { svc: ServiceContext; admin: Admin } {
  const svc = testServiceContext(name, client);
  const admin = svc.kafka.admin();
  before(() => admin.connect());
  after(() => admin.disconnect());
  return { svc, admin };
}

export interface StageTopics {
  input: string;
  output: string;
  deadLetters: string;
  groupId: string;
}

/** Unique input/output/dead-letter topics (configured like the real ones) and group for one test. */
export async function createStageTopics(admin: Admin, prefix: string, partitions = 3, opts: { replicationFactor?: number } = {}): Promise<StageTopics> {
  const t: StageTopics = { input: uniqueName(`${prefix}-in`), output: uniqueName(`${prefix}-out`), deadLetters: uniqueName(`${prefix}-dlq`), groupId: uniqueName(`${prefix}-group`) };
  const replicationFactor = opts.replicationFactor ?? 1;
  // On a cluster, as durable as the real topics (runtime/topics.ts): an acknowledged write is on two nodes.
  const cfg = { ...topicConfig({ cleanup: 'delete' } as TopicSpec), ...(replicationFactor >= 3 ? { 'min.insync.replicas': '2' } : {}) };
  await admin.createTopics({
    waitForLeaders: true,
    topics: [t.input, t.output, t.deadLetters].map((topic) => ({
      topic, numPartitions: partitions, replicationFactor,
      configEntries: Object.entries(cfg).map(([name, value]) => ({ name, value })),
    })),
  });
  return t;
}

export { templateEnvelope as testEnvelope, templateMailRecord as testMailRecord } from './record-template.ts';

/** A decision section with the given action and reasons, every other field at its schema default. */
export function testDecision(action: DecisionAction, reasons: string[] = [], over: Partial<DecisionSection> = {}): DecisionSection {
  return withDefaults<DecisionSection>(schema('DecisionSection').schema as unknown as RecordSchema, { action, reasons, spamScore: null, reputation: null, decidedAt: Date.now(), stageVersion: 't', ...over });
}

/**
 * A MIME section as the MIME stage writes one, for tests of what reads it (the console, the CLI),
 * built from the schema: the given headers and fields, every other at its schema default. Readers'
 * tests use it instead of the MIME parser, which is another stage's code.
 */
export function testMime(over: Omit<Partial<MimeSection>, 'headers'> & { headers?: Partial<MimeHeaders> } = {}): MimeSection {
  const section = schema('MimeSection').schema as unknown as RecordSchema;
  const headers = section.fields.find((f) => f.name === 'headers')!.type as RecordSchema;
  const { headers: given, ...rest } = over;
  return withDefaults<MimeSection>(section, { stageVersion: 't', parsedAt: Date.now(), headers: withDefaults<MimeHeaders>(headers, { ...given }), ...rest });
}

/**
 * A spam model record (schemas/spam-model.avsc) of counts over `tokens` ([token, ham, spam]), for
 * tests of what reads the model topics (the console's list, rollback): no trained model needed.
 */
export function testSpamModel(o: { version: string; source: string; trainedAt: number; tokens: [string, number, number][] } & Partial<Omit<SpamModelRecord, 'tokens'>>): SpamModelRecord {
  const { tokens, ...rest } = o;
  const sum = (i: 1 | 2) => tokens.reduce((n, t) => n + t[i], 0);
  return {
    format: 'scop-spam-bayes', formatVersion: 1, tokenizerVersion: 'test', nham: sum(1), nspam: sum(2), hamCutoff: 0.2, spamCutoff: 0.9,
    options: { unknownWordStrength: 0.45, unknownWordProb: 0.5, minimumProbStrength: 0.1, maxDiscriminators: 150 },
    tokens: tokens.map((t) => t[0]), hamCounts: tokens.map((t) => t[1]), spamCounts: tokens.map((t) => t[2]),
    linear: null, calibration: null, learner: null, domain: null, ...rest,
  };
}

/** Encodes and writes records (schema registered under the topic) and/or raw values, in one send. */
export async function produce(
  kafka: KafkaClient, codec: RecordCodec, topic: string, schema: SchemaName,
  items: ({ record: unknown; key?: string } | { raw: Buffer; key?: string })[],
): Promise<void> {
  const id = await codec.registerSchema(topic, schema);
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({
      topic, acks: -1,
      messages: items.map((it) => ({
        key: it.key ?? ('record' in it ? ((it.record as MailRecord).envelope?.id ?? null) : null),
        value: 'raw' in it ? it.raw : codec.encodeWith(id, schema, it.record),
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  key: string | null;
  value: Buffer;
  partition: number;
  offset: string;
  headers: MessageHeaders;
}

/**
 * Reads `topic` from the beginning as a fresh group until `expected` records arrived, then keeps
 * reading `settleMs` longer so duplicates would show. read_committed unless told otherwise.
 * A reader whose consumer crashes (e.g. while partition leadership moves after a broker loss)
 * starts over as a new group, up to READ_ATTEMPTS times within the timeout: a partial read is
 * dropped, so a restart never counts a record twice.
 */
export async function readTopic(kafka: KafkaClient, topic: string, expected: number, opts: { settleMs?: number; timeoutMs?: number; readUncommitted?: boolean } = {}): Promise<ReadRecord[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await readTopicOnce(kafka, topic, expected, Math.max(1000, deadline - Date.now()), opts);
    } catch (e) {
      if (!(e instanceof ReaderCrashed) || attempt >= READ_ATTEMPTS || Date.now() >= deadline) throw e instanceof ReaderCrashed ? e.cause : e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const READ_ATTEMPTS = 5;

/** The reader's consumer failed (not: too few records in time). */
class ReaderCrashed extends Error {
  constructor(override readonly cause: unknown) { super('reader crashed'); }
}

async function readTopicOnce(kafka: KafkaClient, topic: string, expected: number, timeoutMs: number, opts: { settleMs?: number; readUncommitted?: boolean }): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), readUncommitted: opts.readUncommitted ?? false, maxWaitTimeMs: 250 });
  const got = new DistinctRecords();
  let crashed: Error | undefined;
  try {
    try {
      await consumer.run({
        topics: [topic], fromBeginning: true, onCrash: (e) => { crashed = e; },
        eachBatch: async (b) => {
          for (const m of b.records) got.add({ key: m.key ? m.key.toString() : null, value: m.value ?? Buffer.alloc(0), partition: b.partition, offset: m.offset, headers: m.headers });
        },
      });
    } catch (e) {
      throw new ReaderCrashed(e);
    }
    // Polled here, not with eventually(): a crash must end this attempt at once, not at the timeout.
    const deadline = Date.now() + timeoutMs;
    while (got.records.length < expected) {
      if (crashed) throw new ReaderCrashed(crashed);
      if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expected} records on ${topic}: have ${got.records.length}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (opts.settleMs ?? 1000) await new Promise((r) => setTimeout(r, opts.settleMs ?? 1000));
    if (crashed) throw new ReaderCrashed(crashed);
  } finally {
    await consumer.stop().catch(() => {});
  }
  return got.records;
}

/**
 * What a reader has read, each record once. A record is its (partition, offset): after a rebalance
 * (the broker holding the reader's group coordinator killed, say) a reader may fetch a range again.
 * Counting those twice would end the read early and show the *reader's* at-least-once as duplicates
 * in the topic, which is what the tests that count duplicates must not see.
 */
export class DistinctRecords {
  readonly records: ReadRecord[] = [];
  private readonly seen = new Set<string>();
  add(r: ReadRecord): void {
    const at = `${r.partition}:${r.offset}`;
    if (this.seen.has(at)) return;
    this.seen.add(at);
    this.records.push(r);
  }
}

export interface StageChild {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

const CHILD = fileURLToPath(new URL('./stage.test-child.ts', import.meta.url));

/**
 * Runs the stage exported as `exportName` from `modulePath` in a child process (like `scop run`)
 * on the given topics; `env` is passed on (e.g. a fixture's delay).
 */
export function spawnStage(modulePath: string, exportName: string, topics: StageTopics, env: NodeJS.ProcessEnv = {}): StageChild {
  const child = fork(CHILD, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, STAGE_MODULE: modulePath, STAGE_EXPORT: exportName, STAGE_INPUT: topics.input, STAGE_OUTPUT: topics.output, STAGE_DLQ: topics.deadLetters, STAGE_GROUP: topics.groupId, STAGE_SESSION_TIMEOUT_MS: env.STAGE_SESSION_TIMEOUT_MS ?? '6000', LOG_LEVEL: env.LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  const ready = new Promise<void>((ok, fail) => {
    child.on('message', (m: { type?: string }) => { if (m?.type === 'ready') ok(); });
    child.once('exit', (code, signal) => fail(new Error(`stage child exited before ready (code ${code}, signal ${signal})`)));
  });
  ready.catch(() => {});
  return { child, ready, exited };
}

const partitionsOf = <T extends { partition: number }>(xs: T[], only?: readonly number[]) => xs.filter((p) => !only || only.includes(p.partition));

/** Sum of the group's committed offsets on the input, over `only` (every partition when omitted; none committed yet counts 0). */
export async function committedOnInput(admin: Admin, t: StageTopics, only?: readonly number[]): Promise<number> {
  const committed = partitionsOf(((await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] }))[0]?.partitions ?? []), only);
  return committed.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

/** Sum of the input's end offsets and of the group's committed offsets, over `only` (every partition when omitted). */
export async function inputProgress(admin: Admin, t: StageTopics, only?: readonly number[]): Promise<{ end: number; committed: number }> {
  const ends = partitionsOf(await admin.fetchTopicOffsets(t.input), only);
  return { end: ends.reduce((n, p) => n + Number(p.high), 0), committed: await committedOnInput(admin, t, only) };
}

/** Waits until the group has committed `n` records of its input, polling every `everyMs`; `onPoll` sees each count (a benchmark's progress line). */
export async function untilCommitted(admin: Admin, t: StageTopics, n: number, onPoll?: (done: number) => void, everyMs = 250): Promise<void> {
  for (let done = 0; done < n;) {
    await new Promise((r) => setTimeout(r, everyMs));
    done = await committedOnInput(admin, t);
    onPoll?.(done);
  }
}

export interface Feeder {
  /** Stops feeding (after the batch in flight) and returns every record produced, in order. */
  stop(): Promise<MailRecord[]>;
}

/**
 * Input that does not run dry while a crash test waits for its moment: whenever the group's backlog
 * (end offsets minus committed offsets) is below `backlog`, another `batch` records are produced.
 * A fixed amount produced up front drains before the kill on a fast or idle moment (the kill then
 * lands after the end, not mid-run); a topped-up backlog keeps the process busy whatever the speed,
 * and stays small, so the test's total work does not grow with the wait.
 */
export function feedBacklog(svc: { kafka: KafkaClient; codec: RecordCodec }, admin: Admin, t: StageTopics, make: (i: number) => MailRecord, o: { backlog: number; batch: number }): Feeder {
  const produced: MailRecord[] = [];
  let stopping = false;
  const progress = async () => {
    // A topic just created answers "not the leader" to offset requests for a moment.
    for (let failures = 0; ; failures++) {
      try {
        return await inputProgress(admin, t);
      } catch (e) {
        if (failures >= 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const loop = (async () => {
    while (!stopping) {
      const { end, committed } = await progress();
      if (end - committed < o.backlog) {
        const batch = Array.from({ length: o.batch }, (_, i) => make(produced.length + i));
        await produce(svc.kafka, svc.codec, t.input, 'MailRecord', batch.map((record) => ({ record })));
        produced.push(...batch);
      } else await new Promise((r) => setTimeout(r, 100));
    }
  })();
  loop.catch(() => {}); // reported by stop()
  return {
    async stop() {
      stopping = true;
      await loop;
      return produced;
    },
  };
}

/**
 * SIGKILLs a stage child at a point shown to be mid-run: the input's end offsets (of `partitions`,
 * every partition when omitted) are read right before the signal, the group's committed offsets
 * right after the process is gone. `committed < end` means the process died with input it had not
 * committed: the caller asserts it, and it fails only when the kill landed after the work was done.
 * (A surviving member may take the partitions over only after the dead one's session expires.)
 */
export async function killMidRun(admin: Admin, t: StageTopics, c: StageChild, partitions?: readonly number[]): Promise<{ end: number; committed: number; exit: number | null }> {
  const { end } = await inputProgress(admin, t, partitions);
  c.child.kill('SIGKILL');
  const exit = await c.exited;
  const { committed } = await inputProgress(admin, t, partitions);
  return { end, committed, exit };
}

/** The input partitions the group member whose Kafka client id starts with `clientId` holds now. */
export async function memberInputPartitions(admin: Admin, t: StageTopics, clientId: string): Promise<number[]> {
  const group = (await admin.describeGroups([t.groupId])).groups[0];
  const members = group?.members.filter((m) => m.clientId.startsWith(clientId)) ?? [];
  if (members.length !== 1) throw new Error(`${members.length} members of ${t.groupId} with client id ${clientId}`);
  return memberPartitions(members[0]!.memberAssignment)[t.input] ?? [];
}
