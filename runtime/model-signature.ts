/**
 * Signed spam models. Whoever can write spam.model decides what every scorer calls spam; so a model
 * record carries an Ed25519 signature over its exact value bytes (the Confluent-framed Avro a scorer
 * decodes) in a Kafka header, and a scorer switches only to a model signed by a key it trusts. The
 * trainer (`scop spam train --publish`, `scop spam publish`, and the stage publishing its default
 * model) holds the private key; scorers need only the public one.
 *
 * Keys (PEM): SPAM_MODEL_SIGNING_KEY_FILE (PKCS#8, default <data dir>/secrets/spam-model.key, 0600)
 * and SPAM_MODEL_PUBLIC_KEY_FILES (SPKI, comma-separated; default <data dir>/secrets/spam-model.pub).
 * With neither file present and neither setting given, the spam stage creates the pair (one box,
 * `npm start`); nothing else ever creates a key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { MessageHeaders as IHeaders } from './kafka.ts';
import { ConfigError } from './config.ts';

export const SIGNATURE_HEADER = 'scop-model-signature';
export const KEY_ID_HEADER = 'scop-model-key-id';

export interface ModelKeys {
  /** Null on a scorer that only verifies. */
  signing: KeyObject | null;
  trusted: KeyObject[];
}

/** A short fingerprint of a public key (SHA-256 of its SPKI DER), to tell keys apart in logs and headers. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 16);
}

/** The headers that sign `value` (the model record's bytes exactly as produced). */
export function signatureHeaders(value: Buffer, key: KeyObject): Record<string, string> {
  return { [SIGNATURE_HEADER]: sign(null, value, key).toString('base64'), [KEY_ID_HEADER]: keyId(key) };
}

const headerText = (h: IHeaders | undefined, name: string): string | undefined => {
  const v = h?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
};

/** Why a model record must not be used, or null when a trusted key signed exactly these bytes. */
export function modelSignatureProblem(value: Buffer, headers: IHeaders | undefined, trusted: readonly KeyObject[]): string | null {
  const sig = headerText(headers, SIGNATURE_HEADER);
  if (!sig) return 'the model record is not signed';
  if (trusted.length === 0) return 'no trusted model key is configured (SPAM_MODEL_PUBLIC_KEY_FILES)';
  const bytes = Buffer.from(sig, 'base64');
  if (trusted.some((k) => { try { return verify(null, value, k, bytes); } catch { return false; } })) return null;
  return `the signature (key ${headerText(headers, KEY_ID_HEADER) ?? 'unnamed'}) is not from a trusted key or the record was altered`;
}

const HELP = {
  SPAM_MODEL_SIGNING_KEY_FILE: 'the trainer\'s Ed25519 private key (PEM, mode 0600) that signs published models, e.g. the spam stage\'s <data dir>/secrets/spam-model.key',
  SPAM_MODEL_PUBLIC_KEY_FILES: 'comma-separated PEM public keys whose signed models scorers accept, e.g. <data dir>/secrets/spam-model.pub',
};

function readKey(key: keyof typeof HELP, file: string, kind: 'private' | 'public'): KeyObject {
  let k: KeyObject;
  try {
    const pem = readFileSync(file);
    k = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    throw new ConfigError(key, `cannot read an Ed25519 ${kind} key from ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, HELP[key]);
  }
  if (k.asymmetricKeyType !== 'ed25519') throw new ConfigError(key, `${file} is a ${k.asymmetricKeyType} key, not Ed25519`, HELP[key]);
  return k;
}

/** Writes a new file exclusively (never over an existing one), fsynced, with `mode`. */
function writeNew(file: string, text: string, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The keys from the environment. `create` (the spam stage): make the default pair when neither
 * default file exists and neither setting is given. `needSigning` (publishing tools): no signing
 * key is a ConfigError naming SPAM_MODEL_SIGNING_KEY_FILE.
 */
export function loadModelKeys(o: { env: NodeJS.ProcessEnv; dataDir: string; create?: boolean; needSigning?: boolean }): ModelKeys {
  const explicitSigning = o.env.SPAM_MODEL_SIGNING_KEY_FILE?.trim();
  const explicitPublic = o.env.SPAM_MODEL_PUBLIC_KEY_FILES?.trim();
  const signingFile = resolve(explicitSigning || join(o.dataDir, 'secrets', 'spam-model.key'));
  const publicFiles = explicitPublic ? explicitPublic.split(',').map((f) => resolve(f.trim())).filter(Boolean) : [resolve(join(o.dataDir, 'secrets', 'spam-model.pub'))];
  if (o.create && !explicitSigning && !explicitPublic && !existsSync(signingFile) && !existsSync(publicFiles[0]!)) {
    const pair = generateKeyPairSync('ed25519');
    try {
      writeNew(signingFile, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
      writeNew(publicFiles[0]!, pair.publicKey.export({ format: 'pem', type: 'spki' }) as string, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another instance made them first: read theirs below
    }
  }
  const signing = explicitSigning || existsSync(signingFile) ? readKey('SPAM_MODEL_SIGNING_KEY_FILE', signingFile, 'private') : null;
  if (o.needSigning && !signing) {
    throw new ConfigError('SPAM_MODEL_SIGNING_KEY_FILE', `no model signing key at ${signingFile}: scorers refuse unsigned models`, HELP.SPAM_MODEL_SIGNING_KEY_FILE);
  }
  const trusted = publicFiles.filter((f) => explicitPublic || existsSync(f)).map((f) => readKey('SPAM_MODEL_PUBLIC_KEY_FILES', f, 'public'));
  return { signing, trusted };
}
