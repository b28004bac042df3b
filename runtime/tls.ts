/**
 * TLS material. A server certificate (the ingress's STARTTLS and implicit TLS, the console's HTTPS): the
 * configured PEM files, or a self-signed one generated for local use (with `selfsigned`) and cached
 * in `dir` so restarts present the same certificate. A cached one is regenerated when it expires
 * within a day or names another host. A client certificate for mutual TLS to Kafka
 * (loadClientCertificate). `settings` names the configuration keys in error messages.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { ConfigError } from './config.ts';
import type { Logger } from './log.ts';
import { assertPrivateFile } from './private-file.ts';

export interface TlsMaterial {
  key: string;
  cert: string;
  selfSigned: boolean;
  fingerprint256: string;
  subject: string;
  validTo: string;
}

const DAY = 24 * 60 * 60 * 1000;

export interface TlsSettings { cert: string; key: string }

export async function loadTlsMaterial(opts: { tls?: { certFile: string; keyFile: string }; hostname: string; dir: string; log: Logger; settings: TlsSettings }): Promise<TlsMaterial> {
  const { cert: CERT, key: KEY } = opts.settings;
  if (opts.tls) {
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(opts.tls.certFile, 'utf8');
      key = readFileSync(opts.tls.keyFile, 'utf8');
    } catch (e) {
      throw new ConfigError(CERT, `cannot read the certificate or key: ${(e as Error).message}`, `point ${CERT} / ${KEY} at readable PEM files`);
    }
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch (e) {
      throw new ConfigError(CERT, `${opts.tls.certFile} is not a PEM certificate (${(e as Error).message})`, 'use a PEM-encoded certificate chain');
    }
    if (!x509.checkPrivateKey(importKey(key, opts.tls.keyFile, KEY))) {
      throw new ConfigError(KEY, `${opts.tls.keyFile} is not the private key of ${opts.tls.certFile}`, 'use the key that belongs to the certificate');
    }
    opts.log.info({ subject: x509.subject, validTo: x509.validTo, fingerprint256: x509.fingerprint256 }, 'TLS: using the configured certificate');
    return { key, cert, selfSigned: false, fingerprint256: x509.fingerprint256, subject: x509.subject, validTo: x509.validTo };
  }

  const dir = opts.dir;
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  try {
    const cert = readFileSync(certFile, 'utf8');
    const key = readFileSync(keyFile, 'utf8');
    const x509 = new X509Certificate(cert);
    if (Date.parse(x509.validTo) - Date.now() > DAY && x509.checkHost(opts.hostname) !== undefined) {
      opts.log.warn({ certFile, fingerprint256: x509.fingerprint256, validTo: x509.validTo }, `TLS: using a SELF-SIGNED certificate (generated earlier for local use); set ${CERT} and ${KEY} for a real one`);
      return { key, cert, selfSigned: true, fingerprint256: x509.fingerprint256, subject: x509.subject, validTo: x509.validTo };
    }
  } catch {
    /* none cached yet, or unreadable: generate */
  }
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: opts.hostname }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - DAY),
    notAfterDate: new Date(now.getTime() + 365 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: opts.hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert);
  const x509 = new X509Certificate(pems.cert);
  opts.log.warn({ certFile, fingerprint256: x509.fingerprint256, validTo: x509.validTo }, `TLS: generated a SELF-SIGNED certificate for local use; set ${CERT} and ${KEY} for a real one`);
  return { key: pems.private, cert: pems.cert, selfSigned: true, fingerprint256: x509.fingerprint256, subject: x509.subject, validTo: x509.validTo };
}

function importKey(pem: string, file: string, setting: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new ConfigError(setting, `${file} is not a PEM private key (${(e as Error).message})`, 'use an unencrypted PEM private key');
  }
}

/** The configuration keys of a client certificate, for error messages. */
export interface ClientCertSettings { cert: string; key: string; passphrase: string }

export interface ClientCertificate { cert: string; key: string; passphrase?: string; subject: string; validTo: string }

/**
 * A client certificate for mutual TLS (Kafka's ssl.client.auth=required): the PEM certificate
 * (chain), its private key — readable by this user only, optionally encrypted with `passphrase` —
 * checked to belong together and to be valid now, so a mistake is one config error at start, not
 * a handshake failure on every connection.
 */
export function loadClientCertificate(o: { certFile: string; keyFile: string; passphrase?: string; settings: ClientCertSettings }): ClientCertificate {
  const { cert: CERT, key: KEY, passphrase: PASS } = o.settings;
  const read = (file: string, setting: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(setting, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `point ${setting} at a readable PEM file`);
    }
  };
  const cert = read(o.certFile, CERT);
  const keyPem = read(o.keyFile, KEY);
  assertPrivateFile(o.keyFile, KEY);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new ConfigError(CERT, `${o.certFile} is not a PEM certificate (${(e as Error).message})`, 'use a PEM-encoded certificate (chain), the client certificate first');
  }
  const now = Date.now();
  if (Date.parse(x509.validTo) < now || Date.parse(x509.validFrom) > now) {
    throw new ConfigError(CERT, `${o.certFile} is not valid now (valid from ${x509.validFrom} to ${x509.validTo})`, 'renew the client certificate');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(o.passphrase === undefined ? keyPem : { key: keyPem, passphrase: o.passphrase });
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(keyPem);
    if (encrypted) {
      throw new ConfigError(PASS, o.passphrase === undefined ? `${o.keyFile} is encrypted and no passphrase is set` : `the passphrase does not decrypt ${o.keyFile}`, `set ${PASS} to the key's passphrase`);
    }
    throw new ConfigError(KEY, `${o.keyFile} is not a PEM private key (${(e as Error).message})`, 'use the PEM private key of the client certificate');
  }
  if (!x509.checkPrivateKey(key)) {
    throw new ConfigError(KEY, `${o.keyFile} is not the private key of ${o.certFile}`, 'use the key that belongs to the client certificate');
  }
  return { cert, key: keyPem, ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}), subject: x509.subject, validTo: x509.validTo };
}
