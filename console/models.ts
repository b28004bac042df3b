/**
 * What the console shows of the spam learning loop: every model version seen on the compacted
 * spam.model topic (compaction keeps only the newest per model name, so older versions disappear
 * once the broker compacts), and the labels on spam.feedback (latest per message). Exposes the
 * newest model's training time for the "model not updated" alert. The model page lists versions
 * only; rollback is `scop spam rollback` (processors/spam/learner/rollback.ts).
 */
import type { Registry } from 'prom-client';
import { followCompactedTopic, type CompactedTopicFollower } from '../runtime/compacted-topic.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import { gaugeOn } from '../runtime/metrics.ts';
import type { RecordCodec } from '../runtime/registry.ts';
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
  offset: string;
}

export class SpamLoopView {
  readonly versions: ModelVersion[] = [];
  private readonly labels = new Map<string, string>();
  private readonly followers: CompactedTopicFollower[] = [];

  constructor(private readonly o: { kafka: KafkaClient; codec: RecordCodec; log: Logger; registry: Registry; modelTopic: string; feedbackTopic: string }) {
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

  async start(): Promise<void> {
    this.followers.push(await followCompactedTopic({
      kafka: this.o.kafka, topic: this.o.modelTopic, name: 'console-spam-model', log: this.o.log,
      onRecord: async (key, value, meta) => {
        if (!value) return;
        const m = await this.o.codec.decodeAs<SpamModelRecord>(value, 'SpamModel');
        if (this.versions.some((v) => v.name === key && v.version === m.version)) return;
        this.versions.push({ name: key, version: m.version, trainedAt: m.trainedAt, source: m.source, nham: m.nham, nspam: m.nspam, tokens: m.tokens.length, tokenizerVersion: m.tokenizerVersion, offset: meta.offset });
        this.versions.sort((a, b) => b.trainedAt - a.trainedAt);
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
