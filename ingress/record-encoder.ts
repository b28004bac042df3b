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
import avro from 'avsc';
import { schema } from '../schemas/index.ts';
import type { Envelope } from '../schemas/types.ts';

type Field = { name: string; type: avro.Type; defaultValue(): unknown };
type Fields = { fields: Field[] };
type Part = { owner: 'envelope' | 'record'; field: Field };

/** The fields of MailRecord in wire order, with the envelope's fields inlined, split at `raw`. */
function plan(): { head: Part[]; tail: Part[] } {
  const record = schema('MailRecord').type as unknown as Fields;
  const head: Part[] = [];
  const tail: Part[] = [];
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

/**
 * One avsc record type per side of `raw`, made of the real fields' types: encoding it writes
 * exactly those fields' encodings back to back (one call, no allocation per field).
 */
function sideType(name: string, parts: Part[]): avro.Type {
  return avro.Type.forSchema({ type: 'record', name: `dev.scop.ingress.encoder.${name}`, fields: parts.map((p) => ({ name: p.field.name, type: p.field.type })) } as unknown as avro.Schema);
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
  private readonly parts = plan();
  private readonly headType = sideType('Head', this.parts.head);
  private readonly tailType = sideType('Tail', this.parts.tail);
  private readonly recordDefaults = Object.fromEntries(this.parts.tail.filter((p) => p.owner === 'record').map((p) => [p.field.name, p.field.defaultValue()]));
  private readonly tailFromEnvelope = this.parts.tail.filter((p) => p.owner === 'envelope').map((p) => p.field.name);
  private scratch = Buffer.allocUnsafe(64 * 1024);

  /**
   * The framed record for schema `schemaId`: envelope fields from `envelope`, `raw` = the
   * concatenation of `parts` (their total length is `rawLength`), every other section at its default.
   * `reserve` is asked for the record's size before it is allocated; if it says no, nothing is
   * allocated and the result is undefined.
   */
  encode(schemaId: number, envelope: EnvelopeWithoutRaw, parts: readonly Buffer[], rawLength: number, reserve?: (bytes: number) => boolean): Buffer | undefined {
    const env = envelope as unknown as Record<string, unknown>;
    const tailValue: Record<string, unknown> = { ...this.recordDefaults };
    for (const name of this.tailFromEnvelope) tailValue[name] = env[name];
    // Head and tail go into one scratch buffer (grown when a large envelope needs it), then once
    // into the record: no allocation per field, no copy of the body but the one into the record.
    let headEnd: number;
    let tailEnd: number;
    for (;;) {
      headEnd = this.headType.encode(env, this.scratch, 0);
      tailEnd = headEnd < 0 ? -1 : this.tailType.encode(tailValue, this.scratch, headEnd);
      if (headEnd >= 0 && tailEnd >= 0) break;
      this.scratch = Buffer.allocUnsafe(this.scratch.length * 4);
    }
    const total = 5 + headEnd + lengthBytes(rawLength) + rawLength + (tailEnd - headEnd);
    if (reserve && !reserve(total)) return undefined;
    // Its own memory (never a slice of Node's shared pool), so it can be handed to another thread without a copy.
    const out = Buffer.allocUnsafeSlow(total);
    out[0] = 0;
    out.writeInt32BE(schemaId, 1);
    let at = 5 + this.scratch.copy(out, 5, 0, headEnd);
    at = writeLength(rawLength, out, at);
    let raw = 0;
    for (const b of parts) raw += b.copy(out, at + raw);
    if (raw !== rawLength) throw new Error(`raw parts hold ${raw} bytes, expected ${rawLength}`);
    at += raw;
    this.scratch.copy(out, at, headEnd, tailEnd);
    return out;
  }
}
