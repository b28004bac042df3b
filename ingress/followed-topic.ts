/**
 * A compacted topic the ingress follows as a table (the blocklist, the greylist): read to its end
 * before the ingress listens, then followed (runtime/compacted-topic.ts). Each has its own Kafka
 * client, so stop() can cut it off when a consumer stuck rejoining (after a broker restart) would
 * otherwise hold the shutdown for a session timeout.
 */
import { followCompactedTopic, type CompactedTopicFollower } from '../runtime/compacted-topic.ts';
import { createKafkaClient, type KafkaClient, type KafkaSettings } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';

export interface FollowedTopicOptions {
  kafkaSettings: KafkaSettings;
  topic: string;
  /** e.g. "blocklist": the client id suffix and (as ingress-<name>) the follower's name. */
  name: string;
  log: Logger;
  syncTimeoutMs: number;
  onRecord(key: string, value: Buffer | null): void | Promise<void>;
}

export class FollowedTopic {
  private follower: CompactedTopicFollower | undefined;
  private readonly kafka: KafkaClient;

  constructor(private readonly o: FollowedTopicOptions) {
    this.kafka = createKafkaClient({ ...o.kafkaSettings, clientId: `${o.kafkaSettings.clientId}-${o.name}` });
  }

  async start(): Promise<void> {
    this.follower = await followCompactedTopic({
      kafka: this.kafka,
      topic: this.o.topic,
      name: `ingress-${this.o.name}`,
      log: this.o.log,
      syncTimeoutMs: this.o.syncTimeoutMs,
      onRecord: (key, value) => this.o.onRecord(key, value),
    });
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.follower = undefined;
    this.kafka.sever();
  }
}
