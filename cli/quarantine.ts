/**
 * `scop quarantine list|show|release|delete|mark`: the held messages on the compacted
 * mail.quarantine topic (the decision stage puts quarantined and rejected mail there, keyed by
 * record id). release hands the message to the egress (mail.delivery.requests) and removes it;
 * delete removes it (a tombstone); mark ham|spam writes a label to spam.feedback (release and
 * delete can do it too with --mark). The operations live in runtime/operator/ (the console uses them too).
 */
import type { Command } from 'commander';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { defaultQuarantineTopics, deleteHeld, listHeld, markHeld, releaseHeld, type Held, type QuarantineTopics } from '../runtime/operator/quarantine.ts';
import { cliClients, operator } from './compacted.ts';

async function findHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, id: string): Promise<Held> {
  const held = (await listHeld(kafka, codec, topics)).filter((h) => h.record.envelope.id === id || h.record.envelope.id.startsWith(id));
  if (held.length === 0) throw new ConfigError('id', `no message ${id} in quarantine`, 'see `scop quarantine list`');
  if (held.length > 1) throw new ConfigError('id', `${id} matches ${held.length} messages`, 'give more of the record id');
  return held[0]!;
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
    if (label) await markHeld(kafka, codec, topics, h, label, operator());
    await releaseHeld(kafka, codec, topics, h, operator());
    console.log(`released ${h.record.envelope.id} to ${h.record.envelope.rcptTo.join(', ')}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('delete').description('remove a held message for good').argument('<id>').option('--mark <label>', 'also label it ham or spam on spam.feedback').action(async (id: string, o: { mark?: string }) => {
    const label = mark(o);
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    if (label) await markHeld(kafka, codec, topics, h, label, operator());
    await deleteHeld(kafka, topics, h);
    console.log(`deleted ${h.record.envelope.id}${label ? ` (marked ${label})` : ''}`);
  });
  q.command('mark').description('label a held message ham or spam on spam.feedback (it stays held)').argument('<id>').argument('<label>', 'ham or spam').action(async (id: string, label: string) => {
    const l = mark({ mark: label });
    const { kafka, codec } = await cliClients();
    const h = await findHeld(kafka, codec, topics, id);
    await markHeld(kafka, codec, topics, h, l!, operator());
    console.log(`marked ${h.record.envelope.id} ${l}`);
  });
}
