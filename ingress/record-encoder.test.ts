/**
 * The spliced MailRecord encoding equals avsc's encoding of the same record byte for byte, for
 * bodies split in any number of parts, lengths whose varint takes 1 to 4 bytes, and every optional
 * envelope field set or null.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type avro from 'avsc';
import { schema } from '../schemas/index.ts';
import type { MailRecord } from '../schemas/types.ts';
import { MailRecordEncoder, type EnvelopeWithoutRaw } from './record-encoder.ts';

function reference(id: number, record: MailRecord): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  return Buffer.concat([header, schema('MailRecord').type.toBuffer(record)]);
}

function withDefaults(envelope: MailRecord['envelope']): MailRecord {
  const type = schema('MailRecord').type as avro.types.RecordType;
  const sections = Object.fromEntries(type.fields.filter((f) => f.name !== 'envelope').map((f) => [f.name, f.defaultValue()]));
  return { ...sections, envelope } as MailRecord;
}

const base: EnvelopeWithoutRaw = {
  id: '01900000-0000-7000-8000-000000000000', receivedAt: 1_700_000_000_000, listener: 'SUBMISSION', clientIp: '2001:db8::1', clientPort: 50123,
  clientHostname: 'client.example', helo: 'client.example', tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', implicit: false },
  authUser: 'alice@example.com', mailFrom: 'alice@example.com', rcptTo: ['bob@example.net', 'zoë@example.net'], smtpUtf8: true, bodyType: 'EIGHT_BIT_MIME',
  size: 0, ingressHost: 'mx.example', traceLength: 0, messageSha256: 'ab'.repeat(32), submissionMac: 'cd'.repeat(32), clientHostnameConfirmed: true,
};

describe('MailRecordEncoder', () => {
  const encoder = new MailRecordEncoder();

  for (const length of [0, 1, 63, 64, 8191, 8192, 70_000, 1_048_577]) {
    it(`matches avsc for a body of ${length} bytes in several parts`, () => {
      const raw = randomBytes(length);
      const cut = [0, Math.floor(length / 3), Math.floor(length / 2), length];
      const parts = cut.slice(1).map((end, i) => raw.subarray(cut[i], end));
      const envelope = { ...base, size: length, traceLength: Math.min(10, length) };
      const ours = encoder.encode(4242, envelope, parts, length)!;
      assert.ok(ours.equals(reference(4242, withDefaults({ ...envelope, raw }))));
    });
  }

  it('matches avsc with every optional field null', () => {
    const envelope: EnvelopeWithoutRaw = { ...base, clientHostname: null, tls: null, authUser: null, messageSha256: null, submissionMac: null, clientHostnameConfirmed: null, rcptTo: [], listener: 'MX', bodyType: 'SEVEN_BIT', smtpUtf8: false };
    const raw = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    assert.ok(encoder.encode(1, envelope, [raw], raw.length)!.equals(reference(1, withDefaults({ ...envelope, raw }))));
  });

  it('asks before allocating, and allocates nothing when refused; a wrong length is an error', () => {
    const raw = Buffer.alloc(1000);
    let asked = 0;
    assert.equal(encoder.encode(1, base, [raw], raw.length, (n) => { asked = n; return false; }), undefined);
    assert.ok(asked > 1000 && asked < 1400, `asked for ${asked}`);
    assert.throws(() => encoder.encode(1, base, [raw], 999), /expected 999/);
  });
});
