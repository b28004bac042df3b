/**
 * The client blocklist: every ingress instance reads the compacted blocklist topic from the
 * beginning (its own consumer group, nothing committed) and keeps following it. Key = prefix;
 * value = Block record; a null value (tombstone) lifts the block, and so does expiresAt passing.
 * Start-up waits until the topic has been read to its end, so a restarted instance never admits
 * a client it should refuse.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { Block } from '../schemas/types.ts';
import { createKafkaClient, type Consumer, type KafkaClient, type KafkaSettings } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';

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

/** IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as the IPv4 address they carry. */
function parseClient(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    const a = ipaddr.parse(ip);
    if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
    return a;
  } catch {
    return undefined;
  }
}

export class BlockList {
  private entries = new Map<string, Entry>();
  private consumer: Consumer | undefined;
  private stopped = false;
  onChange?: (size: number) => void;

  // Its own client, so stop() can cut it off when a consumer stuck rejoining (after a broker
  // restart) would otherwise hold the shutdown for a session timeout.
  private readonly kafka: KafkaClient;

  constructor(private readonly opts: { kafkaSettings: KafkaSettings; codec: RecordCodec; topic: string; log: Logger; syncTimeoutMs: number }) {
    this.kafka = createKafkaClient({ ...opts.kafkaSettings, clientId: `${opts.kafkaSettings.clientId}-blocklist` });
  }

  get size(): number {
    return this.entries.size;
  }

  match(ip: string, now = Date.now()): BlockMatch | undefined {
    const addr = parseClient(ip);
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
    const { topic, log } = this.opts;
    const kafka = this.kafka;
    const admin = kafka.admin();
    await admin.connect();
    let targets: Map<number, bigint>;
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      targets = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
    } catch (e) {
      throw new Error(`blocklist topic ${topic}: ${(e as Error).message} (create it with \`scop topics apply\`)`);
    } finally {
      await admin.disconnect();
    }
    const position = new Map<number, bigint>();
    const caughtUp = () => [...targets].every(([p, high]) => (position.get(p) ?? -1n) >= high);
    let wake: (() => void) | undefined;

    // Its own group per instance: every instance must see every partition, and nothing is committed.
    const groupId = `scop-ingress-blocklist-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    // Restart after a crash (broker away for a while) for as long as the ingress runs, never after stop().
    // A short session: after a broker restart the group waits for the crashed member to expire.
    const consumer = kafka.consumer({ groupId, maxWaitTimeMs: 500, sessionTimeoutMs: 10000, heartbeatIntervalMs: 1000, restartOnFailure: async () => !this.stopped });
    this.consumer = consumer;
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const next = BigInt(e.payload.lastOffset) + 1n;
      if (next > (position.get(e.payload.partition) ?? -1n)) position.set(e.payload.partition, next);
      if (wake && caughtUp()) wake();
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        const key = message.key?.toString('utf8') ?? '';
        try {
          const block = message.value ? await this.opts.codec.decode<Block>(message.value) : null;
          this.apply(key, block);
        } catch (e) {
          log.error({ key, partition, offset: message.offset, err: (e as Error).message }, 'blocklist: cannot decode a record; skipped');
        }
        position.set(partition, BigInt(message.offset) + 1n);
      },
    });
    if (!caughtUp()) {
      await new Promise<void>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`blocklist topic ${topic} was not read to its end within ${this.opts.syncTimeoutMs} ms`)), this.opts.syncTimeoutMs);
        wake = () => { clearTimeout(timer); ok(); };
      });
    }
    log.info({ topic, entries: this.entries.size }, 'blocklist loaded; following updates');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer) await Promise.race([consumer.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 3000).unref())]);
    this.kafka.sever();
  }
}
