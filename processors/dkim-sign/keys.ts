/**
 * DKIM signing keys: loading (a key directory `<dir>/<domain>/<selector>.pem`, or explicit
 * `domain:selector:file` entries), generation for `scop dkim keygen`, and the DNS TXT record to
 * publish (RFC 6376 §3.6.1; Ed25519 p= is the raw 32-byte key, RFC 8463 §4).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  privateKey: KeyObject;
  /** RSA modulus length; null for Ed25519. */
  bits: number | null;
  file: string;
}

/** A domain as DKIM d= wants it: A-label, lower case, no trailing dot; null when not a host name. */
export function normalizeDomain(domain: string): string | null {
  const ascii = domainToASCII(domain.trim().replace(/\.$/, '').toLowerCase());
  if (!ascii || ascii.length > 253 || !ascii.includes('.')) return null;
  return ascii.split('.').every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) ? ascii : null;
}

/** RFC 6376 §3.1: selector = sub-domain (dot-separated labels). */
export function validSelector(s: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(s);
}

export class KeyError extends Error {
  override name = 'KeyError';
}

export function keyFromPem(domain: string, selector: string, pem: string | Buffer, file: string): DkimKey {
  const d = normalizeDomain(domain);
  if (!d) throw new KeyError(`${file}: "${domain}" is not a domain name`);
  if (!validSelector(selector)) throw new KeyError(`${file}: "${selector}" is not a valid selector`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new KeyError(`${file}: not a PEM private key (${(e as Error).message})`);
  }
  const type = privateKey.asymmetricKeyType;
  if (type === 'rsa') {
    return { domain: d, selector, algorithm: 'rsa-sha256', privateKey, bits: privateKey.asymmetricKeyDetails?.modulusLength ?? null, file };
  }
  if (type === 'ed25519') return { domain: d, selector, algorithm: 'ed25519-sha256', privateKey, bits: null, file };
  throw new KeyError(`${file}: ${type} keys cannot sign DKIM (use rsa or ed25519)`);
}

/** `<dir>/<domain>/<selector>.pem`; other files (the .txt DNS records keygen writes) are ignored. */
export function loadKeyDir(dir: string): DkimKey[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new KeyError(`${dir} is not a directory`);
  const keys: DkimKey[] = [];
  for (const domain of readdirSync(dir).sort()) {
    const sub = join(dir, domain);
    if (!statSync(sub).isDirectory()) continue;
    for (const f of readdirSync(sub).sort()) {
      if (!f.endsWith('.pem')) continue;
      const file = join(sub, f);
      keys.push(keyFromPem(domain, f.slice(0, -4), readFileSync(file), file));
    }
  }
  return keys;
}

/** The value of `<selector>._domainkey.<domain>` TXT. */
export function dnsTxtValue(key: KeyObject): string {
  const pub = createPublicKey(key);
  if (pub.asymmetricKeyType === 'ed25519') {
    // SPKI DER for Ed25519 is a fixed 12-byte prefix followed by the raw key.
    const der = pub.export({ format: 'der', type: 'spki' });
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${pub.export({ format: 'der', type: 'spki' }).toString('base64')}`;
}

/** A zone-file line, the TXT value split into quoted strings of at most 255 octets. */
export function dnsZoneLine(domain: string, selector: string, key: KeyObject): string {
  const value = dnsTxtValue(key);
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255)}"`);
  return `${selector}._domainkey.${domain}. IN TXT ( ${parts.join(' ')} )`;
}

export function generateKey(type: 'rsa' | 'ed25519', bits = 2048): { pem: string; key: KeyObject } {
  const { privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: bits }) : generateKeyPairSync('ed25519');
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, key: privateKey };
}
