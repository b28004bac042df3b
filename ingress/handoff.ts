/**
 * Durable hand-off of accepted messages to Kafka: `publish()` resolves only once the idempotent
 * producer (acks=-1) has the record acknowledged by the brokers, and rejects when Kafka fails or
 * does not answer within the deadline, so the SMTP side can answer 250 or 451 truthfully.
 *
 * Duplicate safety (why a 451 really means "not stored"):
 * - Records wait in a queue and are sent in batches (group commit: while one batch is in flight
 *   the next one gathers), which keeps throughput up without a linger delay.
 * - A record whose deadline passes while still queued was never sent: it is dropped and rejected.
 * - Any failed send, and any deadline passing while a batch is in flight, retires the whole
 *   producer "generation": its Kafka client is severed (every socket destroyed, no new ones
 *   allowed), so no retry inside kafkajs can deliver that batch later, and the next batch goes
 *   out under a new producer id. The new producer id matters too: kafkajs rolls its sequence
 *   numbers back after a failed request, and reusing them on the same producer id after a write
 *   that did land would make the broker take the next record for a duplicate and drop it.
 * - What remains is the one case no client can close: a produce request that had already reached
 *   the broker when the deadline passed (a hung or very slow broker) may still be written. The
 *   client's retry then creates a second record with the same envelope.messageSha256.
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
  deadlineAt: number;
  timer?: NodeJS.Timeout;
  state: 'queued' | 'sent' | 'done';
  resolve(): void;
  reject(e: HandoffError): void;
}

interface Generation {
  n: number;
  client: KafkaClient;
  producer: Producer;
  retired: boolean;
}

export interface HandoffOptions {
  kafkaSettings: KafkaSettings;
  deadlineMs: number;
  log: Logger;
  /** Part of the Kafka client id, to tell producers apart (default: none, i.e. the mail hand-off). */
  name?: string;
}

// One batch stays well inside the topic's max.message.bytes (a batch is one Kafka record batch per partition).
const MAX_BATCH_BYTES = Math.floor(MAX_RECORD_BYTES * 0.75);
const MAX_BATCH_RECORDS = 500;

export class KafkaHandoff {
  private queue: Item[] = [];
  private gen: Generation | undefined;
  private connecting: Promise<Generation> | undefined;
  private genCount = 0;
  private pumping = false;
  private inFlight = new Set<Item>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: HandoffOptions) {}

  /** Connects the first producer, so a start-up without Kafka fails loudly. */
  async start(): Promise<void> {
    await this.generation();
  }

  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  get generations(): number {
    return this.genCount;
  }

  publish(topic: string, key: string, value: Buffer, headers: Record<string, string> = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new HandoffError('the ingress is shutting down', 'stopped'));
    if (value.length > MAX_RECORD_BYTES) return Promise.reject(new HandoffError(`record of ${value.length} bytes exceeds ${MAX_RECORD_BYTES}`, 'too-large'));
    return new Promise<void>((resolve, reject) => {
      const item: Item = { topic, key, value, headers, deadlineAt: Date.now() + this.opts.deadlineMs, state: 'queued', resolve, reject };
      item.timer = setTimeout(() => this.onDeadline(item), this.opts.deadlineMs);
      this.queue.push(item);
      void this.pump();
    });
  }

  /** Waits for queued and in-flight records to settle (each within its deadline), then disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending > 0) await new Promise<void>((ok) => this.idleWaiters.push(ok));
    const gen = this.gen;
    this.gen = undefined;
    if (gen) {
      gen.retired = true;
      await gen.producer.disconnect().catch(() => {});
      gen.client.sever();
    }
  }

  private settle(item: Item, outcome: { ok: undefined } | { err: HandoffError }): void {
    if (item.state === 'done') return;
    item.state = 'done';
    clearTimeout(item.timer);
    this.inFlight.delete(item);
    if ('ok' in outcome) item.resolve();
    else item.reject(outcome.err);
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private onDeadline(item: Item): void {
    if (item.state === 'queued') {
      this.queue = this.queue.filter((i) => i !== item);
      this.settle(item, { err: new HandoffError(`Kafka did not take the record within ${this.opts.deadlineMs} ms (never sent)`, 'deadline') });
    } else if (item.state === 'sent') {
      // The batch is on its way: sever the producer so that no retry can land it after we said 451.
      if (this.gen) this.retire(this.gen, 'deadline passed while a batch was in flight');
      for (const other of [...this.inFlight]) {
        this.settle(other, { err: new HandoffError(`Kafka did not acknowledge the record within ${this.opts.deadlineMs} ms`, 'deadline') });
      }
    }
  }

  private retire(gen: Generation, why: string): void {
    if (gen.retired) return;
    gen.retired = true;
    if (this.gen === gen) this.gen = undefined;
    this.opts.log.warn({ generation: gen.n, why }, 'Kafka producer retired; the next batch uses a new producer');
    gen.client.sever();
    void gen.producer.disconnect().catch(() => {});
  }

  private generation(): Promise<Generation> {
    if (this.gen && !this.gen.retired) return Promise.resolve(this.gen);
    this.connecting ??= (async () => {
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
      this.gen = gen;
      return gen;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        let gen: Generation;
        try {
          gen = await this.generation();
        } catch (e) {
          const err = new HandoffError(`Kafka unavailable: ${(e as Error).message}`, 'kafka');
          this.opts.log.warn({ err: (e as Error).message }, 'cannot connect a Kafka producer');
          // Everything waiting now would wait for the same broker: answer it, do not spin.
          for (const item of this.queue.splice(0)) this.settle(item, { err });
          break;
        }
        const batch = this.takeBatch();
        if (batch.length === 0) continue;
        await this.sendBatch(gen, batch);
      }
    } finally {
      this.pumping = false;
    }
  }

  private takeBatch(): Item[] {
    const batch: Item[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < MAX_BATCH_RECORDS) {
      const next = this.queue[0]!;
      if (batch.length > 0 && bytes + next.value.length > MAX_BATCH_BYTES) break;
      this.queue.shift();
      bytes += next.value.length;
      next.state = 'sent';
      this.inFlight.add(next);
      batch.push(next);
    }
    return batch;
  }

  private async sendBatch(gen: Generation, batch: Item[]): Promise<void> {
    const byTopic = new Map<string, Item[]>();
    for (const item of batch) byTopic.set(item.topic, [...(byTopic.get(item.topic) ?? []), item]);
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
      this.opts.log.warn({ err: (e as Error).message, records: batch.length }, 'Kafka send failed');
      this.retire(gen, `send failed: ${(e as Error).message}`);
      for (const item of batch) this.settle(item, { err });
    }
  }
}
