/**
 * `scop quarantine list|show|release|delete|mark`: the held messages on the compacted
 * mail.quarantine topic (the decision stage puts quarantined and rejected mail there, keyed by
 * record id). release hands the message to the egress (mail.delivery.requests) and removes it;
 * delete removes it (a tombstone); mark ham|spam writes a label to spam.feedback (release and
 * delete can do it too with --mark). The operations live in runtime/operator/ (the console uses them too).
 */
import type { Command } from 'commander';
import { clientHostnameText } from '../runtime/client-hostname.ts';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { defaultQuarantineTopics, deleteHeld, headerOf, listHeld, markHeld, releaseHeld, type Held, type QuarantineTopics } from '../runtime/operator/quarantine.ts';
import { cliClients, operator } from './compacted.ts';
import { printable, printableJson } from './terminal.ts';

async function findHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, id: string): Promise<Held> {
  const held = (await listHeld(kafka, codec, topics)).filter((h) => h.record.envelope.id === id || h.record.envelope.id.startsWith(id));
  if (held.length === 0) throw new ConfigError('id', `no message ${id} in quarantine`, 'see `scop quarantine list`');
  if (held.length > 1) throw new ConfigError('id', `${id} matches ${held.length} messages`, 'give more of the record id');
  return held[0]!;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The From header as the MIME stage decoded it, else as written. */
const fromOf = (h: Held) => {
  const from = h.record.mime?.headers.from ?? [];
  if (from.length) return from.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');
  const e = h.record.envelope;
  return headerOf(e.raw.subarray(e.traceLength ?? 0), 'From') ?? '';
};
/** The Subject as the MIME stage decoded it (RFC 2047 / 6532), else as written. */
const subjectOf = (h: Held) => h.record.mime?.headers.subject ?? h.subject;

/** One `quarantine list` line; every value from the message goes through printable (cli/terminal.ts). */
export function heldLine(h: Held, json = false): string {
  const e = h.record.envelope;
  const d = h.record.decision;
  if (json) return printableJson({ id: e.id, receivedAt: iso(e.receivedAt), action: d?.action, from: e.mailFrom, headerFrom: fromOf(h), to: e.rcptTo, clientIp: e.clientIp, subject: subjectOf(h), reasons: d?.reasons ?? [] });
  return `${printable(e.id)}  ${iso(e.receivedAt)}  ${(d?.action ?? '?').padEnd(10)}  <${printable(e.mailFrom)}> → ${printable(e.rcptTo.join(','))}  "${printable(subjectOf(h).slice(0, 60))}"  ${printable(d?.reasons[0] ?? '')}`;
}

/** `quarantine show`: envelope, verdicts and the header section, one field per line, all printable. */
export function heldDetails(h: Held): string {
  const r = h.record;
  const e = r.envelope;
  const p = printable;
  const raw = e.raw.subarray(e.traceLength ?? 0);
  const end = raw.indexOf('\r\n\r\n');
  // Header fields unfolded, one per line, as UTF-8 (RFC 6532); undecodable bytes show as U+FFFD.
  const fields = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8').split(/\r?\n(?![ \t])/).map((f) => p(f.replace(/\r?\n/g, '')));
  return [
    `id:          ${p(e.id)}`, `received:    ${iso(e.receivedAt)} from ${p(e.clientIp)} (${p(clientHostnameText(e))}) helo ${p(e.helo)}`,
    `envelope:    <${p(e.mailFrom)}> → ${e.rcptTo.map((x) => `<${p(x)}>`).join(', ')}`, `size:        ${e.size} bytes`,
    `from:        ${p(fromOf(h))}`, `subject:     ${p(subjectOf(h))}`,
    `action:      ${p(r.decision?.action ?? '?')}`, ...(r.decision?.reasons ?? []).map((x) => `  reason:    ${p(x)}`),
    `auth:        spf=${p(r.auth?.spf.result ?? '-')} dmarc=${p(r.auth?.dmarc.result ?? '-')} (${p(r.auth?.dmarc.disposition ?? '-')})`,
    `spam:        ${r.spam ? `${p(r.spam.verdict)} p=${r.spam.probability.toFixed(4)}` : '-'}`,
    `firewall:    ${r.firewall ? `${p(r.firewall.clientPrefix)} score ${r.firewall.prefixScore.toFixed(2)}${r.firewall.prefixBlocked ? ' (blocked)' : ''}` : '-'}`,
    `attachments: ${r.mime?.attachments.map((a) => `${p(a.filename ?? '(unnamed)')} [${p(a.flags.join(','))}]`).join(', ') || '-'}`,
    '', ...fields,
  ].join('\n');
}

/** The command's Kafka and registry clients (client id `<KAFKA_CLIENT_ID>-cli-quarantine`). */
const clients = () => cliClients({ command: 'quarantine' });

export function registerQuarantineCommands(program: Command, topics: QuarantineTopics = defaultQuarantineTopics()): void {
  const q = program.command('quarantine').description('messages held by the decision stage (quarantine and reject); uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL');
  q.command('list').description('list held messages, oldest first').option('--json', 'one JSON object per line').action(async (opts: { json?: boolean }) => {
    const { kafka, codec } = await clients();
    const held = await listHeld(kafka, codec, topics);
    for (const h of held) console.log(heldLine(h, opts.json));
    if (!opts.json) console.error(`${held.length} held`);
  });
  q.command('show').description('show one held message: envelope, verdicts, reasons, headers (or --raw)').argument('<id>', 'record id (or a unique prefix)').option('--raw', 'print the raw message only (bytes as stored when piped; escaped on a terminal)').action(async (id: string, opts: { raw?: boolean }) => {
    const { kafka, codec } = await clients();
    const h = await findHeld(kafka, codec, topics, id);
    const e = h.record.envelope;
    if (opts.raw) {
      // The exact bytes are for a pipe (a file, a parser); a terminal gets them escaped, line by line.
      if (process.stdout.isTTY) console.log(e.raw.toString('utf8').split(/\r?\n/).map(printable).join('\n'));
      else process.stdout.write(e.raw);
      return;
    }
    console.log(heldDetails(h));
  });
  const mark = (o: { mark?: string }) => {
    if (o.mark !== undefined && o.mark !== 'ham' && o.mark !== 'spam') throw new ConfigError('--mark', `"${o.mark}" is not a label`, 'use --mark ham or --mark spam');
    return o.mark as 'ham' | 'spam' | undefined;
  };
  q.command('release').description('deliver a held message (to all its recipients) and remove it from quarantine').argument('<id>').option('--mark <label>', 'also label it ham or spam on spam.feedback').action(async (id: string, o: { mark?: string }) => {
    const label = mark(o);
    const { kafka, codec } = await clients();
    const h = await findHeld(kafka, codec, topics, id);
    if (label) await markHeld(kafka, codec, topics, h, label, operator());
    await releaseHeld(kafka, codec, topics, h, operator());
    console.log(`released ${printable(h.record.envelope.id)} to ${printable(h.record.envelope.rcptTo.join(', '))}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('delete').description('remove a held message for good').argument('<id>').option('--mark <label>', 'also label it ham or spam on spam.feedback').action(async (id: string, o: { mark?: string }) => {
    const label = mark(o);
    const { kafka, codec } = await clients();
    const h = await findHeld(kafka, codec, topics, id);
    if (label) await markHeld(kafka, codec, topics, h, label, operator());
    await deleteHeld(kafka, topics, h);
    console.log(`deleted ${printable(h.record.envelope.id)}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('mark').description('label a held message ham or spam on spam.feedback (it stays held)').argument('<id>').argument('<label>', 'ham or spam').action(async (id: string, label: string) => {
    const l = mark({ mark: label });
    const { kafka, codec } = await clients();
    const h = await findHeld(kafka, codec, topics, id);
    await markHeld(kafka, codec, topics, h, l!, operator());
    console.log(`marked ${printable(h.record.envelope.id)} ${l}`);
  });
}
