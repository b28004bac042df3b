/**
 * The relay's core: one delivery job (a message and the recipients still to do) → deliver →
 * log final outcomes (delivered, bounced) on mail.delivery.log, hand temporary failures to the
 * next retry topic (or, past EGRESS_MAX_ATTEMPTS, to mail.delivery.dead with an alert). Only when
 * all of that is acknowledged does the caller let the sink commit the input offset.
 *
 * A final outcome is recorded (journal + memory, delivery-log.ts) in the same turn the reply
 * arrives, before anything else is awaited: a kill after that point no longer delivers the message
 * again; the Kafka write follows with the next group commit.
 */
import { rootCertificates } from 'node:tls';
import type { Counter, Histogram, Registry } from 'prom-client';
import { counterOn, histogramOn } from '../../runtime/metrics.ts';
import { alertId, alertMessage, newAlert } from '../../runtime/alerts.ts';
import type { Producer } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/log.ts';
import type { RecordCodec } from '../../runtime/registry.ts';
import { hasInlineRaw, RawUnavailable, type RawStore } from '../../runtime/raw-ref.ts';
import type { Retransmissions } from './retransmissions.ts';
import type { DeliveryJob, DeliveryStatus, MailRecord } from '../../schemas/types.ts';
import type { RelayConfig } from './config.ts';
import type { DeliveryLog } from './delivery-log.ts';
import { dsnRecord, type FailedRecipient } from './dsn.ts';
import { withTrace } from './headers.ts';
import { MaildirWriter } from './maildir.ts';
import { Limiter } from './limiter.ts';
import type { OutboundRouter } from './outbound.ts';
import type { InDoubtGate } from './in-doubt.ts';
import type { SmtpPool } from './smtp-pool.ts';
import type { RecipientOutcome } from './transport.ts';
import { assertSendable, UndeliverableMessage } from './wire.ts';

export interface RelayTopics {
  decided: string;
  requests: string;
  retries: [string, string, string];
  dead: string;
  log: string;
  alerts: string;
  /** mail.outbound.signed: signed submissions, delivered by MX routing (no sink when absent). */
  outbound?: string;
  /** Dead letters of the relay's sinks (default ops.dead-letters). */
  deadLetters?: string;
}

export interface RelayMetrics {
  outcomes: Counter<'outcome'>;
  skipped: Counter<'reason'>;
  latency: Histogram;
  dsn: Counter<'reason'>;
  logBatch: Histogram;
  journal: Counter<'event'>;
}

export function relayMetrics(registry: Registry): RelayMetrics {
  const m = createRelayMetrics(registry);
  // Every known outcome starts at zero, so dashboards and alerts see the series before the first event.
  for (const outcome of ['delivered', 'bounced', 'retry', 'dead']) m.outcomes.inc({ outcome }, 0);
  for (const reason of ['bounced', 'dead']) m.dsn.inc({ reason }, 0);
  for (const event of ['recovered', 'in-doubt', 'error']) m.journal.inc({ event }, 0);
  return m;
}

function createRelayMetrics(registry: Registry): RelayMetrics {
  return {
    outcomes: counterOn(registry, { name: 'scop_egress_recipients_total', help: 'Recipient outcomes: delivered, bounced, retry, dead.', labelNames: ['outcome'] as const }),
    skipped: counterOn(registry, { name: 'scop_egress_skipped_total', help: 'Recipients or records not delivered: already-done (de-duplicated replay), held (quarantine/reject).', labelNames: ['reason'] as const }),
    dsn: counterOn(registry, { name: 'scop_egress_dsn_total', help: 'Delivery status notifications (bounces) queued for senders of outbound mail, by reason (bounced: 5xx, dead: retries exhausted).', labelNames: ['reason'] as const }),
    latency: histogramOn(registry, { name: 'scop_egress_accept_to_delivery_seconds', help: 'From SMTP accept at the ingress to delivery at the next hop.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400] }),
    logBatch: histogramOn(registry, { name: 'scop_egress_log_batch_outcomes', help: 'Outcomes carried by one delivery-log produce (group commit: what gathered while the previous one was in flight).', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000] }),
    journal: counterOn(registry, { name: 'scop_egress_journal_total', help: 'Delivery journal events: recovered (outcomes a stopped relay had not logged, written to the log at start), in-doubt (transactions a relay that died had in doubt, end of data sent and reply not read: delivered again), error (a journal write failed; the outcome went to Kafka only).', labelNames: ['event'] as const }),
  };
}

/** Delivery to the configured next hop: the local Maildir, or SMTP/LMTP over pooled sessions. */
export type NextHopDelivery = (record: MailRecord, recipients: string[], junk: boolean) => Promise<RecipientOutcome[]>;

export function nextHopDelivery(cfg: RelayConfig, pool: SmtpPool, inDoubt?: InDoubtGate): NextHopDelivery {
  const hop = cfg.nextHop;
  if (hop.kind === 'maildir') {
    const maildir = new MaildirWriter(hop.dir, cfg.hostname, cfg.authservIds);
    return (record, recipients, junk) => maildir.deliver(record, recipients, junk);
  }
  const tls = { rejectUnauthorized: !cfg.tlsInsecure, ...(cfg.outbound.extraCa.length ? { ca: [...rootCertificates, ...cfg.outbound.extraCa] } : {}) };
  return async (record, recipients, junk) => {
    const message = withTrace(record, { hostname: cfg.hostname, authservIds: cfg.authservIds, protocol: hop.kind === 'lmtp' ? 'LMTP' : 'SMTP', junk, recipient: recipients.length === 1 ? recipients[0] : undefined });
    const r = await pool.send({
      host: hop.host, port: hop.port, lmtp: hop.kind === 'lmtp', name: cfg.hostname, starttls: cfg.starttls,
      // EGRESS_TLS_CA_FILE: a next hop with a private CA can be verified rather than trusted blindly.
      tls, timeoutMs: cfg.timeoutMs, auth: cfg.auth, inDoubt,
    }, { from: record.envelope.mailFrom, recipients, use8BitMime: record.envelope.bodyType !== 'SEVEN_BIT', recordId: record.envelope.id }, message);
    return r.outcomes;
  };
}

/** What a Relay works with, built once by the service's wiring (service.ts). */
export interface RelayDeps {
  codec: RecordCodec;
  producer: Producer;
  log: Logger;
  deliveryLog: DeliveryLog;
  metrics: RelayMetrics;
  topics: RelayTopics;
  /** MX routing of signed submissions (outbound jobs are undeliverable without it). */
  outbound?: OutboundRouter;
  nextHop: NextHopDelivery;
  /** Resolves records that refer to their raw message (runtime/raw-ref.ts). */
  raws?: RawStore;
  /** What was delivered lately by content; fed by the delivery log, so it must be the one the log feeds. */
  retransmissions: Retransmissions;
}

/** One try at a job, built once by Relay.run: what delivering it, logging and handing on its outcomes need. */
export interface DeliveryAttempt {
  /** The job as it came: retry and dead-letter jobs are written from it (the raw reference, not the bytes). */
  readonly job: DeliveryJob;
  /** The job's record with its raw message inline: what is sent, and quoted by a DSN. */
  readonly record: MailRecord;
  /** This attempt's number (the job's attempts so far + 1). */
  readonly number: number;
  /** A signed submission, delivered by MX routing (bounces make DSNs). */
  readonly outbound: boolean;
  /** The content key of a sender's retransmission (retransmissions.ts), or null. */
  readonly content: string | null;
  readonly log: Logger;
  /** The delivery-log writes of its final outcomes: all acknowledged before the sink may commit. */
  readonly logged: Promise<void>[];
}

export class Relay {
  private readonly limiter: Limiter;
  private readonly ids = new Map<string, number>();
  /** Aborted at stop: jobs waiting for their retry time give up and are replayed on the next start. */
  readonly stopping = new AbortController();
  private openGate!: () => void;
  /** Resolves once every sink of the relay runs: nothing is delivered before (see service.ts). */
  private readonly gate = new Promise<void>((ok) => { this.openGate = ok; });

  constructor(
    readonly cfg: RelayConfig,
    private readonly deps: RelayDeps,
  ) {
    this.limiter = new Limiter(cfg.concurrency);
    // A relay stopped before it opened: jobs waiting at the gate give up (replayed on the next start).
    this.stopping.signal.addEventListener('abort', () => this.openGate(), { once: true });
  }

  /** Lets deliveries start (called once the relay is completely up). */
  open(): void {
    this.openGate();
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
    await this.gate;
    if (this.stopping.signal.aborted) throw new Error('relay stopping');
    const todo = this.notDone(job, log);
    if (todo.length === 0) return;
    const a = await this.attempt(job, log);
    // A copy of the same content being delivered right now (both copies came in one burst): wait
    // for that delivery first, then look again. Only earlier registrants are waited for: no cycle.
    const id = job.record.envelope.id;
    const waits = todo.map((r) => this.deps.retransmissions.inFlight(a.content, r, id)).filter((w): w is Promise<void> => w !== undefined);
    if (waits.length > 0) await Promise.all(waits);
    const release = this.deps.retransmissions.begin(a.content, todo, id);
    try {
      await this.deliverContent(a, todo);
    } finally {
      release();
    }
  }

  /** The job's recipients the delivery log does not have a final outcome for (a replay skips the others). */
  private notDone(job: DeliveryJob, log: Logger): string[] {
    const { deliveryLog, metrics } = this.deps;
    const id = job.record.envelope.id;
    return job.recipients.filter((r) => {
      const done = deliveryLog.done(id, r);
      if (!done) return true;
      metrics.skipped.inc({ reason: 'already-done' });
      log.info({ recipient: r, status: done }, 'recipient already done (replay); not delivering again');
      return false;
    });
  }

  /** Builds this try at `job` once: the raw message fetched, the content key and the attempt number computed. */
  private async attempt(job: DeliveryJob, log: Logger): Promise<DeliveryAttempt> {
    // Records after the ingress's refer to the raw message: fetch it to send it. Retries and dead
    // jobs are written from `job` as it came (the reference, not the bytes).
    const record = await this.withRaw(job.record);
    const e = record.envelope;
    const content = this.deps.retransmissions.key(e.mailFrom, record.mime?.headers.messageId, e.messageSha256 ?? e.raw.subarray(e.traceLength));
    return { job, record, number: job.attempt + 1, outbound: job.origin === 'outbound', content, log, logged: [] };
  }

  /** The delivery-log entry of a final outcome. */
  private status(a: DeliveryAttempt, o: RecipientOutcome, at: number): DeliveryStatus {
    const e = a.record.envelope;
    return {
      recordId: e.id, recipient: o.recipient, status: o.kind === 'delivered' ? 'delivered' : 'bounced', at, attempts: a.number,
      nextHop: o.nextHop ?? this.cfg.nextHop.url, reply: o.reply.slice(0, 2000), receivedAt: e.receivedAt,
      contentKey: o.kind === 'delivered' ? a.content : null,
    };
  }

  /**
   * Records final outcomes the moment they are known, with no await in between (see the top of this
   * file). Outbound bounces wait for their DSN: logged first, a crash before the DSN would lose it.
   */
  private settle(a: DeliveryAttempt, outcomes: RecipientOutcome[]): void {
    const now = Date.now();
    const id = a.record.envelope.id;
    for (const o of outcomes) if (o.kind === 'delivered') this.deps.retransmissions.delivered(a.content, o.recipient, id, now);
    a.logged.push(this.deps.deliveryLog.record(outcomes.filter((o) => o.kind === 'delivered' || (o.kind === 'permanent' && !a.outbound)).map((o) => this.status(a, o, now))));
  }

  /**
   * Settles the recipients this content was delivered to lately by another record (a sender's
   * retransmission after a lost 250) as done, with what it repeats; returns the others.
   */
  private skipRetransmissions(a: DeliveryAttempt, todo: string[]): string[] {
    const id = a.record.envelope.id;
    const repeats = todo.flatMap((r) => {
      const d = this.deps.retransmissions.earlier(a.content, r, id);
      return d ? [{ recipient: r, d }] : [];
    });
    if (repeats.length === 0) return todo;
    for (const { recipient, d } of repeats) {
      this.deps.metrics.skipped.inc({ reason: 'retransmission' });
      a.log.warn({ recipient, earlierRecordId: d.recordId }, 'a retransmission of a message delivered lately (same sender, Message-ID and bytes); not delivering it again');
    }
    this.settle(a, repeats.map(({ recipient, d }): RecipientOutcome => ({ kind: 'delivered', recipient, reply: `not delivered again: a retransmission of record ${d.recordId} (same sender, Message-ID and bytes), delivered ${new Date(d.at).toISOString()}` })));
    return todo.filter((r) => !repeats.some((x) => x.recipient === r));
  }

  private async deliverContent(a: DeliveryAttempt, recipients: string[]): Promise<void> {
    const { deliveryLog, metrics } = this.deps;
    const { record, log } = a;
    const todo = this.skipRetransmissions(a, recipients);
    if (todo.length === 0) { await Promise.all(a.logged); return; }
    const settle = (outcomes: RecipientOutcome[]) => this.settle(a, outcomes);
    let outcomes: RecipientOutcome[];
    try {
      if (a.outbound) {
        // Refusals (not signed, bare CR/LF) are thrown before anything is sent: the sink dead-letters the job.
        assertSendable(record);
        if (!this.deps.outbound) throw new UndeliverableMessage('outbound job but no outbound router configured');
        outcomes = await this.deps.outbound.deliver(record, todo, this.limiter, log, settle);
      } else {
        outcomes = await this.limiter.run(() => this.deps.nextHop(record, todo, a.job.junk));
        settle(outcomes);
      }
      const now = Date.now();
      const bounced: FailedRecipient[] = [];
      const temporary: RecipientOutcome[] = [];
      for (const o of outcomes) {
        if (o.kind === 'temporary') { temporary.push(o); continue; }
        const nextHop = o.nextHop ?? this.cfg.nextHop.url;
        metrics.outcomes.inc({ outcome: o.kind === 'delivered' ? 'delivered' : 'bounced' });
        if (o.kind === 'delivered') metrics.latency.observe(Math.max(0, now - record.envelope.receivedAt) / 1000);
        else bounced.push({ recipient: o.recipient, reply: o.reply, remoteMta: o.remoteMta, kind: 'bounced', attempts: a.number });
        log[o.kind === 'delivered' ? 'info' : 'warn']({ recipient: o.recipient, attempt: a.number, reply: o.reply, nextHop }, o.kind === 'delivered' ? 'delivered' : 'permanent failure (bounced)');
      }
      if (a.outbound && bounced.length) {
        // The DSN before the log entries: a crash in between replays the job, which makes the same DSN id (de-duplicated).
        await this.withRetries(() => this.sendDsn(a, bounced, 'bounced'), log);
        a.logged.push(deliveryLog.record(outcomes.filter((o) => o.kind === 'permanent').map((o) => this.status(a, o, now))));
      }
      // Final outcomes are recorded by now: if the retry hand-off below fails, the replay skips those recipients.
      if (temporary.length > 0) await this.withRetries(() => this.defer(a, temporary), log);
    } catch (err) {
      await Promise.allSettled(a.logged);
      throw err;
    }
    // Every recorded outcome reaches Kafka before the sink may commit (or, at a stop, stays in the journal).
    await Promise.all(a.logged);
  }

  /** The record with its raw message inline: a reference that cannot be resolved any more makes the job undeliverable (dead-lettered). */
  private async withRaw(record: DeliveryJob['record']): Promise<DeliveryJob['record']> {
    if (hasInlineRaw(record)) return record;
    if (!this.deps.raws) throw new UndeliverableMessage(`record ${record.envelope.id} refers to its raw message but this relay has no raw store`);
    try {
      return await this.deps.raws.resolve(record);
    } catch (e) {
      if (e instanceof RawUnavailable) throw new UndeliverableMessage(e.message);
      throw e;
    }
  }

  /** The DSN job for the original sender (none for the null sender), on the requests topic. */
  private async dsnMessage(a: DeliveryAttempt, failed: FailedRecipient[]): Promise<{ key: string; value: Buffer } | null> {
    if (!this.cfg.outbound.dsn) return null;
    // The DSN quotes the message: its raw bytes (the attempt's record has them inline).
    const dsn = await dsnRecord(a.record, failed, { reportingMta: this.cfg.hostname });
    if (!dsn) return null;
    const dsnJob: DeliveryJob = { record: dsn, recipients: dsn.envelope.rcptTo, attempt: 0, notBefore: Date.now(), lastError: null, origin: 'dsn', junk: false };
    return { key: dsn.envelope.id, value: this.deps.codec.encodeWith(this.ids.get(this.deps.topics.requests)!, 'DeliveryJob', dsnJob) };
  }

  private async sendDsn(a: DeliveryAttempt, failed: FailedRecipient[], reason: 'bounced' | 'dead'): Promise<void> {
    const { log } = a;
    const m = await this.dsnMessage(a, failed);
    if (!m) {
      if (!a.record.envelope.mailFrom) log.info({ recipients: failed.map((f) => f.recipient) }, 'no DSN: the message has the null sender');
      return;
    }
    await this.deps.producer.send({ topic: this.deps.topics.requests, acks: -1, messages: [m] });
    this.deps.metrics.dsn.inc({ reason });
    log.info({ dsnId: m.key, to: a.record.envelope.mailFrom, recipients: failed.map((f) => f.recipient), reason }, 'DSN queued for the sender');
  }

  /** Hands the recipients that failed temporarily to the next retry topic, or past the last attempt to the dead-letter topic. */
  private async defer(a: DeliveryAttempt, temporary: RecipientOutcome[]): Promise<void> {
    const { topics, producer, codec, metrics } = this.deps;
    const { job, number: attempt, log } = a;
    const e = job.record.envelope;
    const lastError = temporary.map((t) => `${t.recipient}: ${t.reply}`).join('\n').slice(0, 4000);
    const recipients = temporary.map((t) => t.recipient);
    if (attempt >= this.cfg.maxAttempts) {
      const dead: DeliveryJob = { ...job, recipients, attempt, notBefore: Date.now(), lastError };
      const alert = newAlert({
        id: alertId('egress', 'delivery-dead-letter', e.id, attempt), kind: 'delivery-dead-letter', severity: 'warning', source: 'egress',
        summary: `gave up delivering ${e.id} to ${recipients.join(', ')} after ${attempt} attempts`, subject: temporary[0]?.nextHop ?? this.cfg.nextHop.url, recordId: e.id,
        details: { lastError: lastError.slice(0, 500), nextHop: temporary[0]?.nextHop ?? this.cfg.nextHop.url },
      });
      const am = await alertMessage(codec, alert, topics.alerts);
      const dsn = a.outbound ? await this.dsnMessage(a, temporary.map((t) => ({ recipient: t.recipient, reply: t.reply, remoteMta: t.remoteMta, kind: 'dead' as const, attempts: attempt }))) : null;
      await producer.sendBatch({ acks: -1, topicMessages: [
        { topic: topics.dead, messages: [{ key: e.id, value: codec.encodeWith(this.ids.get(topics.dead)!, 'DeliveryJob', dead) }] },
        { topic: topics.alerts, messages: [am] },
        ...(dsn ? [{ topic: topics.requests, messages: [dsn] }] : []),
      ] });
      if (dsn) {
        metrics.dsn.inc({ reason: 'dead' });
        log.info({ dsnId: dsn.key, to: e.mailFrom, recipients }, 'DSN queued for the sender');
      }
      const hopOf = new Map(temporary.map((t) => [t.recipient, t.nextHop ?? this.cfg.nextHop.url]));
      await this.deps.deliveryLog.record(recipients.map((recipient) => ({ recordId: e.id, recipient, status: 'dead' as const, at: Date.now(), attempts: attempt, nextHop: hopOf.get(recipient)!, reply: lastError.slice(0, 2000), receivedAt: e.receivedAt, contentKey: null })));
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
