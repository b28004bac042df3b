/**
 * One transactional producer per consumed input partition, with transactional.id
 * `<groupId>.<topic>.<partition>` — the pre-KIP-447 recipe for exactly-once read-process-write
 * (kafkajs cannot send the consumer group metadata that lets one producer per process be fenced).
 *
 * Why per partition: whoever processes partition p initialises the producer with p's id, which
 * bumps the epoch and fences any other process still holding it (a zombie that lost p in a
 * rebalance, or a process that paused through its session timeout): the zombie's next send or
 * commit fails, so it can never commit output for p again. Initialising also aborts (or
 * finishes) any transaction the previous holder left open, e.g. after SIGKILL, so the
 * read_committed view is settled before we start.
 *
 * The fence works in one direction only (newest wins), so a fenced zombie that re-initialises
 * would fence the rightful owner and start again from its own stale position. Hence, right after
 * initialising, we read the group's committed offset for p — settled now, since no other
 * transaction can be open — and `nextOffset` skips every record below it. As long as this
 * producer's epoch is current, it is the only writer of p's offsets, so nextOffset stays exact.
 * That same read closes the window kafkajs leaves without KIP-447's "require stable offsets":
 * the consumer may have fetched the offset before a pending commit landed.
 *
 * Used by kafka-kafkajs.ts only (the interface's transactional writer for kafkajs).
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Admin } from './kafka-types.ts';
import type { Logger } from './log.ts';

export interface PartitionProducer {
  readonly transactionalId: string;
  readonly producer: Producer;
  /** Records below this offset of the partition are already committed; skip them. */
  nextOffset: bigint;
}

export class PartitionProducers {
  private readonly pool = new Map<string, Promise<PartitionProducer>>();

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    readonly groupId: string,
    private readonly log: Logger,
    private readonly transactionTimeoutMs = 60000,
  ) {}

  static transactionalId(groupId: string, topic: string, partition: number): string {
    return `${groupId}.${topic}.${partition}`;
  }

  /** The producer for topic/partition, initialised (fencing older holders) on first use. */
  get(topic: string, partition: number): Promise<PartitionProducer> {
    const key = `${topic}:${partition}`;
    let entry = this.pool.get(key);
    if (!entry) {
      entry = this.open(topic, partition);
      this.pool.set(key, entry);
      // A failed initialisation must not stick: the next batch tries again.
      entry.catch(() => { if (this.pool.get(key) === entry) this.pool.delete(key); });
    }
    return entry;
  }

  private async open(topic: string, partition: number): Promise<PartitionProducer> {
    const transactionalId = PartitionProducers.transactionalId(this.groupId, topic, partition);
    const producer = this.kafka.producer({
      idempotent: true, maxInFlightRequests: 1, transactionalId,
      // How long the broker keeps a transaction of a dead holder open before aborting it itself.
      transactionTimeout: this.transactionTimeoutMs,
      // A short first back-off: after a commit, the next transaction is often refused with
      // CONCURRENT_TRANSACTIONS for a few ms while markers are written; kafkajs' 300 ms default
      // would add that to every transaction. Bounded: a stuck send fails in about 10 s.
      retry: { initialRetryTime: 25, retries: 10 },
    });
    await producer.connect();
    await this.admin.connect();
    let nextOffset = 0n;
    try {
      // kafkajs sends the transactional InitProducerId on the first transaction(), not on connect:
      // this fences the previous epoch and settles its open transaction. An empty abort sends nothing.
      await (await producer.transaction()).abort();
      const offsets = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
      const committed = offsets[0]?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      if (BigInt(committed) > 0n) nextOffset = BigInt(committed);
    } catch (e) {
      await producer.disconnect().catch(() => {});
      throw e;
    }
    this.log.debug({ transactionalId, nextOffset: String(nextOffset) }, 'transactional producer ready');
    return { transactionalId, producer, nextOffset };
  }

  /** Drops a producer after a failed transaction (fenced or unknown state); the next use re-initialises. */
  async drop(topic: string, partition: number): Promise<void> {
    const key = `${topic}:${partition}`;
    const entry = this.pool.get(key);
    this.pool.delete(key);
    if (entry) await entry.then((p) => p.producer.disconnect(), () => {}).catch(() => {});
  }

  /**
   * After a rebalance any partition may have been processed elsewhere in between, so every
   * producer not in use is re-initialised (and its committed offset re-read) on next use.
   */
  async dropAll(except: Set<string> = new Set()): Promise<void> {
    const keys = [...this.pool.keys()].filter((k) => !except.has(k));
    await Promise.all(keys.map((k) => {
      const [topic, partition] = [k.slice(0, k.lastIndexOf(':')), Number(k.slice(k.lastIndexOf(':') + 1))];
      return this.drop(topic, partition);
    }));
  }

  get size(): number {
    return this.pool.size;
  }
}
