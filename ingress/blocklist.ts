/**
 * The client blocklist: every ingress instance reads the compacted blocklist topic from the
 * beginning and keeps following it (runtime/compacted-topic.ts). Key = prefix;
 * value = Block record; a null value (tombstone) lifts the block, and so does expiresAt passing.
 * Start-up waits until the topic has been read to its end, so a restarted instance never admits
 * a client it should refuse.
 */
import ipaddr from 'ipaddr.js';
import type { Block } from '../schemas/types.ts';
import type { KafkaSettings } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { FollowedTopic } from './followed-topic.ts';
import { parseClientAddress } from './prefix.ts';

interface Entry {
  key: string;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  reason: string;
  expiresAt: number | null;
}

export interface BlockMatch {
  prefix: string;
  reason: string;
}

export function parsePrefix(prefix: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  if (prefix.includes('/')) return ipaddr.parseCIDR(prefix);
  const addr = ipaddr.parse(prefix);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

export class BlockList {
  private entries = new Map<string, Entry>();
  onChange?: (size: number) => void;

  private readonly followed: FollowedTopic;

  constructor(private readonly opts: { kafkaSettings: KafkaSettings; codec: RecordCodec; topic: string; log: Logger; syncTimeoutMs: number }) {
    this.followed = new FollowedTopic({
      ...opts, name: 'blocklist',
      onRecord: async (key, value) => this.apply(key, value ? await opts.codec.decode<Block>(value) : null),
    });
  }

  get size(): number {
    return this.entries.size;
  }

  match(ip: string, now = Date.now()): BlockMatch | undefined {
    const addr = parseClientAddress(ip); // IPv4-mapped IPv6 matches as the IPv4 address it carries
    if (!addr) return undefined;
    for (const e of this.entries.values()) {
      if (e.expiresAt !== null && e.expiresAt <= now) continue;
      if (e.range[0].kind() !== addr.kind()) continue;
      if (addr.match(e.range as [ipaddr.IPv4, number])) return { prefix: e.key, reason: e.reason };
    }
    return undefined;
  }

  /** Applies one record of the topic (exported for tests of the matching rules). */
  apply(key: string, block: Block | null): void {
    if (block === null) {
      this.entries.delete(key);
    } else {
      const prefix = block.prefix || key;
      let range: Entry['range'];
      try {
        range = parsePrefix(prefix);
      } catch (e) {
        this.opts.log.warn({ key, prefix, err: (e as Error).message }, 'blocklist: ignoring a record with an invalid prefix');
        return;
      }
      const expiresAt = block.expiresAt === null || block.expiresAt === undefined ? null : Number(block.expiresAt);
      this.entries.set(key, { key: prefix, range, reason: block.reason, expiresAt });
    }
    this.onChange?.(this.entries.size);
  }

  async start(): Promise<void> {
    await this.followed.start();
    this.opts.log.info({ topic: this.opts.topic, entries: this.entries.size }, 'blocklist loaded; following updates');
  }

  async stop(): Promise<void> {
    await this.followed.stop();
  }
}
