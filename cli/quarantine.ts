/**
 * `scop quarantine list|show|release|delete|mark`: the held messages on the compacted
 * mail.quarantine topic (the decision stage puts quarantined and rejected mail there, keyed by
 * record id). release hands the message to the egress (mail.delivery.requests) and removes it;
 * delete removes it (a tombstone); mark ham|spam writes a label to spam.feedback (release and
 * delete can do it too with --mark).
 */
import type { Command } from 'commander';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { TOPICS } from '../runtime/topics.ts';
import type { DeliveryJob, MailRecord } from '../schemas/types.ts';
import { cliClients, operator, readLatest } from './compacted.ts';
import { printable, printableJson } from './terminal.ts';

export interface QuarantineTopics { quarantine: string; requests: string; feedback: string }
export const defaultQuarantineTopics = (): QuarantineTopics => ({ quarantine: TOPICS.quarantine.name, requests: TOPICS.deliveryRequests.name, feedback: TOPICS.spamFeedback.name });

export interface Held { record: MailRecord; subject: string; messageId: string | null }

/** Header value from the raw message (first occurrence, unfolded, UTF-8 per RFC 6532); enough for listing. */
export function headerOf(raw: Buffer, name: string): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const want = name.toLowerCase();
  for (const field of raw.subarray(0, end < 0 ? raw.length : end).toString('utf8').split(/\r?\n(?![ \t])/)) {
    const colon = field.indexOf(':');
    if (colon > 0 && field.slice(0, colon).trimEnd().toLowerCase() === want) return field.slice(colon + 1).replace(/\r?\n/g, '').trim();
  }
  return null;
}

export async function listHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics): Promise<Held[]> {
  const latest = await readLatest(kafka, topics.quarantine);
  const out: Held[] = [];
  for (const value of latest.values()) {
    const record = await codec.decodeAs<MailRecord>(value, 'MailRecord');
    const raw = record.envelope.raw.subarray(record.envelope.traceLength ?? 0);
    out.push({ record, subject: headerOf(raw, 'Subject') ?? '', messageId: headerOf(raw, 'Message-ID') });
  }
  return out.sort((a, b) => a.record.envelope.receivedAt - b.record.envelope.receivedAt);
}

async function findHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, id: string): Promise<Held> {
  const held = (await listHeld(kafka, codec, topics)).filter((h) => h.record.envelope.id === id || h.record.envelope.id.startsWith(id));
  if (held.length === 0) throw new ConfigError('id', `no message ${id} in quarantine`, 'see `scop quarantine list`');
  if (held.length > 1) throw new ConfigError('id', `${id} matches ${held.length} messages`, 'give more of the record id');
  return held[0]!;
}

async function send(kafka: KafkaClient, topic: string, messages: { key: string; value: Buffer | null }[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

export async function markHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, held: Held, label: 'ham' | 'spam'): Promise<void> {
  const id = await codec.registerSchema(topics.feedback, 'SpamFeedback');
  const value = codec.encodeWith(id, 'SpamFeedback', { recordId: held.record.envelope.id, label, at: Date.now(), source: `quarantine:${operator()}`, messageId: held.messageId });
  await send(kafka, topics.feedback, [{ key: held.record.envelope.id, value }]);
}

/** Hands the message to the egress (all its recipients), then removes it from quarantine. */
export async function releaseHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, held: Held): Promise<void> {
  const job: DeliveryJob = { record: held.record, recipients: held.record.envelope.rcptTo, attempt: 0, notBefore: Date.now(), lastError: null, origin: `release:${operator()}`, junk: false };
  const id = await codec.registerSchema(topics.requests, 'DeliveryJob');
  await send(kafka, topics.requests, [{ key: held.record.envelope.id, value: codec.encodeWith(id, 'DeliveryJob', job) }]);
  await send(kafka, topics.quarantine, [{ key: held.record.envelope.id, value: null }]);
}

export async function deleteHeld(kafka: KafkaClient, topics: QuarantineTopics, held: Held): Promise<void> {
  await send(kafka, topics.quarantine, [{ key: held.record.envelope.id, value: null }]);
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
    `id:          ${p(e.id)}`, `received:    ${iso(e.receivedAt)} from ${p(e.clientIp)} (${p(e.clientHostname ?? 'no rDNS')}) helo ${p(e.helo)}`,
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

export function registerQuarantineCommands(program: Command, topics: QuarantineTopics = defaultQuarantineTopics()): void {
  const q = program.command('quarantine').description('messages held by the decision stage (quarantine and reject); uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL');
  q.command('list').description('list held messages, oldest first').option('--json', 'one JSON object per line').action(async (opts: { json?: boolean }) => {
    const { kafka, codec } = await cliClients();
    const held = await listHeld(kafka, codec, topics);
    for (const h of held) console.log(heldLine(h, opts.json));
    if (!opts.json) console.error(`${held.length} held`);
  });
  q.command('show').description('show one held message: envelope, verdicts, reasons, headers (or --raw)').argument('<id>', 'record id (or a unique prefix)').option('--raw', 'print the raw message only (bytes as stored when piped; escaped on a terminal)').action(async (id: string, opts: { raw?: boolean }) => {
    const { kafka, codec } = await cliClients();
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
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    if (label) await markHeld(kafka, codec, topics, h, label);
    await releaseHeld(kafka, codec, topics, h);
    console.log(`released ${printable(h.record.envelope.id)} to ${printable(h.record.envelope.rcptTo.join(', '))}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('delete').description('remove a held message for good').argument('<id>').option('--mark <label>', 'also label it ham or spam on spam.feedback').action(async (id: string, o: { mark?: string }) => {
    const label = mark(o);
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    if (label) await markHeld(kafka, codec, topics, h, label);
    await deleteHeld(kafka, topics, h);
    console.log(`deleted ${printable(h.record.envelope.id)}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('mark').description('label a held message ham or spam on spam.feedback (it stays held)').argument('<id>').argument('<label>', 'ham or spam').action(async (id: string, label: string) => {
    const l = mark({ mark: label });
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    await markHeld(kafka, codec, topics, h, l!);
    console.log(`marked ${printable(h.record.envelope.id)} ${l}`);
  });
}
