/**
 * The held messages on the compacted mail.quarantine topic (the decision stage puts quarantined and
 * rejected mail there, keyed by record id): list, release (a delivery job on mail.delivery.requests,
 * then a tombstone), delete (a tombstone), mark ham/spam (spam.feedback). `scop quarantine` and the
 * console both act through these functions; `actor` names who did it (written into the records).
 */
import type { KafkaClient } from '../kafka.ts';
import { readCompactedTopic } from '../compacted-topic.ts';
import { loggerFor } from '../log.ts';
import type { RecordCodec } from '../registry.ts';
import { TOPICS } from '../topics.ts';
import { asciiLower, fieldName, fieldValue, headerBlock, splitFields } from '../header-fields.ts';
import type { DeliveryJob, MailRecord } from '../../schemas/types.ts';
import { sendFeedback } from './feedback.ts';
import { sendAll } from './send.ts';

export interface QuarantineTopics { quarantine: string; requests: string; feedback: string }
export const defaultQuarantineTopics = (): QuarantineTopics => ({ quarantine: TOPICS.quarantine.name, requests: TOPICS.deliveryRequests.name, feedback: TOPICS.spamFeedback.name });

export interface Held { record: MailRecord; subject: string; messageId: string | null }

/** Header value from the raw message (first occurrence, unfolded, UTF-8 per RFC 6532); enough for listing. */
export function headerOf(raw: Buffer, name: string): string | null {
  const want = asciiLower(name);
  for (const field of splitFields(headerBlock(raw))) {
    if (fieldName(field) === want) return Buffer.from(fieldValue(field).replace(/\r?\n/g, ''), 'latin1').toString('utf8').trim();
  }
  return null;
}

export async function listHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics): Promise<Held[]> {
  const latest = await readCompactedTopic(kafka, topics.quarantine, loggerFor('quarantine'));
  const out: Held[] = [];
  for (const value of latest.values()) {
    const record = await codec.decodeAs<MailRecord>(value, 'MailRecord');
    const raw = record.envelope.raw.subarray(record.envelope.traceLength ?? 0);
    out.push({ record, subject: headerOf(raw, 'Subject') ?? '', messageId: headerOf(raw, 'Message-ID') });
  }
  return out.sort((a, b) => a.record.envelope.receivedAt - b.record.envelope.receivedAt);
}

export async function markHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, held: Held | Held[], label: 'ham' | 'spam', actor: string): Promise<void> {
  await sendFeedback(kafka, codec, [held].flat().map((h) => ({ recordId: h.record.envelope.id, label, at: Date.now(), source: `quarantine:${actor}`, messageId: h.messageId })), topics.feedback);
}

/** Hands the messages to the egress (all their recipients), then removes them from quarantine. */
export async function releaseHeld(kafka: KafkaClient, codec: RecordCodec, topics: QuarantineTopics, held: Held | Held[], actor: string): Promise<void> {
  const all = [held].flat();
  const id = await codec.registerSchema(topics.requests, 'DeliveryJob');
  await sendAll(kafka, topics.requests, all.map((h) => {
    const job: DeliveryJob = { record: h.record, recipients: h.record.envelope.rcptTo, attempt: 0, notBefore: Date.now(), lastError: null, origin: `release:${actor}`, junk: false };
    return { key: h.record.envelope.id, value: codec.encodeWith(id, 'DeliveryJob', job) };
  }));
  await deleteHeld(kafka, topics, all);
}

export async function deleteHeld(kafka: KafkaClient, topics: QuarantineTopics, held: Held | Held[]): Promise<void> {
  await sendAll(kafka, topics.quarantine, [held].flat().map((h) => ({ key: h.record.envelope.id, value: null })));
}
