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

export interface QuarantineTopics { quarantine: string; requests: string; feedback: string }
export const defaultQuarantineTopics = (): QuarantineTopics => ({ quarantine: TOPICS.quarantine.name, requests: TOPICS.deliveryRequests.name, feedback: TOPICS.spamFeedback.name });

export interface Held { record: MailRecord; subject: string; messageId: string | null }

/** Header value from the raw message (first occurrence, unfolded); enough for listing. */
export function headerOf(raw: Buffer, name: string): string | null {
  const head = raw.subarray(0, Math.max(0, raw.indexOf('\r\n\r\n')) || raw.length).toString('latin1');
  const m = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return m ? m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim() : null;
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

export function registerQuarantineCommands(program: Command, topics: QuarantineTopics = defaultQuarantineTopics()): void {
  const q = program.command('quarantine').description('messages held by the decision stage (quarantine and reject); uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL');
  q.command('list').description('list held messages, oldest first').option('--json', 'one JSON object per line').action(async (opts: { json?: boolean }) => {
    const { kafka, codec } = await cliClients();
    const held = await listHeld(kafka, codec, topics);
    for (const h of held) {
      const e = h.record.envelope;
      const d = h.record.decision;
      if (opts.json) console.log(JSON.stringify({ id: e.id, receivedAt: iso(e.receivedAt), action: d?.action, from: e.mailFrom, to: e.rcptTo, clientIp: e.clientIp, subject: h.subject, reasons: d?.reasons ?? [] }));
      else console.log(`${e.id}  ${iso(e.receivedAt)}  ${(d?.action ?? '?').padEnd(10)}  <${e.mailFrom}> → ${e.rcptTo.join(',')}  "${h.subject.slice(0, 60)}"  ${d?.reasons[0] ?? ''}`);
    }
    if (!opts.json) console.error(`${held.length} held`);
  });
  q.command('show').description('show one held message: envelope, verdicts, reasons, headers (or --raw)').argument('<id>', 'record id (or a unique prefix)').option('--raw', 'print the raw message only').action(async (id: string, opts: { raw?: boolean }) => {
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    const r = h.record;
    const e = r.envelope;
    if (opts.raw) { process.stdout.write(e.raw); return; }
    const raw = e.raw.subarray(e.traceLength ?? 0);
    console.log([
      `id:          ${e.id}`, `received:    ${iso(e.receivedAt)} from ${e.clientIp} (${e.clientHostname ?? 'no rDNS'}) helo ${e.helo}`,
      `envelope:    <${e.mailFrom}> → ${e.rcptTo.map((x) => `<${x}>`).join(', ')}`, `size:        ${e.size} bytes`,
      `action:      ${r.decision?.action ?? '?'}`, ...(r.decision?.reasons ?? []).map((x) => `  reason:    ${x}`),
      `auth:        spf=${r.auth?.spf.result ?? '-'} dmarc=${r.auth?.dmarc.result ?? '-'} (${r.auth?.dmarc.disposition ?? '-'})`,
      `spam:        ${r.spam ? `${r.spam.verdict} p=${r.spam.probability.toFixed(4)}` : '-'}`,
      `firewall:    ${r.firewall ? `${r.firewall.clientPrefix} score ${r.firewall.prefixScore.toFixed(2)}${r.firewall.prefixBlocked ? ' (blocked)' : ''}` : '-'}`,
      `attachments: ${r.mime?.attachments.map((a) => `${a.filename ?? '(unnamed)'} [${a.flags.join(',')}]`).join(', ') || '-'}`,
      '', raw.subarray(0, Math.max(0, raw.indexOf('\r\n\r\n'))).toString('utf8'),
    ].join('\n'));
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
    console.log(`released ${h.record.envelope.id} to ${h.record.envelope.rcptTo.join(', ')}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('delete').description('remove a held message for good').argument('<id>').option('--mark <label>', 'also label it ham or spam on spam.feedback').action(async (id: string, o: { mark?: string }) => {
    const label = mark(o);
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    if (label) await markHeld(kafka, codec, topics, h, label);
    await deleteHeld(kafka, topics, h);
    console.log(`deleted ${h.record.envelope.id}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('mark').description('label a held message ham or spam on spam.feedback (it stays held)').argument('<id>').argument('<label>', 'ham or spam').action(async (id: string, label: string) => {
    const l = mark({ mark: label });
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    await markHeld(kafka, codec, topics, h, l!);
    console.log(`marked ${h.record.envelope.id} ${l}`);
  });
}
