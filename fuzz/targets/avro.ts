/**
 * Avro decoding of every topic's records, the way every stage reads its input: RecordCodec.decodeAs
 * (runtime/registry.ts) on Confluent-framed bytes, with the current schema as reader and, as writer,
 * the current schema or a released one from schemas/history/ (so the resolvers are exercised too).
 * The registry is a stub that knows those writer schemas by id.
 *
 * Input: byte 0 picks the schema, byte 1 the writer version (or, when its top bit is set, the rest
 * is taken as the whole frame, magic byte and id included); the rest is the Avro payload.
 *
 * Invariants: decodeAs resolves or rejects with RecordFormatError / UnknownSchemaError only (the
 * errors that send a record to the dead-letter topic); a decoded value is valid for the reader
 * type and survives encodeWith → decodeAs unchanged; time per record bounded (the budget).
 */
import avro from 'avsc';
import { RecordCodec, RecordFormatError, UnknownSchemaError } from '../../runtime/registry.ts';
import { TOPICS } from '../../runtime/topics.ts';
import { historyOf } from '../../schemas/compat.ts';
import { schema, type SchemaName } from '../../schemas/index.ts';
import { invariant, onlyTyped } from '../harness/invariants.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

/** The value schemas of the topics, each once. */
const NAMES = [...new Set(Object.values(TOPICS).map((t) => t.valueSchema).filter((n) => n !== undefined))].sort();

interface Writer { id: number; type: avro.Type }
/** Per schema: the current version, then each released version from schemas/history/<Name>/. */
const writers = new Map<SchemaName, Writer[]>();
const byId = new Map<number, avro.Type>();
let nextId = 1;

function addWriter(name: SchemaName, type: avro.Type): void {
  const w = { id: nextId++, type };
  byId.set(w.id, type);
  writers.set(name, [...(writers.get(name) ?? []), w]);
}

for (const name of NAMES) addWriter(name, schema(name).type);
// Released snapshots are self-contained: each parses alone, as a registry would hand it out.
for (const name of NAMES) for (const h of historyOf(name)) addWriter(name, avro.Type.forSchema(h.schema));

const codec = new RecordCodec({ url: 'http://registry.invalid' });
// The stub registry: known ids answer their schema, others a 404 like a real registry.
(codec.registry as unknown as { getSchema(id: number): Promise<unknown> }).getSchema = async (id: number) => {
  const t = byId.get(id);
  if (!t) throw Object.assign(new Error(`Schema ${id} not found`), { status: 404 });
  return t;
};

function frame(id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeInt32BE(id, 1);
  return Buffer.concat([head, payload]);
}

export default defineTarget({
  name: 'avro',
  about: 'RecordCodec.decodeAs of every topic schema, current and released writers (stub registry)',
  instrument: ['runtime/registry.ts', 'schemas/index.ts', 'node_modules/avsc/'],
  async: true,
  maxLen: 8 * 1024,
  budgetMs: 500,
  *seeds(): Generator<Seed> {
    // Valid records of every writer (avsc's random values), so mutations start from real framing.
    for (const name of NAMES) {
      for (const [v, w] of writers.get(name)!.entries()) {
        for (let i = 0; i < 4; i++) {
          const payload = w.type.toBuffer(w.type.random());
          if (payload.length <= 8 * 1024 - 2) yield { name: `${name}-v${v}-${i}`, data: Buffer.concat([Buffer.from([NAMES.indexOf(name), v]), payload]) };
        }
      }
    }
  },
  async run(data) {
    if (data.length < 2) return;
    const name = NAMES[data[0]! % NAMES.length]!;
    const versions = writers.get(name)!;
    const framed = data[1]! & 0x80 ? data.subarray(2) : frame(versions[data[1]! % versions.length]!.id, data.subarray(2));
    let value: unknown;
    try {
      value = await codec.decodeAs(framed, name);
    } catch (e) {
      onlyTyped(e, [RecordFormatError, UnknownSchemaError], `decodeAs(${name})`);
      return;
    }
    const reader = schema(name).type;
    invariant(reader.isValid(value), `decoded ${name} is not valid for its own schema`);
    const again = await codec.decodeAs(codec.encodeWith(versions[0]!.id, name, value), name);
    invariant(reader.toBuffer(again).equals(reader.toBuffer(value)), `${name} changed in an encode/decode round trip`);
  },
});
