/**
 * Registry round trip against the registry the test stack runs (or SCHEMA_REGISTRY_URL): register,
 * encode, decode, a BACKWARD-incompatible change rejected, a compatible one accepted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import type { MailRecord } from '../schemas/types.ts';
import { schema } from '../schemas/index.ts';
import { probeRegistry, RecordCodec, subjectFor } from './registry.ts';
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
