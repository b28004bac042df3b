/**
 * Operator actions as AuditEvents on ops.audit (keyed by the actor): one record per login and per
 * write. The writer keeps one producer (the console's lifetime), so one operator's events keep
 * their order.
 */
import { randomUUID } from 'node:crypto';
import type { Producer } from '../kafka.ts';
import type { RecordCodec } from '../registry.ts';
import { TOPICS } from '../topics.ts';
import type { AuditEvent } from '../../schemas/types.ts';

export type AuditInput = Omit<AuditEvent, 'id' | 'at'> & Partial<Pick<AuditEvent, 'id' | 'at'>>;

export async function publishAudit(producer: Producer, codec: RecordCodec, e: AuditInput, topic: string = TOPICS.audit.name): Promise<AuditEvent> {
  const event: AuditEvent = { id: e.id ?? randomUUID(), at: e.at ?? Date.now(), actor: e.actor, origin: e.origin, remoteAddress: e.remoteAddress, action: e.action, targets: e.targets, detail: e.detail, outcome: e.outcome };
  const id = await codec.registerSchema(topic, 'AuditEvent');
  await producer.send({ topic, acks: -1, messages: [{ key: event.actor, value: codec.encodeWith(id, 'AuditEvent', event) }] });
  return event;
}
