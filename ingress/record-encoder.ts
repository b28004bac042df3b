/**
 * Encodes the ingress's MailRecord (Confluent framing: magic byte, schema id, Avro) with the raw
 * message spliced in, so the message body is copied exactly once: from the DATA chunks into the
 * record the producer sends. Encoding the usual way copies it three times (the chunks joined into
 * `raw`, `raw` into the Avro buffer, the Avro buffer behind the 5-byte header) and briefly holds
 * four copies of a message of up to 25 MiB.
 *
 * An Avro record is the concatenation of its fields' encodings, and `bytes` is a zig-zag varint
 * length followed by the bytes. So the fields around `envelope.raw` are encoded with their own
 * avsc types (taken from schemas/, so a schema change is followed automatically) and the body goes
 * between them. ingress/record-encoder.test.ts checks the output byte for byte against avsc.
 */
import type avro from 'avsc';
import { schema } from '../schemas/index.ts';
import type { Envelope } from '../schemas/types.ts';

type Field = { name: string; type: avro.Type; defaultValue(): unknown };
type Fields = { fields: Field[] };

/** The fields of MailRecord in wire order, as a flat list with the envelope's fields inlined. */
interface Plan {
  head: { owner: 'envelope' | 'record'; field: Field }[];
  tail: { owner: 'envelope' | 'record'; field: Field }[];
}

function plan(): Plan {
  const record = schema('MailRecord').type as unknown as Fields;
  const head: Plan['head'] = [];
  const tail: Plan['tail'] = [];
  let seenRaw = false;
  for (const f of record.fields) {
    if (f.name !== 'envelope') {
      (seenRaw ? tail : head).push({ owner: 'record', field: f });
      continue;
    }
    for (const ef of (f.type as unknown as Fields).fields) {
      if (ef.name === 'raw') {
        if (ef.type.typeName !== 'bytes') throw new Error(`Envelope.raw is ${ef.type.typeName}, expected bytes`);
        seenRaw = true;
      } else {
        (seenRaw ? tail : head).push({ owner: 'envelope', field: ef });
      }
    }
  }
  if (!seenRaw) throw new Error('MailRecord has no envelope.raw field');
  return { head, tail };
}

/** Avro `long` as a zig-zag varint (lengths are never negative, so zig-zag is n * 2). */
function writeLength(n: number, into: Buffer, at: number): number {
  let v = n * 2;
  while (v >= 0x80) {
    into[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  into[at++] = v;
  return at;
}

const lengthBytes = (n: number) => {
  let v = n * 2;
  let k = 1;
  while (v >= 0x80) { v = Math.floor(v / 0x80); k++; }
  return k;
};

export type EnvelopeWithoutRaw = Omit<Envelope, 'raw'>;

export class MailRecordEncoder {
  private readonly p = plan();

  /**
   * The framed record for schema `schemaId`: envelope fields from `envelope`, `raw` = the
   * concatenation of `parts` (their total length is `rawLength`), every other section at its default.
   * `reserve` is asked for the record's size before it is allocated; if it says no, nothing is
   * allocated and the result is undefined.
   */
  encode(schemaId: number, envelope: EnvelopeWithoutRaw, parts: readonly Buffer[], rawLength: number, reserve?: (bytes: number) => boolean): Buffer | undefined {
    const value = (x: { owner: 'envelope' | 'record'; field: Field }) =>
      x.owner === 'envelope' ? (envelope as unknown as Record<string, unknown>)[x.field.name] : x.field.defaultValue();
    const head = this.p.head.map((x) => x.field.type.toBuffer(value(x)));
    const tail = this.p.tail.map((x) => x.field.type.toBuffer(value(x)));
    const sum = (bs: Buffer[]) => bs.reduce((n, b) => n + b.length, 0);
    const total = 5 + sum(head) + lengthBytes(rawLength) + rawLength + sum(tail);
    if (reserve && !reserve(total)) return undefined;
    const out = Buffer.allocUnsafe(total);
    out[0] = 0;
    out.writeInt32BE(schemaId, 1);
    let at = 5;
    for (const b of head) at += b.copy(out, at);
    at = writeLength(rawLength, out, at);
    let raw = 0;
    for (const b of parts) raw += b.copy(out, at + raw);
    if (raw !== rawLength) throw new Error(`raw parts hold ${raw} bytes, expected ${rawLength}`);
    at += raw;
    for (const b of tail) at += b.copy(out, at);
    return out;
  }
}
