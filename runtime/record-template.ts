/**
 * MailRecords built from the schema's defaults, for code that must hand a record to a stage function
 * without an ingress: `scop spam eval --symbols` decides each corpus message with the decision stage's
 * own `decide()`, and the tests (runtime/stage-testing.ts re-exports these as testEnvelope and
 * testMailRecord). Fields a value leaves out take their schema default, so callers keep up with new
 * nullable fields. No test-runner imports here: product code may use it.
 */
import { randomUUID } from 'node:crypto';
import { schema } from '../schemas/index.ts';
import type { Envelope, MailRecord } from '../schemas/types.ts';

/** Fills fields the object lacks with their schema defaults (so helpers keep up with new nullable fields). */
export function withDefaults<T>(recordSchema: { fields: { name: string; default?: unknown }[] }, value: Record<string, unknown>): T {
  const out = { ...value };
  for (const f of recordSchema.fields) if (!(f.name in out) && 'default' in f) out[f.name] = structuredClone(f.default);
  return out as T;
}

export type RecordSchema = { fields: { name: string; type: unknown; default?: unknown }[] };
const mailRecordSchema = () => schema('MailRecord').schema as unknown as RecordSchema;
const envelopeSchema = () => mailRecordSchema().fields.find((f) => f.name === 'envelope')!.type as RecordSchema;

/** An envelope as the ingress writes it (a documentation client and addresses), with `over` on top. */
export function templateEnvelope(raw: Buffer | string, over: Partial<Envelope> = {}): Envelope {
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
  return withDefaults<Envelope>(envelopeSchema(), {
    id: randomUUID(), receivedAt: Date.now(), listener: 'MX', clientIp: '192.0.2.10', clientPort: 40000,
    clientHostname: null, helo: 'client.example', tls: null, authUser: null, mailFrom: 'sender@example.com',
    rcptTo: ['rcpt@example.net'], smtpUtf8: false, bodyType: 'EIGHT_BIT_MIME', size: bytes.length,
    ingressHost: 'mx.test.example', raw: bytes, ...over,
  });
}

/** A MailRecord as the ingress writes it: the envelope, every stage section at its default (null). */
export function templateMailRecord(raw: Buffer | string, over: Partial<Envelope> = {}): MailRecord {
  return withDefaults<MailRecord>(mailRecordSchema(), { envelope: templateEnvelope(raw, over) });
}
