/**
 * A throwaway certificate authority for TLS tests (openssl, from Debian's openssl package): a CA,
 * a broker/server certificate for 127.0.0.1 and localhost, a client certificate signed by the CA,
 * one signed by another CA (must be refused), and the client key encrypted with a passphrase.
 * RSA and unencrypted PKCS#8, which Kafka's PEM key store reads. Valid for two days.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caCert: string;
  /** The broker's key and certificate in one PEM file (Kafka's ssl.keystore.type=PEM). */
  brokerKeystore: string;
  brokerCert: string;
  brokerKey: string;
  clientCert: string;
  clientKey: string;
  /** clientKey encrypted with `passphrase`. */
  clientKeyEncrypted: string;
  passphrase: string;
  /** A client certificate and key signed by a CA the server does not trust. */
  strangerCert: string;
  strangerKey: string;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

export function generateTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ca = (name: string) => openssl(['req', '-x509', '-newkey', 'rsa:2048', '-noenc', '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-days', '2', '-subj', `/CN=${name}`]);
  const issue = (name: string, caName: string, ext: string) => {
    openssl(['req', '-newkey', 'rsa:2048', '-noenc', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`]);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.crt`), '-CAkey', f(`${caName}.key`), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`)]);
    chmodSync(f(`${name}.key`), 0o600);
  };
  ca('scop-test-ca');
  ca('stranger-ca');
  issue('broker', 'scop-test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue('scop-client', 'scop-test-ca', 'extendedKeyUsage=clientAuth\n');
  issue('stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n');
  const passphrase = 'test passphrase';
  openssl(['pkey', '-in', f('scop-client.key'), '-out', f('scop-client.enc.key'), '-aes-256-cbc', '-passout', `pass:${passphrase}`]);
  chmodSync(f('scop-client.enc.key'), 0o600);
  writeFileSync(f('broker.keystore.pem'), readFileSync(f('broker.key'), 'utf8') + readFileSync(f('broker.crt'), 'utf8'), { mode: 0o600 });
  return {
    dir, caCert: f('scop-test-ca.crt'), brokerKeystore: f('broker.keystore.pem'), brokerCert: f('broker.crt'), brokerKey: f('broker.key'),
    clientCert: f('scop-client.crt'), clientKey: f('scop-client.key'), clientKeyEncrypted: f('scop-client.enc.key'), passphrase,
    strangerCert: f('stranger.crt'), strangerKey: f('stranger.key'),
  };
}
