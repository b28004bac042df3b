/**
 * What the console shows of the spam learning loop: every model version published — on
 * spam.model.history (every version, 30 days) and on the compacted spam.model (which keeps only the
 * newest per model name) — which one spam.model holds now, and the labels on spam.feedback (latest
 * per message). Exposes the newest model's training time for the "model not updated" alert. The
 * model page rolls back to a listed version through runtime/operator/spam-model.ts, as
 * `scop spam rollback` does, and rolls back or removes a per-recipient-domain model as
 * `scop spam rollback --domain` does (the versions it offers per domain come from spam.model.history).
 */
import type { Registry } from 'prom-client';
import { followCompactedTopic, type CompactedTopicFollower } from '../runtime/compacted-topic.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import { gaugeOn } from '../runtime/metrics.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { DOMAIN_KEY_PREFIX, MODEL_KEY, modelSummaryOf } from '../runtime/operator/spam-model.ts';
import type { SpamFeedback, SpamModelRecord } from '../schemas/types.ts';

export interface ModelVersion {
  name: string;
  version: string;
  trainedAt: number;
  source: string;
  nham: number;
  nspam: number;
  tokens: number;
  tokenizerVersion: string;
  /** Where it was seen: `spam.model@12` or `spam.model.history@3`. */
  offset: string;
  /** When it was published (the record's timestamp on the topic it was seen on first). */
  publishedAt: number;
}

/** A per-recipient-domain residual as spam.model holds it now (processors/spam/domain-model.ts). */
export interface DomainModelView {
  domain: string;
  version: string;
  nham: number;
  nspam: number;
  tokens: number;
  /** Blended in by scorers (enough labels); null: a record without the domain field (not a residual). */
  inUse: boolean | null;
  /** The global model line it was learnt on (scorers apply it only on that line). */
  base: string | null;
  previousVersion: string | null;
  lastLabelAt: number | null;
  publishedAt: number;
}

/** A version of a domain's residual on spam.model.history (key domain:<name>@<version>): what the rollback form offers. */
export interface DomainVersion { version: string; publishedAt: number; trainedAt: number | null; nham: number | null; nspam: number | null }

/** Versions kept per domain for the rollback form, newest first (older ones: `scop spam rollback --domain <name> --to <version>`). */
export const DOMAIN_VERSIONS_KEPT = 20;
/** Domains whose history versions are kept at most (the learner keeps at most 10,000 domains: SPAM_LEARNER_DOMAIN_MAX). */
const DOMAINS_WITH_HISTORY_KEPT = 10_000;

export class SpamLoopView {
  readonly versions: ModelVersion[] = [];
  /** Per-recipient-domain residuals on spam.model now, by domain (bounded by the learner's SPAM_LEARNER_DOMAIN_MAX). */
  readonly domains = new Map<string, DomainModelView>();
  /** Per domain, its newest versions on spam.model.history (at most DOMAIN_VERSIONS_KEPT, newest first). */
  readonly domainVersions = new Map<string, DomainVersion[]>();
  /** The version spam.model holds now (its newest record), or null before any. */
  current: string | null = null;
  private readonly labels = new Map<string, string>();
  private readonly followers: CompactedTopicFollower[] = [];

  constructor(private readonly o: { kafka: KafkaClient; codec: RecordCodec; log: Logger; registry: Registry; modelTopic: string; historyTopic: string | null; feedbackTopic: string }) {
    const versions = this.versions;
    gaugeOn(o.registry, {
      name: 'scop_spam_model_trained_timestamp_seconds', help: 'When the newest model on spam.model was trained (Unix seconds), by version.', labelNames: ['version'] as const,
      collect() {
        this.reset();
        const newest = versions.reduce<ModelVersion | undefined>((a, v) => (!a || v.trainedAt > a.trainedAt ? v : a), undefined);
        if (newest) this.set({ version: newest.version }, newest.trainedAt / 1000);
      },
    });
  }

  /** Models decoded because their record had no summary header (older publishers); counted for the tests. */
  decodedModels = 0;

  /**
   * Adds a version once (the same bytes are on both topics). The record's summary header says what
   * the list shows; only a record without one (published before it existed) is decoded whole.
   */
  private async seen(name: string, value: Buffer, headers: Record<string, unknown> | undefined, where: string, publishedAt: number): Promise<string> {
    let s = modelSummaryOf(headers, (problem) => this.o.log.warn({ at: where, problem }, 'model summary header not usable; decoding the record'));
    if (!s) {
      const m = await this.o.codec.decodeAs<SpamModelRecord>(value, 'SpamModel');
      this.decodedModels++;
      s = { version: m.version, trainedAt: m.trainedAt, source: m.source, nham: m.nham, nspam: m.nspam, tokens: m.tokens.length, tokenizerVersion: m.tokenizerVersion };
    }
    const version = s.version;
    if (!this.versions.some((v) => v.version === version)) {
      this.versions.push({ name, ...s, offset: where, publishedAt });
      this.versions.sort((a, b) => b.trainedAt - a.trainedAt);
    }
    return version;
  }

  async start(): Promise<void> {
    const { historyTopic, modelTopic } = this.o;
    // History first: its records carry the model name in the record's key only on spam.model.
    if (historyTopic) {
      this.followers.push(await followCompactedTopic({
        kafka: this.o.kafka, topic: historyTopic, name: 'console-spam-model-history', log: this.o.log,
        // Residual versions (key domain:<name>@<version>) are rolled back per domain, not listed as model versions.
        onRecord: async (historyKey, value, meta) => {
          if (!value) return;
          if (historyKey.startsWith(DOMAIN_KEY_PREFIX)) this.domainVersionSeen(historyKey.slice(DOMAIN_KEY_PREFIX.length), meta.headers, Number(meta.timestamp ?? 0));
          else await this.seen(MODEL_KEY, value, meta.headers, `${historyTopic}@${meta.offset}`, Number(meta.timestamp ?? 0));
        },
      }));
    }
    this.followers.push(await followCompactedTopic({
      kafka: this.o.kafka, topic: modelTopic, name: 'console-spam-model', log: this.o.log,
      onRecord: async (key, value, meta) => {
        // Per-recipient-domain residuals: their own table (decoded: the summary header lacks the domain fields; at most ~2,000 weights each).
        if (key.startsWith(DOMAIN_KEY_PREFIX)) return this.domainSeen(key.slice(DOMAIN_KEY_PREFIX.length), value, Number(meta.timestamp ?? 0));
        if (!value) return;
        const version = await this.seen(key, value, meta.headers, `${modelTopic}@${meta.offset}`, Number(meta.timestamp ?? 0));
        if (key === MODEL_KEY) this.current = version;
      },
    }));
    this.followers.push(await followCompactedTopic({
      kafka: this.o.kafka, topic: this.o.feedbackTopic, name: 'console-spam-feedback', log: this.o.log,
      onRecord: async (key, value) => {
        if (!value) { this.labels.delete(key); return; }
        this.labels.set(key, (await this.o.codec.decodeAs<SpamFeedback>(value, 'SpamFeedback')).label);
      },
    }));
  }

  /**
   * A residual version on the history topic (`<domain>@<version>`: domains have no `@`, so the first
   * one splits). Only the summary header is read, never the record: the history holds every publish
   * of every domain for 30 days. The form needs the version; the operator code checks the rest.
   */
  private domainVersionSeen(rest: string, headers: Record<string, unknown> | undefined, publishedAt: number): void {
    const at = rest.indexOf('@');
    if (at <= 0 || at === rest.length - 1) return;
    const domain = rest.slice(0, at);
    const version = rest.slice(at + 1);
    let list = this.domainVersions.get(domain);
    if (!list) {
      if (this.domainVersions.size >= DOMAINS_WITH_HISTORY_KEPT) return;
      this.domainVersions.set(domain, (list = []));
    }
    if (list.some((v) => v.version === version)) return;
    const s = modelSummaryOf(headers, (problem) => this.o.log.warn({ domain, version, problem }, 'domain model summary header not usable; listed without counts'));
    list.push({ version, publishedAt, trainedAt: s?.trainedAt ?? null, nham: s?.nham ?? null, nspam: s?.nspam ?? null });
    list.sort((a, b) => b.publishedAt - a.publishedAt);
    if (list.length > DOMAIN_VERSIONS_KEPT) list.length = DOMAIN_VERSIONS_KEPT;
  }

  private async domainSeen(domain: string, value: Buffer | null, publishedAt: number): Promise<void> {
    if (!value) {
      this.domains.delete(domain);
      return;
    }
    const m = await this.o.codec.decodeAs<SpamModelRecord>(value, 'SpamModel');
    const d = m.domain;
    this.domains.set(domain, {
      domain, version: m.version, nham: m.nham, nspam: m.nspam, tokens: m.tokens.length, inUse: d?.inUse ?? null,
      base: d?.base ?? null, previousVersion: d?.previousVersion ?? null, lastLabelAt: d?.lastLabelAt ?? null, publishedAt,
    });
  }

  labelCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.labels.values()) out[l] = (out[l] ?? 0) + 1;
    return out;
  }

  labelOf(recordId: string): string | undefined {
    return this.labels.get(recordId);
  }

  async stop(): Promise<void> {
    for (const f of this.followers) await f.stop();
  }
}
