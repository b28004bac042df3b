/**
 * Registry round trip against the registry the test stack runs (or SCHEMA_REGISTRY_URL): register,
 * encode, decode, a BACKWARD-incompatible change rejected, a compatible one accepted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import type { MailRecord } from '../schemas/types.ts';
import { schema } from '../schemas/index.ts';
import { probeRegistry, RecordCodec, RecordFormatError, subjectFor } from './registry.ts';
import { testRegistry, uniqueName } from './testing.ts';
import { ConfigError } from './config.ts';

// Built through the schema so every stage section takes its default (null).
const sampleRecord = (): MailRecord => schema('MailRecord').type.clone({
  envelope: {
    id: '0190f4a2-0000-7000-8000-000000000001', receivedAt: Date.now(), listener: 'MX', clientIp: '192.0.2.10', clientPort: 40000,
    clientHostname: null, helo: 'client.example', tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', implicit: false },
    authUser: null, mailFrom: 'alice@example.org', rcptTo: ['bob@example.net', 'carol@example.net'], smtpUtf8: false, bodyType: 'EIGHT_BIT_MIME',
    size: 5, ingressHost: 'mx.test', raw: Buffer.from('hello'),
  },
}) as MailRecord;

describe('schema registry round trip', () => {
  it('registers the MailRecord schema, encodes in the Confluent wire format and decodes it back', async () => {
    const codec = new RecordCodec(testRegistry());
    const topic = uniqueName('rt');
    const id = await codec.registerSchema(topic, 'MailRecord');
    assert.equal(await codec.registerSchema(topic, 'MailRecord'), id, 'registering the same schema again returns the same id');
    const rec = sampleRecord();
    const buf = await codec.encode(topic, rec);
    assert.equal(buf[0], 0, 'magic byte');
    assert.equal(buf.readInt32BE(1), id, 'schema id follows the magic byte');
    const back = await codec.decode<MailRecord>(buf);
    // avsc decodes into record classes; compare plain data.
    const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
    assert.deepEqual(plain(back), plain(rec));
    assert.ok(Buffer.isBuffer(back.envelope.raw) && back.envelope.raw.equals(Buffer.from('hello')));
  });

  it('rejects a BACKWARD-incompatible change and accepts a compatible one', async () => {
    const codec = new RecordCodec(testRegistry());
    const subject = subjectFor(uniqueName('compat'));
    const v1 = { type: 'record', name: 'Probe', namespace: 'dev.scop.test', fields: [{ name: 'a', type: 'string' }] };
    await codec.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    const incompatible = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int' }] };
    await assert.rejects(
      codec.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject }),
      (e: Error) => /incompatible|409/i.test(e.message),
    );
    const compatible = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int', default: 0 }] };
    const { id } = await codec.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(compatible) }, { subject });
    assert.equal(await codec.registry.getLatestSchemaId(subject), id);
  });

  it('an unreachable registry is a one-line config error naming SCHEMA_REGISTRY_URL', async () => {
    await assert.rejects(probeRegistry({ url: 'http://127.0.0.1:1' }, 1000), (e: unknown) => e instanceof ConfigError && e.key === 'SCHEMA_REGISTRY_URL' && /did not answer/.test(e.message));
  });
});

/** A codec whose registry knows one schema id, without a registry server. */
function stubCodec(id: number, name: 'MailRecord'): RecordCodec {
  const codec = new RecordCodec({ url: 'http://registry.invalid' });
  (codec.registry as unknown as { getSchema(n: number): Promise<unknown> }).getSchema = async (n) => {
    if (n !== id) throw Object.assign(new Error(`Schema ${n} not found`), { status: 404 });
    return schema(name).type;
  };
  return codec;
}

describe('decodeAs on hostile bytes (found by fuzz/targets/avro.ts)', () => {
  // A few bytes declaring an array of 2^30 strings, then nothing: avsc used to read 2^30 items past the
  // end of the buffer (seconds of CPU, gigabytes of memory) before noticing the record was truncated.
  it('a huge array block count in a truncated record is a RecordFormatError, at once', async () => {
    const rec = sampleRecord();
    rec.envelope.rcptTo = ['RCPT-MARKER'];
    const valid = schema('MailRecord').type.toBuffer(rec);
    const at = valid.indexOf(Buffer.concat([Buffer.from([0x02, 0x16]), Buffer.from('RCPT-MARKER')]));
    assert.ok(at > 0, 'the rcptTo array is where the test expects it');
    const hugeCount = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08]); // zigzag varint of 2^30
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), valid.subarray(0, at), hugeCount]);
    const t0 = performance.now();
    await assert.rejects(stubCodec(7, 'MailRecord').decodeAs(frame, 'MailRecord'), RecordFormatError);
    assert.ok(performance.now() - t0 < 1000, `took ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it('an int written as a 10-byte varint (a value no int holds) is a RecordFormatError, not a record', async () => {
    const rec = sampleRecord();
    rec.envelope.clientPort = 12345;
    const valid = schema('MailRecord').type.toBuffer(rec);
    const port = Buffer.concat([Buffer.from([0x14]), Buffer.from('192.0.2.10'), Buffer.from([0xf2, 0xc0, 0x01])]); // clientIp, then zigzag varint 24690
    const at = valid.indexOf(port);
    assert.ok(at > 0, 'clientIp and clientPort are where the test expects them');
    const ipEnd = at + port.length - 3;
    const huge = Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), valid.subarray(0, ipEnd), huge, valid.subarray(ipEnd + 3)]);
    await assert.rejects(stubCodec(7, 'MailRecord').decodeAs(frame, 'MailRecord'), (e: unknown) => e instanceof RecordFormatError && /envelope\.clientPort/.test(e.message));
  });

  it('the same for a map block count (alerts and dead letters carry maps)', async () => {
    const avro = (await import('avsc')).default;
    const t = avro.Type.forSchema({ type: 'map', values: 'string' });
    const t0 = performance.now();
    assert.throws(() => t.fromBuffer(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08])), /truncated/);
    assert.ok(performance.now() - t0 < 1000, `took ${(performance.now() - t0).toFixed(0)} ms`);
  });
});
