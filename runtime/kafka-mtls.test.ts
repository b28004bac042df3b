/**
 * Mutual TLS to Kafka: a broker of our own whose only client listener requires a client certificate
 * (ssl.client.auth=required), with a throwaway CA made by openssl (infra/test-pki.ts). Both client
 * implementations write and read through it with KAFKA_TLS_CERT_FILE / KAFKA_TLS_KEY_FILE (plain and
 * passphrase-protected key); without a certificate, or with one from a CA the broker does not trust,
 * the broker refuses them. And the configuration errors name the setting and the fix.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLocalKafka, type LocalKafka } from '../infra/kafka/broker.ts';
import { freePort } from '../infra/ports.ts';
import { generateTestPki, type TestPki } from '../infra/test-pki.ts';
import { ConfigError } from './config.ts';
import { CLIENT_KINDS, createKafkaClient, kafkaSettingsFromEnv, probeBrokers } from './kafka.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(ROOT, '.data', 'mtls-test-'));
let pki: TestPki;
let broker: LocalKafka | undefined;

const tlsEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  KAFKA_BROKERS: broker?.bootstrap ?? '127.0.0.1:9', KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: pki.caCert,
  KAFKA_TLS_CERT_FILE: pki.clientCert, KAFKA_TLS_KEY_FILE: pki.clientKey, ...extra,
});
const configError = (env: NodeJS.ProcessEnv, key: string, text: RegExp) =>
  assert.throws(() => kafkaSettingsFromEnv(env), (e: unknown) => e instanceof ConfigError && e.key === key && text.test(e.message), `${key}: ${text}`);

before(() => { pki = generateTestPki(join(dir, 'pki')); });
after(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Kafka client certificates: configuration', () => {
  it('loads a certificate with its key (and an encrypted key with its passphrase) into the TLS settings', () => {
    const s = kafkaSettingsFromEnv(tlsEnv());
    assert.ok(typeof s.ssl === 'object' && s.ssl.cert?.includes('BEGIN CERTIFICATE') && s.ssl.key?.includes('BEGIN PRIVATE KEY') && s.ssl.rejectUnauthorized);
    const enc = kafkaSettingsFromEnv(tlsEnv({ KAFKA_TLS_KEY_FILE: pki.clientKeyEncrypted, KAFKA_TLS_KEY_PASSPHRASE: pki.passphrase }));
    assert.ok(typeof enc.ssl === 'object' && enc.ssl.passphrase === pki.passphrase && enc.ssl.key?.includes('ENCRYPTED'));
  });

  it('refuses what would fail at every connection, naming the key and the fix', () => {
    configError(tlsEnv({ KAFKA_TLS_KEY_FILE: '' }), 'KAFKA_TLS_KEY_FILE', /its private key is missing — set KAFKA_TLS_KEY_FILE/);
    configError(tlsEnv({ KAFKA_TLS_CERT_FILE: '' }), 'KAFKA_TLS_CERT_FILE', /certificate is missing — set KAFKA_TLS_CERT_FILE/);
    configError(tlsEnv({ KAFKA_TLS: 'false' }), 'KAFKA_TLS', /TLS is off — set KAFKA_TLS=true/);
    configError(tlsEnv({ KAFKA_TLS_CERT_FILE: '', KAFKA_TLS_KEY_FILE: '', KAFKA_TLS_KEY_PASSPHRASE: 'x' }), 'KAFKA_TLS_KEY_PASSPHRASE', /no KAFKA_TLS_KEY_FILE/);
    configError(tlsEnv({ KAFKA_TLS_CERT_FILE: join(dir, 'missing.crt') }), 'KAFKA_TLS_CERT_FILE', /cannot read .*ENOENT/);
    configError(tlsEnv({ KAFKA_TLS_CERT_FILE: pki.clientKey }), 'KAFKA_TLS_CERT_FILE', /is not a PEM certificate/);
    configError(tlsEnv({ KAFKA_TLS_KEY_FILE: pki.strangerKey }), 'KAFKA_TLS_KEY_FILE', /is not the private key of/);
    configError(tlsEnv({ KAFKA_TLS_KEY_FILE: pki.clientKeyEncrypted }), 'KAFKA_TLS_KEY_PASSPHRASE', /is encrypted and no passphrase is set/);
    configError(tlsEnv({ KAFKA_TLS_KEY_FILE: pki.clientKeyEncrypted, KAFKA_TLS_KEY_PASSPHRASE: 'wrong' }), 'KAFKA_TLS_KEY_PASSPHRASE', /does not decrypt/);
    const open = join(pki.dir, 'readable.key');
    copyFileSync(pki.clientKey, open);
    chmodSync(open, 0o644);
    configError(tlsEnv({ KAFKA_TLS_KEY_FILE: open }), 'KAFKA_TLS_KEY_FILE', /readable by others \(mode 644\) — chmod 600/);
  });
});

describe('Kafka client certificates: a broker that requires them', { timeout: 300000 }, () => {
  before(async () => {
    broker = await startLocalKafka({
      dataDir: join(dir, 'kafka'), port: await freePort(), controllerPort: await freePort(), heap: '384m',
      tls: { keystore: pki.brokerKeystore, truststore: pki.caCert, client: kafkaSettingsFromEnv(tlsEnv()).ssl! },
    });
    const admin = createKafkaClient(kafkaSettingsFromEnv(tlsEnv())).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'mtls', numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
  });

  for (const kind of CLIENT_KINDS) {
    it(`${kind}: writes and reads with the client certificate (encrypted key with its passphrase)`, async () => {
      const settings = kafkaSettingsFromEnv(tlsEnv({ KAFKA_CLIENT: kind, KAFKA_TLS_KEY_FILE: pki.clientKeyEncrypted, KAFKA_TLS_KEY_PASSPHRASE: pki.passphrase }));
      const client = createKafkaClient(settings);
      const producer = client.producer();
      await producer.connect();
      const [meta] = await producer.send({ topic: 'mtls', messages: [{ key: kind, value: `over mTLS with ${kind}` }] });
      await producer.disconnect();
      const reader = client.reader();
      const got = await reader.read('mtls', 0, BigInt(meta!.baseOffset), 1 << 20);
      await reader.close();
      assert.equal(got[0]?.value?.toString(), `over mTLS with ${kind}`);
    });

    it(`${kind}: refused without a client certificate, and with one from a CA the broker does not trust`, async () => {
      for (const extra of [{ KAFKA_TLS_CERT_FILE: '', KAFKA_TLS_KEY_FILE: '' }, { KAFKA_TLS_CERT_FILE: pki.strangerCert, KAFKA_TLS_KEY_FILE: pki.strangerKey }]) {
        const settings = kafkaSettingsFromEnv(tlsEnv({ KAFKA_CLIENT: kind, ...extra }));
        const client = createKafkaClient(settings, { retries: 0, connectionTimeoutMs: 3000, requestTimeoutMs: 5000 });
        const producer = client.producer({ retries: 1 });
        // Refused means never written: an error, or (a client that keeps retrying) no answer at all.
        const outcome = await Promise.race([
          (async () => { await producer.connect(); await producer.send({ topic: 'mtls', messages: [{ value: `must not land ${kind}` }] }); return 'written'; })().catch(() => 'refused'),
          new Promise<string>((r) => setTimeout(() => r('no answer'), 20000)),
        ]);
        client.sever();
        assert.notEqual(outcome, 'written', `${kind} with ${extra.KAFKA_TLS_CERT_FILE || 'no certificate'}`);
        console.log(`# ${kind}, ${extra.KAFKA_TLS_CERT_FILE ? 'untrusted certificate' : 'no certificate'}: ${outcome}`);
      }
      const reader = createKafkaClient(kafkaSettingsFromEnv(tlsEnv())).reader();
      const all = await reader.read('mtls', 0, 0n, 1 << 20);
      await reader.close();
      assert.ok(all.length > 0 && all.every((m) => !m.value?.toString().startsWith('must not land')), 'nothing was written without a trusted client certificate');
      await assert.rejects(probeBrokers(kafkaSettingsFromEnv(tlsEnv({ KAFKA_TLS_CERT_FILE: '', KAFKA_TLS_KEY_FILE: '' })), 3000), (e: unknown) => e instanceof ConfigError && e.key === 'KAFKA_BROKERS');
    });
  }
});
