/**
 * `scop firewall list|block|unblock`: the compacted firewall.blocklist topic the ingress follows
 * (it refuses blocked clients at connect). The firewall stage adds blocks by itself; operators add
 * and lift them here (a lift is a tombstone for the prefix).
 */
import type { Command } from 'commander';
import { ConfigError } from '../runtime/config.ts';
import { listBlocks, normalizePrefix, writeBlock } from '../runtime/operator/blocklist.ts';
import { TOPICS } from '../runtime/topics.ts';
import { cliClients, operator } from './compacted.ts';
import { printable, printableJson } from './terminal.ts';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The command's Kafka and registry clients (client id `<KAFKA_CLIENT_ID>-cli-firewall`). */
const clients = () => cliClients({ command: 'firewall' });

export function registerFirewallCommands(program: Command, topic: string = TOPICS.blocklist.name): void {
  const fw = program.command('firewall').description('blocked client prefixes (the ingress refuses them at connect); uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL');
  fw.command('list').description('list blocks in force (--all: also expired ones)').option('--all').option('--json').action(async (o: { all?: boolean; json?: boolean }) => {
    const { kafka, codec } = await clients();
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
    const { kafka, codec } = await clients();
    await writeBlock(kafka, codec, prefix, { prefix, reason: o.reason, createdAt: Date.now(), expiresAt, source: `operator:${operator()}` }, topic);
    console.log(`blocked ${prefix}${expiresAt ? ` until ${iso(expiresAt)}` : ''}`);
  });
  fw.command('unblock').description('lift the block of a prefix').argument('<prefix>').action(async (input: string) => {
    const prefix = normalizePrefix(input);
    const { kafka, codec } = await clients();
    const known = (await listBlocks(kafka, codec, topic)).some((b) => b.prefix === prefix);
    await writeBlock(kafka, codec, prefix, null, topic);
    console.log(known ? `unblocked ${prefix}` : `${prefix} was not blocked (wrote a tombstone anyway)`);
  });
}
