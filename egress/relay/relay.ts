/**
 * The relay's core: one delivery job (a message and the recipients still to do) → deliver →
 * log final outcomes (delivered, bounced) on mail.delivery.log, hand temporary failures to the
 * next retry topic (or, past EGRESS_MAX_ATTEMPTS, to mail.delivery.dead with an alert). Only when
 * all of that is acknowledged does the caller let the sink commit the input offset.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { alertId, alertMessage, newAlert } from '../../runtime/alerts.ts';
import type { Producer } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import type { DeliveryJob, DeliveryStatus } from '../../schemas/types.ts';
import type { RelayConfig } from './config.ts';
import type { DeliveryLog } from './delivery-log.ts';
import { deliver as deliverTo, type RecipientOutcome } from './transport.ts';

export interface RelayTopics {
  decided: string;
  requests: string;
  retries: [string, string, string];
  dead: string;
  log: string;
  alerts: string;
}

export interface RelayMetrics {
  outcomes: Counter<'outcome'>;
  skipped: Counter<'reason'>;
  latency: Histogram;
}

export function relayMetrics(registry: Registry): RelayMetrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  const registers = [registry];
  return {
    outcomes: get('scop_egress_recipients_total', () => new Counter({ name: 'scop_egress_recipients_total', help: 'Recipient outcomes: delivered, bounced, retry, dead.', labelNames: ['outcome'] as const, registers })),
    skipped: get('scop_egress_skipped_total', () => new Counter({ name: 'scop_egress_skipped_total', help: 'Recipients or records not delivered: already-done (de-duplicated replay), held (quarantine/reject).', labelNames: ['reason'] as const, registers })),
    latency: get('scop_egress_accept_to_delivery_seconds', () => new Histogram({ name: 'scop_egress_accept_to_delivery_seconds', help: 'From SMTP accept at the ingress to delivery at the next hop.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400], registers })),
  };
}

/** Hand-written: a counting semaphore is a dozen lines. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((ok) => this.waiting.push(ok));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export class Relay {
  private readonly limiter: Limiter;
  private readonly ids = new Map<string, number>();
  /** Aborted at stop: jobs waiting for their retry time give up and are replayed on the next start. */
  readonly stopping = new AbortController();

  constructor(
    readonly cfg: RelayConfig,
    private readonly deps: { codec: RecordCodec; producer: Producer; log: Logger; deliveryLog: DeliveryLog; metrics: RelayMetrics; topics: RelayTopics },
    private readonly transport: typeof deliverTo = deliverTo,
  ) {
    this.limiter = new Limiter(cfg.concurrency);
  }

  get metrics(): RelayMetrics {
    return this.deps.metrics;
  }

  async registerSchemas(): Promise<void> {
    const { codec, topics } = this.deps;
    for (const t of [...topics.retries, topics.dead, topics.requests]) this.ids.set(t, await codec.registerSchema(t, 'DeliveryJob'));
  }

  /** Waits until `at` (ms) unless the relay stops first (then throws). */
  async waitUntil(at: number): Promise<void> {
    const ms = at - Date.now();
    if (ms <= 0) return;
    const signal = this.stopping.signal;
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); ok(); }, ms);
      const onAbort = () => { clearTimeout(t); fail(new Error('relay stopping')); };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Delivers one job to its recipients not yet done; resolves once every outcome is durable. */
  async run(job: DeliveryJob, log: Logger): Promise<void> {
    const { deliveryLog, metrics } = this.deps;
    const e = job.record.envelope;
    const todo = job.recipients.filter((r) => {
      if (deliveryLog.done(e.id, r)) {
        metrics.skipped.inc({ reason: 'already-done' });
        log.info({ recipient: r, status: deliveryLog.done(e.id, r) }, 'recipient already done (replay); not delivering again');
        return false;
      }
      return true;
    });
    if (todo.length === 0) return;
    const attempt = job.attempt + 1;
    const outcomes = await this.limiter.run(() => this.transport(this.cfg, job.record, todo, job.junk));
    const now = Date.now();
    const final: DeliveryStatus[] = [];
    const temporary: RecipientOutcome[] = [];
    for (const o of outcomes) {
      if (o.kind === 'temporary') { temporary.push(o); continue; }
      final.push({ recordId: e.id, recipient: o.recipient, status: o.kind === 'delivered' ? 'delivered' : 'bounced', at: now, attempts: attempt, nextHop: this.cfg.nextHop.url, reply: o.reply.slice(0, 2000), receivedAt: e.receivedAt });
      metrics.outcomes.inc({ outcome: o.kind === 'delivered' ? 'delivered' : 'bounced' });
      if (o.kind === 'delivered') metrics.latency.observe(Math.max(0, now - e.receivedAt) / 1000);
      log[o.kind === 'delivered' ? 'info' : 'warn']({ recipient: o.recipient, attempt, reply: o.reply, nextHop: this.cfg.nextHop.url }, o.kind === 'delivered' ? 'delivered' : 'permanent failure (bounced)');
    }
    // Final outcomes first: if the retry hand-off below fails, the replay skips these recipients.
    await this.withRetries(() => deliveryLog.write(final), log);
    if (temporary.length > 0) await this.withRetries(() => this.defer(job, temporary, attempt, log), log);
  }

  private async defer(job: DeliveryJob, temporary: RecipientOutcome[], attempt: number, log: Logger): Promise<void> {
    const { topics, producer, codec, metrics } = this.deps;
    const e = job.record.envelope;
    const lastError = temporary.map((t) => `${t.recipient}: ${t.reply}`).join('\n').slice(0, 4000);
    const recipients = temporary.map((t) => t.recipient);
    if (attempt >= this.cfg.maxAttempts) {
      const dead: DeliveryJob = { ...job, recipients, attempt, notBefore: Date.now(), lastError };
      const alert = newAlert({
        id: alertId('egress', 'delivery-dead-letter', e.id, attempt), kind: 'delivery-dead-letter', severity: 'warning', source: 'egress',
        summary: `gave up delivering ${e.id} to ${recipients.join(', ')} after ${attempt} attempts`, subject: this.cfg.nextHop.url, recordId: e.id,
        details: { lastError: lastError.slice(0, 500), nextHop: this.cfg.nextHop.url },
      });
      const am = await alertMessage(codec, alert, topics.alerts);
      await producer.sendBatch({ acks: -1, topicMessages: [
        { topic: topics.dead, messages: [{ key: e.id, value: codec.encodeWith(this.ids.get(topics.dead)!, 'DeliveryJob', dead) }] },
        { topic: topics.alerts, messages: [am] },
      ] });
      await this.deps.deliveryLog.write(recipients.map((recipient) => ({ recordId: e.id, recipient, status: 'dead' as const, at: Date.now(), attempts: attempt, nextHop: this.cfg.nextHop.url, reply: lastError.slice(0, 2000), receivedAt: e.receivedAt })));
      metrics.outcomes.inc({ outcome: 'dead' }, recipients.length);
      log.error({ recipients, attempt, lastError }, 'retries exhausted; message on the delivery dead-letter topic');
      return;
    }
    const level = Math.min(attempt, 3) - 1;
    const topic = topics.retries[level]!;
    const notBefore = Date.now() + this.cfg.retryDelaysMs[level]!;
    const next: DeliveryJob = { ...job, recipients, attempt, notBefore, lastError };
    await producer.send({ topic, acks: -1, messages: [{ key: e.id, value: codec.encodeWith(this.ids.get(topic)!, 'DeliveryJob', next) }] });
    metrics.outcomes.inc({ outcome: 'retry' }, recipients.length);
    log.warn({ recipients, attempt, topic, notBefore: new Date(notBefore).toISOString(), lastError }, 'temporary failure; retry scheduled');
  }

  /** Kafka writes that must happen before the commit: retried (the broker may be briefly away) until stop. */
  private async withRetries(fn: () => Promise<void>, log: Logger): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (this.stopping.signal.aborted || i >= 5) throw err;
        log.warn({ err: (err as Error).message, attempt: i }, 'writing delivery outcome failed; retrying');
        await new Promise((r) => setTimeout(r, 500 * 2 ** i));
      }
    }
  }
}
