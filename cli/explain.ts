/**
 * `scop explain <record id>`: why a message got its action — every symbol with its weight, score
 * and options, the total, the thresholds, the action, the rule that forced it and the policy version
 * (processors/decision/explain.ts). The record is looked up by key (the record id) on
 * mail.inbound.decided, where every decided message passes (delivered, junked and held alike); the
 * last decision wins (a replay decides again). `--policy FILE` weighs it again with a policy file
 * (`default`: the built-in one) to see what a change would do; `--json` prints the same as JSON.
 *
 * `scop policy check [FILE]` validates a policy file the way the decision stage does at start.
 */
import type { Command } from 'commander';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import { PolicyDocument, policyFileFromEnv } from '../runtime/policy-file.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { parseStartAt, readTopicRange, type StartAt } from '../runtime/topic-reader.ts';
import { TOPICS } from '../runtime/topics.ts';
import type { MailRecord } from '../schemas/types.ts';
import { explain, explainText } from '../processors/decision/explain.ts';
import { buildPolicy, THRESHOLD_ACTIONS, type Policy } from '../processors/decision/policy.ts';
import { loadDecisionConfig } from '../processors/decision/config.ts';
import { cliClients } from './compacted.ts';
import { progressBar } from './progress.ts';
import { printable, printableJson } from './terminal.ts';
import { SYMBOL_CATALOG } from './services.ts';

/** Record ids are UUIDs; a prefix this long is enough to be unambiguous in practice and cheap to compare. */
const MIN_ID_CHARS = 8;

/**
 * The latest record on `topic` whose key is `id` or starts with it. One key always lands on one
 * partition, so the last one read is the latest; two different keys matching a prefix is an error.
 */
export async function findDecided(kafka: KafkaClient, codec: RecordCodec, topic: string, id: string, from: StartAt, onProgress?: (read: number, total: number) => void): Promise<MailRecord> {
  if (id.length < MIN_ID_CHARS || !/^[0-9a-zA-Z-]+$/.test(id)) throw new ConfigError('id', `"${printable(id)}" is not a record id`, `give the record id (at least ${MIN_ID_CHARS} characters), as in the 250 reply, the logs or \`scop quarantine list\``);
  let found: { key: string; value: Buffer } | null = null;
  const keys = new Set<string>();
  await readTopicRange(kafka, topic, from, (m) => {
    const key = m.key?.toString('latin1') ?? '';
    if (m.value && (key === id || key.startsWith(id))) {
      keys.add(key);
      found = { key, value: m.value };
    }
  }, (p) => onProgress?.(p.read, p.total));
  if (keys.size > 1) throw new ConfigError('id', `${id} matches ${keys.size} records (${[...keys].slice(0, 3).join(', ')}…)`, 'give more of the record id');
  if (!found) throw new ConfigError('id', `no record ${id} on ${topic}`, 'check the id; older records may be past the topic\'s retention, or not decided yet (see `scop quarantine list`, the console)');
  return codec.decodeAs<MailRecord>((found as { value: Buffer }).value, 'MailRecord');
}

/** The policy named on the command line: a file, or `default` for the built-in policy. */
export function policyFrom(arg: string): Policy {
  return arg === 'default' ? buildPolicy(null, SYMBOL_CATALOG) : buildPolicy(PolicyDocument.read(arg), SYMBOL_CATALOG, loadDecisionConfig().legacy);
}

export function registerExplainCommands(program: Command): void {
  program
    .command('explain <id>')
    .description('why a message got its action: every symbol with its weight, score and options, the total, the thresholds, the forcing rule and the policy version')
    .option('--json', 'print the explanation as JSON')
    .option('--policy <file>', 'weigh the record again with this policy file (default: the built-in policy) instead of showing the recorded decision')
    .option('--topic <topic>', 'where to look for the record', TOPICS.inboundDecided.name)
    .option('--from <time|offset>', 'read the topic from here (a time such as 2025-01-31T12:00:00Z makes the search fast)', 'beginning')
    .action(async (id: string, opts: { json?: boolean; policy?: string; topic: string; from: string }) => {
      const policy = opts.policy ? policyFrom(opts.policy) : undefined;
      const { kafka, codec } = await cliClients({ command: 'explain' });
      const bar = progressBar(`search ${opts.topic}`, 'rec', opts.json || !process.stderr.isTTY);
      let record: MailRecord;
      try {
        record = await findDecided(kafka, codec, opts.topic, id.trim(), parseStartAt(opts.from), (read, total) => bar.update(read, total));
      } finally {
        bar.stop();
      }
      const x = explain(record, policy);
      if (!x) throw new ConfigError('id', `record ${id} has no decision`, 'the decision stage has not seen it; look at mail.inbound.decided');
      process.stdout.write(opts.json ? `${printableJson(x)}\n` : explainText(x, printable));
      process.exit(0);
    });

  program
    .command('policy')
    .description('the decision policy file (processors/decision/README.md)')
    .command('check [file]')
    .description('validate a policy file as the decision stage does at start (default: SCOP_POLICY_FILE); prints its version')
    .action((file: string | undefined) => {
      const path = file ?? policyFileFromEnv(process.env);
      const p = path ? policyFrom(path) : buildPolicy(null, SYMBOL_CATALOG);
      const t = THRESHOLD_ACTIONS.filter((a) => p.thresholds[a] !== undefined).map((a) => `${a} ${p.thresholds[a]}`).join(', ');
      console.log(`ok: ${printable(p.source)} — policy ${p.version}; thresholds ${t || 'none'}; ${p.symbols.size} symbols; forced rules ${p.force.map((r) => r.name).join(', ') || 'none'}; ${p.domains.size} recipient domains with their own`);
    });
}
