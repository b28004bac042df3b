/**
 * The relay's memory of final outcomes: the compacted mail.delivery.log, keyed by
 * `<recordId>|<recipient>`. Every relay instance reads it to its end before it consumes anything
 * and keeps following it (runtime/compacted-topic.ts), so a record replayed after a crash —
 * on this instance or on the one that takes its partitions over — skips recipients already done.
 * Memory: one short entry per message and recipient delivered within the log's retention (14 days,
 * runtime/topics.ts): older entries expire from the topic and are dropped here too.
 *
 * Writes are group-committed: `record()` notes the outcomes in the local journal (journal.ts) and
 * in memory at once, and queues them; one produce carries everything queued while the previous
 * one was in flight (as the ingress hand-off batches), on a producer of its own, so a delivery
 * never waits behind another delivery's log write, a retry hand-off or a DSN. A failed produce is
 * retried until it succeeds or the relay stops: an outcome that is not logged is an outcome that
 * a replay delivers again.
 */
import type { DeliveryStatus } from '../../schemas/types.ts';
import type { Registry } from 'prom-client';
import type { HealthRegistry } from '../../runtime/health.ts';
import type { KafkaClient, Producer } from '../../runtime/kafka.ts';
import { followCompactedTopic, type CompactedTopicFollower } from '../../runtime/compacted-topic.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { DELIVERY_LOG_RETENTION_MS } from '../../runtime/topics.ts';
import type { DeliveryJournal, InDoubtEntry, JournalTicket } from './journal.ts';

export const logKey = (recordId: string, recipient: string) => `${recordId}|${recipient.toLowerCase()}`;

/** At most this many outcomes in one produce (each ≈ 150 bytes; far below any request limit). */
const MAX_BATCH = 2000;

interface Queued { statuses: DeliveryStatus[]; ticket: JournalTicket | null; done(): void; fail(e: Error): void }

export interface DeliveryLogOptions {
  kafka: KafkaClient;
  codec: RecordCodec;
  /** The producer for log writes; give the log one of its own (writes are serialised per producer). */
  producer: Producer;
  topic: string;
  log: Logger;
  journal?: DeliveryJournal;
  syncTimeoutMs?: number;
  retentionMs?: number;
  now?: () => number;
  health?: HealthRegistry;
  metrics?: Registry;
  /** Called with every delivered status read from the log (the relay's retransmission memory). */
  onDelivered?(s: DeliveryStatus): void;
  /** Called with the number of outcomes each produce carried (metrics). */
  onBatch?(size: number): void;
  /** Called with the number of outcomes recovered from the journal at start (metrics). */
  onRecovered?(count: number): void;
  /** Called with the transactions a dead relay had in doubt and that will be delivered again (metrics). */
  onInDoubt?(count: number): void;
  /** How often journal files of relays that died meanwhile are looked for (default 2000 ms). */
  journalScanMs?: number;
  /** Replaces the topic follower (unit tests of start-up without a broker). */
  follow?: typeof followCompactedTopic;
}

export class DeliveryLog {
  /** key → final status and when it was logged (Map order ≈ time order, which prune relies on). */
  private readonly entries = new Map<string, { status: DeliveryStatus['status']; at: number }>();
  private nextPrune = 0;
  private follower: CompactedTopicFollower | undefined;
  private schemaId = 0;
  private queue: Queued[] = [];
  /** The running flush loop, if any; cleared by the loop itself in the same turn it sees the queue empty. */
  private flushing: Promise<void> | undefined;
  private stopping = false;
  private readonly stopped = new AbortController();
  private scan: NodeJS.Timeout | undefined;
  private recovering = false;
  /** Records a dead relay on this host had in doubt, as recovered from its journal (the last 1,000). */
  readonly recoveredInDoubt: InDoubtEntry[] = [];

  constructor(private readonly opts: DeliveryLogOptions) {}

  private get retentionMs(): number {
    return this.opts.retentionMs ?? DELIVERY_LOG_RETENTION_MS;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The final state already logged for this recipient of this record, if any. */
  done(recordId: string, recipient: string): DeliveryStatus['status'] | undefined {
    return this.entries.get(logKey(recordId, recipient))?.status;
  }

  private remember(key: string, status: DeliveryStatus['status'], at: number): void {
    this.entries.delete(key); // re-insert so the Map stays in logging order
    this.entries.set(key, { status, at });
    const now = (this.opts.now ?? Date.now)();
    if (now >= this.nextPrune) this.prune(now);
  }

  /** Forgets outcomes older than the retention, as the topic does; at most once a minute. */
  prune(now = (this.opts.now ?? Date.now)()): number {
    this.nextPrune = now + 60_000;
    const cutoff = now - this.retentionMs;
    let dropped = 0;
    for (const [key, e] of this.entries) {
      if (e.at >= cutoff) break;
      this.entries.delete(key);
      dropped++;
    }
    return dropped;
  }

  /**
   * Logs final outcomes: synchronously into the journal and memory (call it in the same turn the
   * reply arrived, with no await in between), then into Kafka with the next group commit. Resolves
   * once the brokers acknowledged them (acks from all in-sync replicas); rejects only when the relay
   * stops first (the journal still has them for the next start).
   */
  record(statuses: DeliveryStatus[]): Promise<void> {
    if (statuses.length === 0) return Promise.resolve();
    const ticket = this.opts.journal?.append(statuses) ?? null;
    for (const s of statuses) this.remember(logKey(s.recordId, s.recipient), s.status, s.at);
    return this.enqueue(statuses, ticket);
  }

  private enqueue(statuses: DeliveryStatus[], ticket: JournalTicket | null): Promise<void> {
    if (this.stopping) return Promise.reject(new Error('delivery log stopped'));
    return new Promise<void>((done, fail) => {
      this.queue.push({ statuses, ticket, done, fail });
      // Not `.finally(() => clear)`: that clears a microtask late, and an outcome queued in between
      // would wait for the next delivery's write (forever, for the last one).
      this.flushing ??= this.flush();
    });
  }

  /**
   * One produce per round: everything queued while the previous one was in flight. The loop clears
   * `flushing` itself (finally, same turn as its last queue check), so enqueue() never sees a loop
   * that has already decided to stop.
   */
  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch: Queued[] = [];
        let n = 0;
        while (this.queue.length > 0 && (n === 0 || n + this.queue[0]!.statuses.length <= MAX_BATCH)) {
          const q = this.queue.shift()!;
          batch.push(q);
          n += q.statuses.length;
        }
        const messages = batch.flatMap((q) => q.statuses.map((s) => ({ key: logKey(s.recordId, s.recipient), value: this.opts.codec.encodeWith(this.schemaId, 'DeliveryStatus', s) })));
        for (let attempt = 0; ; attempt++) {
          try {
            await this.opts.producer.send({ topic: this.opts.topic, acks: -1, messages });
            break;
          } catch (e) {
            if (this.stopping) {
              for (const q of [...batch, ...this.queue.splice(0)]) q.fail(e as Error);
              return;
            }
            const wait = Math.min(10_000, 250 * 2 ** attempt);
            this.opts.log.warn({ err: (e as Error).message, attempt, outcomes: n, retryInMs: wait }, 'writing delivery outcomes to the log failed; retrying (they are in the local journal meanwhile)');
            await this.sleep(wait);
          }
        }
        this.opts.onBatch?.(n);
        for (const q of batch) {
          this.opts.journal?.acknowledged(q.ticket);
          q.done();
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((ok) => {
      const t = setTimeout(ok, ms);
      this.stopped.signal.addEventListener('abort', () => { clearTimeout(t); ok(); }, { once: true });
    });
  }

  /**
   * Loads the log and recovers what a relay that stopped without logging its outcomes left in the
   * journal: those go to Kafka (and memory) before start() returns, so nothing is consumed before
   * the relay knows every outcome it ever had.
   */
  async start(): Promise<void> {
    const { kafka, topic, log, codec } = this.opts;
    this.schemaId = await codec.registerSchema(topic, 'DeliveryStatus');
    this.follower = await (this.opts.follow ?? followCompactedTopic)({
      kafka, topic, name: 'egress-log', log, syncTimeoutMs: this.opts.syncTimeoutMs ?? 120000, health: this.opts.health, metrics: this.opts.metrics,
      onRecord: async (key, value) => {
        if (!value) this.entries.delete(key);
        else {
          const s = await codec.decodeAs<DeliveryStatus>(value, 'DeliveryStatus');
          this.remember(key, s.status, s.at);
          if (s.status === 'delivered') this.opts.onDelivered?.(s);
        }
      },
    });
    const journal = this.opts.journal;
    if (journal) {
      await this.recoverJournals(journal);
      journal.open();
      // Journals of other relays on this host that die while this one runs (scale-out on one
      // machine): their outcomes reach the log before their partitions (after the group session
      // timeout) reach this relay.
      this.scan = setInterval(() => { void this.recoverJournals(journal).catch((e: Error) => log.warn({ err: e.message }, 'delivery journal: recovery failed; retried')); }, this.opts.journalScanMs ?? 2000);
      this.scan.unref();
    }
    log.info({ topic, entries: this.entries.size }, 'delivery log loaded; following updates');
  }

  /** Writes the outcomes in journal files of dead writers to the log, then deletes the files. */
  private async recoverJournals(journal: DeliveryJournal): Promise<void> {
    if (this.recovering || this.stopping) return;
    this.recovering = true;
    try {
      const left = journal.recover();
      if (left.entries.length) {
        for (const s of left.entries) this.remember(logKey(s.recordId, s.recipient), s.status, s.at);
        await this.enqueue(left.entries, null);
        this.opts.onRecovered?.(left.entries.length);
        this.opts.log.warn({ outcomes: left.entries.length, files: left.files.length }, 'delivery journal: outcomes of a relay that died recovered into the delivery log (their records will not be delivered again)');
      }
      this.reportInDoubt(left.inDoubt);
      left.discard();
    } finally {
      this.recovering = false;
    }
  }

  /**
   * Transactions a dead relay had in doubt ("." sent, no reply handled) whose recipients are not
   * all logged as done: the next hop may have stored them, and they will be delivered again (never
   * lost). Logged one by one with the record id, so an operator (or a receiver's de-duplication on
   * X-Scop-Record-Id / Message-ID) can match the second copy.
   */
  private reportInDoubt(inDoubt: InDoubtEntry[]): void {
    let n = 0;
    for (const d of inDoubt) {
      const open = d.recipients.filter((r) => !this.done(d.recordId, r));
      if (!open.length) continue;
      n++;
      this.recoveredInDoubt.push({ ...d, recipients: open });
      if (this.recoveredInDoubt.length > 1000) this.recoveredInDoubt.shift();
      this.opts.log.warn({ recordId: d.recordId, recipients: open, since: new Date(d.at).toISOString() }, 'delivery journal: a relay died with this transaction in doubt (end of data sent, reply not read); the next hop may have it, it is delivered again with the same Message-ID and X-Scop-Record-Id');
    }
    if (n) this.opts.onInDoubt?.(n);
  }

  /** Waits for queued writes (until `timeoutMs`), then stops following and closes the journal. */
  async stop(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.scan);
    if (this.flushing) await Promise.race([this.flushing, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.stopping = true;
    this.stopped.abort();
    await this.flushing;
    this.opts.journal?.close();
    await this.follower?.stop();
    this.follower = undefined;
  }
}
