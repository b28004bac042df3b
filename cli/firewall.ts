/**
 * `scop firewall list|block|unblock`: the compacted firewall.blocklist topic the ingress follows
 * (it refuses blocked clients at connect). The firewall stage adds blocks by itself; operators add
 * and lift them here (a lift is a tombstone for the prefix).
 */
import ipaddr from 'ipaddr.js';
import type { Command } from 'commander';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { TOPICS } from '../runtime/topics.ts';
import type { Block } from '../schemas/types.ts';
import { cliClients, operator, readLatest } from './compacted.ts';
import { printable, printableJson } from './terminal.ts';

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
  const latest = await readLatest(kafka, topic);
  const out: Block[] = [];
  for (const v of latest.values()) out.push(await codec.decodeAs<Block>(v, 'Block'));
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

export async function writeBlock(kafka: KafkaClient, codec: RecordCodec, prefix: string, block: Block | null, topic: string = TOPICS.blocklist.name): Promise<void> {
  const value = block ? codec.encodeWith(await codec.registerSchema(topic, 'Block'), 'Block', block) : null;
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: prefix, value }] });
  } finally {
    await producer.disconnect();
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export function registerFirewallCommands(program: Command, topic: string = TOPICS.blocklist.name): void {
  const fw = program.command('firewall').description('blocked client prefixes (the ingress refuses them at connect); uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL');
  fw.command('list').description('list blocks in force (--all: also expired ones)').option('--all').option('--json').action(async (o: { all?: boolean; json?: boolean }) => {
    const { kafka, codec } = await cliClients();
    const now = Date.now();
    const blocks = (await listBlocks(kafka, codec, topic)).filter((b) => o.all || b.expiresAt === null || b.expiresAt > now);
    for (const b of blocks) {
      // Reasons and sources are written by the firewall stage from message data (sender domains): printable.
      if (o.json) console.log(printableJson({ ...b, createdAt: iso(b.createdAt), expiresAt: b.expiresAt === null ? null : iso(b.expiresAt) }));
      else console.log(`${printable(b.prefix).padEnd(24)} until ${b.expiresAt === null ? 'lifted'.padEnd(20) : iso(b.expiresAt)}  by ${printable(b.source)}  ${printable(b.reason)}`);
    }
    if (!o.json) console.error(`${blocks.length} block(s)`);
  });
  fw.command('block').description('block a client address or prefix').argument('<prefix>', 'CIDR or address').option('--reason <text>', 'shown to the client in the 554 reply', 'blocked by the operator').option('--for <seconds>', 'expire after this many seconds (default: until unblocked)').action(async (input: string, o: { reason: string; for?: string }) => {
    const prefix = normalizePrefix(input);
    let expiresAt: number | null = null;
    if (o.for !== undefined) {
      const s = Number(o.for);
      if (!Number.isInteger(s) || s <= 0) throw new ConfigError('--for', `"${o.for}" is not a number of seconds`, 'give e.g. --for 3600');
      expiresAt = Date.now() + s * 1000;
    }
    if (/[\r\n]/.test(o.reason)) throw new ConfigError('--reason', 'contains a line break', 'give one line of text');
    const { kafka, codec } = await cliClients();
    await writeBlock(kafka, codec, prefix, { prefix, reason: o.reason, createdAt: Date.now(), expiresAt, source: `operator:${operator()}` }, topic);
    console.log(`blocked ${prefix}${expiresAt ? ` until ${iso(expiresAt)}` : ''}`);
  });
  fw.command('unblock').description('lift the block of a prefix').argument('<prefix>').action(async (input: string) => {
    const prefix = normalizePrefix(input);
    const { kafka, codec } = await cliClients();
    const known = (await listBlocks(kafka, codec, topic)).some((b) => b.prefix === prefix);
    await writeBlock(kafka, codec, prefix, null, topic);
    console.log(known ? `unblocked ${prefix}` : `${prefix} was not blocked (wrote a tombstone anyway)`);
  });
}
