/**
 * Durable hand-off of accepted messages to Kafka: `publish()` resolves only once the idempotent
 * producer (acks=-1) has the record acknowledged by the brokers, and rejects when Kafka fails or
 * does not answer within the deadline, so the SMTP side can answer 250 or 451 truthfully.
 *
 * Throughput without a linger delay: records wait in one queue and are sent in batches by
 * `lanes` producers, each with one batch in flight (group commit: while batches are in flight the
 * next one gathers). With one lane a record that arrives just after a batch left waits for that
 * batch's round trip and then its own; a second lane sends it at once — the broker's round trip,
 * not the SMTP side, is what each session waits for.
 *
 * Duplicate safety (why a 451 really means "not stored"), per lane:
 * - A record whose deadline passes while still queued was never sent: it is dropped and rejected.
 * - Any failed send, and any deadline passing while a batch is in flight, retires that lane's
 *   producer "generation": its Kafka client is severed (every socket destroyed, no new ones
 *   allowed), so no retry inside kafkajs can deliver that batch later, and the lane's next batch
 *   goes out under a new producer id. The new producer id matters too: kafkajs rolls its sequence
 *   numbers back after a failed request, and reusing them on the same producer id after a write
 *   that did land would make the broker take the next record for a duplicate and drop it.
 * - What remains is the one case no client can close: a produce request that had already reached
 *   the broker when the deadline passed (a hung or very slow broker) may still be written. The
 *   client's retry then creates a second record with the same envelope.messageSha256. This is
 *   bounded by the batches in flight (one per lane).
 */
import { createKafkaClient, type KafkaClient, type KafkaSettings, type Producer } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import { MAX_RECORD_BYTES } from '../runtime/topics.ts';

export class HandoffError extends Error {
  constructor(message: string, readonly reason: 'deadline' | 'kafka' | 'stopped' | 'too-large') {
    super(message);
    this.name = 'HandoffError';
  }
}

interface Item {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  timer?: NodeJS.Timeout;
  state: 'queued' | 'sent' | 'done';
  lane?: Lane;
  resolve(): void;
  reject(e: HandoffError): void;
}

interface Generation {
  n: number;
  client: KafkaClient;
  producer: Producer;
  retired: boolean;
}

/** One producer with at most one batch in flight. */
interface Lane {
  index: number;
  gen: Generation | undefined;
  connecting: Promise<Generation> | undefined;
  busy: boolean;
  inFlight: Set<Item>;
}

export interface HandoffOptions {
  kafkaSettings: KafkaSettings;
  deadlineMs: number;
  log: Logger;
  /** Part of the Kafka client id, to tell producers apart (default: none, i.e. the mail hand-off). */
  name?: string;
  /** Producers sending batches side by side (default 1). */
  lanes?: number;
}

// One batch stays well inside the topic's max.message.bytes (a batch is one Kafka record batch per partition).
const MAX_BATCH_BYTES = Math.floor(MAX_RECORD_BYTES * 0.75);
const MAX_BATCH_RECORDS = 500;

export class KafkaHandoff {
  private queue: Item[] = [];
  private readonly lanes: Lane[];
  private genCount = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: HandoffOptions) {
    this.lanes = Array.from({ length: Math.max(1, opts.lanes ?? 1) }, (_, index) => ({ index, gen: undefined, connecting: undefined, busy: false, inFlight: new Set<Item>() }));
  }

  /** Connects every lane's first producer, so a start-up without Kafka fails loudly. */
  async start(): Promise<void> {
    await Promise.all(this.lanes.map((l) => this.generation(l)));
  }

  get pending(): number {
    return this.queue.length + this.lanes.reduce((n, l) => n + l.inFlight.size, 0);
  }

  get generations(): number {
    return this.genCount;
  }

  publish(topic: string, key: string, value: Buffer, headers: Record<string, string> = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new HandoffError('the ingress is shutting down', 'stopped'));
    if (value.length > MAX_RECORD_BYTES) return Promise.reject(new HandoffError(`record of ${value.length} bytes exceeds ${MAX_RECORD_BYTES}`, 'too-large'));
    return new Promise<void>((resolve, reject) => {
      const item: Item = { topic, key, value, headers, state: 'queued', resolve, reject };
      item.timer = setTimeout(() => this.onDeadline(item), this.opts.deadlineMs);
      this.queue.push(item);
      this.dispatch();
    });
  }

  /** Waits for queued and in-flight records to settle (each within its deadline), then disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending > 0) await new Promise<void>((ok) => this.idleWaiters.push(ok));
    for (const lane of this.lanes) {
      const gen = lane.gen;
      lane.gen = undefined;
      if (gen) {
        gen.retired = true;
        await gen.producer.disconnect().catch(() => {});
        gen.client.sever();
      }
    }
  }

  private settle(item: Item, outcome: { ok: undefined } | { err: HandoffError }): void {
    if (item.state === 'done') return;
    item.state = 'done';
    clearTimeout(item.timer);
    item.lane?.inFlight.delete(item);
    item.value = EMPTY; // the record is Kafka's (or refused) now; do not keep it alive
    if ('ok' in outcome) item.resolve();
    else item.reject(outcome.err);
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private onDeadline(item: Item): void {
    if (item.state === 'queued') {
      this.queue = this.queue.filter((i) => i !== item);
      this.settle(item, { err: new HandoffError(`Kafka did not take the record within ${this.opts.deadlineMs} ms (never sent)`, 'deadline') });
    } else if (item.state === 'sent' && item.lane) {
      // The batch is on its way: sever that lane's producer so that no retry can land it after we said 451.
      const lane = item.lane;
      if (lane.gen) this.retire(lane, lane.gen, 'deadline passed while a batch was in flight');
      for (const other of [...lane.inFlight]) {
        this.settle(other, { err: new HandoffError(`Kafka did not acknowledge the record within ${this.opts.deadlineMs} ms`, 'deadline') });
      }
    }
  }

  private retire(lane: Lane, gen: Generation, why: string): void {
    if (gen.retired) return;
    gen.retired = true;
    if (lane.gen === gen) lane.gen = undefined;
    this.opts.log.warn({ lane: lane.index, generation: gen.n, why }, 'Kafka producer retired; the next batch uses a new producer');
    gen.client.sever();
    void gen.producer.disconnect().catch(() => {});
  }

  private generation(lane: Lane): Promise<Generation> {
    if (lane.gen && !lane.gen.retired) return Promise.resolve(lane.gen);
    lane.connecting ??= (async () => {
      const n = ++this.genCount;
      // Timeouts and retries sized so a send fails inside the deadline when Kafka is down; the
      // deadline timer covers the rest (a broker that accepts connections but never answers).
      const client = createKafkaClient(
        { ...this.opts.kafkaSettings, clientId: `${this.opts.kafkaSettings.clientId}-ingress${this.opts.name ? `-${this.opts.name}` : ''}-g${n}` },
        { connectionTimeoutMs: Math.min(3000, this.opts.deadlineMs / 3), requestTimeoutMs: this.opts.deadlineMs, retries: 2, initialRetryTimeMs: 100 },
      );
      const producer = client.producer({ retries: 3, initialRetryTimeMs: 100 });
      try {
        await producer.connect();
      } catch (e) {
        client.sever();
        throw e;
      }
      const gen: Generation = { n, client, producer, retired: false };
      lane.gen = gen;
      return gen;
    })().finally(() => {
      lane.connecting = undefined;
    });
    return lane.connecting;
  }

  /** Puts every idle lane to work while records wait. */
  private dispatch(): void {
    for (const lane of this.lanes) {
      if (this.queue.length === 0) return;
      if (!lane.busy) void this.pump(lane);
    }
  }

  private async pump(lane: Lane): Promise<void> {
    lane.busy = true;
    try {
      while (this.queue.length > 0) {
        let gen: Generation;
        try {
          gen = await this.generation(lane);
        } catch (e) {
          const err = new HandoffError(`Kafka unavailable: ${(e as Error).message}`, 'kafka');
          this.opts.log.warn({ err: (e as Error).message }, 'cannot connect a Kafka producer');
          // Everything waiting now would wait for the same broker: answer it, do not spin.
          for (const item of this.queue.splice(0)) this.settle(item, { err });
          break;
        }
        const batch = this.takeBatch(lane);
        if (batch.length === 0) continue;
        await this.sendBatch(lane, gen, batch);
      }
    } finally {
      lane.busy = false;
    }
  }

  private takeBatch(lane: Lane): Item[] {
    const batch: Item[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < MAX_BATCH_RECORDS) {
      const next = this.queue[0]!;
      if (batch.length > 0 && bytes + next.value.length > MAX_BATCH_BYTES) break;
      this.queue.shift();
      bytes += next.value.length;
      next.state = 'sent';
      next.lane = lane;
      lane.inFlight.add(next);
      batch.push(next);
    }
    return batch;
  }

  private async sendBatch(lane: Lane, gen: Generation, batch: Item[]): Promise<void> {
    const byTopic = new Map<string, Item[]>();
    for (const item of batch) {
      const list = byTopic.get(item.topic);
      if (list) list.push(item);
      else byTopic.set(item.topic, [item]);
    }
    try {
      await gen.producer.sendBatch({
        acks: -1,
        timeout: this.opts.deadlineMs,
        topicMessages: [...byTopic].map(([topic, items]) => ({
          topic,
          messages: items.map((i) => ({ key: i.key, value: i.value, headers: i.headers })),
        })),
      });
      if (gen.retired) return; // the deadline already answered these records with 451
      for (const item of batch) this.settle(item, { ok: undefined });
    } catch (e) {
      const err = new HandoffError(`Kafka did not acknowledge: ${(e as Error).message}`, 'kafka');
      this.opts.log.warn({ err: (e as Error).message, records: batch.length, lane: lane.index }, 'Kafka send failed');
      this.retire(lane, gen, `send failed: ${(e as Error).message}`);
      for (const item of batch) this.settle(item, { err });
    }
  }
}

const EMPTY = Buffer.alloc(0);
