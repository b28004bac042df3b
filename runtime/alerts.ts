/**
 * The producer side of alerts: any stage calls publishAlert() to tell operators something (the
 * Matrix notifier, egress/matrix/, posts them). Inside a stage's Kafka transaction pass the
 * transaction, so the alert is published exactly when the stage's output is.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Alert, AlertSeverity } from '../schemas/types.ts';
import type { Producer } from './kafka.ts';
import type { RecordCodec } from './registry.ts';
import { TOPICS } from './topics.ts';

export type { Alert, AlertSeverity };

export const SEVERITIES: readonly AlertSeverity[] = ['info', 'warning', 'critical'];

/**
 * A stable alert id from the facts that make the alert unique (e.g. source, kind, record id, the
 * source offset). Use it whenever the same alert may be published twice (a retried batch), so the
 * notifier posts it once. Without such facts, newAlert() uses a random UUID.
 */
export function alertId(...parts: (string | number | bigint | null | undefined)[]): string {
  return createHash('sha256').update(parts.map((p) => String(p ?? '')).join('\u0000')).digest('hex').slice(0, 32);
}

export type NewAlert = Pick<Alert, 'kind' | 'source' | 'summary'> & Partial<Omit<Alert, 'kind' | 'source' | 'summary'>>;

/** Fills in the defaults: id (random unless given), severity warning, createdAt now, count 1. */
export function newAlert(a: NewAlert): Alert {
  return {
    id: a.id ?? randomUUID(),
    kind: a.kind,
    severity: a.severity ?? 'warning',
    createdAt: a.createdAt ?? Date.now(),
    source: a.source,
    summary: a.summary,
    subject: a.subject ?? null,
    count: a.count ?? 1,
    recordId: a.recordId ?? null,
    details: a.details ?? {},
  };
}

const schemaIds = new WeakMap<RecordCodec, Map<string, number>>();

/** The Kafka message for an alert: keyed by kind and subject (so one burst stays in order), Avro value. */
export async function alertMessage(codec: RecordCodec, alert: Alert, topic: string = TOPICS.alerts.name): Promise<{ key: string; value: Buffer }> {
  let ids = schemaIds.get(codec);
  if (!ids) schemaIds.set(codec, (ids = new Map()));
  let id = ids.get(topic);
  if (id === undefined) {
    id = await codec.registerSchema(topic, 'Alert');
    ids.set(topic, id);
  }
  return { key: `${alert.kind}|${alert.subject ?? ''}`, value: codec.encodeWith(id, 'Alert', alert) };
}

/** Publishes alerts with `sender` (stages emit them as side outputs instead). */
export async function publishAlert(sender: Producer, codec: RecordCodec, alerts: Alert | Alert[], topic: string = TOPICS.alerts.name): Promise<void> {
  const list = Array.isArray(alerts) ? alerts : [alerts];
  if (list.length === 0) return;
  const messages = await Promise.all(list.map((a) => alertMessage(codec, a, topic)));
  await sender.send({ topic, messages, acks: -1 });
}
