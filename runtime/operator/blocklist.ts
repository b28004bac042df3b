/**
 * The compacted firewall.blocklist topic the ingress follows (it refuses blocked clients at
 * connect): list, block, unblock (a tombstone for the prefix). Used by `scop firewall` and the console.
 */
import ipaddr from 'ipaddr.js';
import { readCompactedTopic } from '../compacted-topic.ts';
import { ConfigError } from '../config.ts';
import type { KafkaClient } from '../kafka.ts';
import { loggerFor } from '../log.ts';
import type { RecordCodec } from '../registry.ts';
import { TOPICS } from '../topics.ts';
import type { Block } from '../../schemas/types.ts';
import { sendAll } from './send.ts';

/** CIDR in the form the firewall writes (network address, ipaddr.js text): an address alone is /32 or /128. */
export function normalizePrefix(input: string): string {
  try {
    if (input.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(input);
      const bytes = addr.toByteArray();
      for (let i = 0; i < bytes.length; i++) {
        const keep = Math.max(0, Math.min(8, bits - i * 8));
        bytes[i]! &= (0xff << (8 - keep)) & 0xff;
      }
      return `${ipaddr.fromByteArray(bytes).toString()}/${bits}`;
    }
    const a = ipaddr.parse(input);
    return `${a.toString()}/${a.kind() === 'ipv4' ? 32 : 128}`;
  } catch {
    throw new ConfigError('prefix', `"${input}" is not an IP address or CIDR prefix`, 'give e.g. 203.0.113.0/24, 203.0.113.7 or 2001:db8::/64');
  }
}

export async function listBlocks(kafka: KafkaClient, codec: RecordCodec, topic: string = TOPICS.blocklist.name): Promise<Block[]> {
  const latest = await readCompactedTopic(kafka, topic, loggerFor('blocklist'));
  const out: Block[] = [];
  for (const v of latest.values()) out.push(await codec.decodeAs<Block>(v, 'Block'));
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

export async function writeBlock(kafka: KafkaClient, codec: RecordCodec, prefix: string, block: Block | null, topic: string = TOPICS.blocklist.name): Promise<void> {
  const value = block ? codec.encodeWith(await codec.registerSchema(topic, 'Block'), 'Block', block) : null;
  await sendAll(kafka, topic, [{ key: prefix, value }]);
}
