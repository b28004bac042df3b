/**
 * The submission MAC: proof that a record on mail.outbound.raw was written by our ingress for a
 * user who logged in. The DKIM signer puts our domain's name under whatever reaches it; without
 * this, anyone who can write that topic (a compromised stage, a wrong ACL, a replayed hand-made
 * record) gets mail signed as any user. The ingress computes an HMAC-SHA256 with a key only it and
 * the signer hold over what the signer relies on — record id, SMTP AUTH user, envelope sender and
 * recipients, and digests of the trace header and of the message — and the signer recomputes it
 * from the record's own bytes, dead-lettering the record when it does not match.
 *
 * Key: 32 random bytes, hex, in SCOP_SUBMISSION_MAC_KEY_FILE (default <data dir>/secrets/
 * submission-mac.key, mode 0600). The ingress creates the default file on its first start; the
 * signer only reads it (a signer that made its own key would refuse everything, silently).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Envelope } from '../schemas/types.ts';
import { ConfigError } from './config.ts';
import { assertPrivateFile } from './private-file.ts';

export const SUBMISSION_MAC_KEY_ENV = 'SCOP_SUBMISSION_MAC_KEY_FILE';
const FIX = `copy the ingress's key file (it creates <data dir>/secrets/submission-mac.key on its first start) and point ${SUBMISSION_MAC_KEY_ENV} at it, mode 0600`;

/** Where the key lives: the explicit setting, else the default under the data folder. */
export function submissionMacKeyFile(explicit: string | undefined, dataDir: string): string {
  return resolve(explicit?.trim() || join(dataDir, 'secrets', 'submission-mac.key'));
}

/**
 * The key. `create`: make the default file when it does not exist (the ingress); an explicitly
 * named file is never created. A key file others may read is refused: whoever reads it can forge.
 */
export function loadSubmissionMacKey(o: { file?: string; dataDir: string; create: boolean }): Buffer {
  const file = submissionMacKeyFile(o.file, o.dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !o.create || o.file?.trim()) {
      throw new ConfigError(SUBMISSION_MAC_KEY_ENV, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, FIX);
    }
    return createKeyFile(file);
  }
  assertPrivateFile(file, SUBMISSION_MAC_KEY_ENV);
  const key = /^[0-9a-f]{64}$/.test(text.trim()) ? Buffer.from(text.trim(), 'hex') : null;
  if (!key) throw new ConfigError(SUBMISSION_MAC_KEY_ENV, `${file} does not hold 64 hex digits`, FIX);
  return key;
}

/** Exclusive create (two processes starting at once agree on one key), fsynced, 0600. */
function createKeyFile(file: string): Buffer {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadSubmissionMacKey({ file, dataDir: '', create: false });
    throw new ConfigError(SUBMISSION_MAC_KEY_ENV, `cannot create ${file}: ${(e as Error).message}`, FIX);
  }
  try {
    writeSync(fd, `${key.toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type MacFields = Pick<Envelope, 'id' | 'authUser' | 'mailFrom' | 'rcptTo' | 'traceLength'>;

/** HMAC over an unambiguous encoding (a JSON array) of what the signer relies on. */
function mac(key: Buffer, e: MacFields, traceSha256: string, messageSha256: string): string {
  const input = JSON.stringify(['scop-submission-mac-v1', e.id, e.authUser, e.mailFrom, e.rcptTo, e.traceLength, traceSha256, messageSha256]);
  return createHmac('sha256', key).update(input).digest('hex');
}

/** The ingress's MAC for a record it built (messageSha256: the digest it computed of the DATA while receiving it). */
export function submissionMac(key: Buffer, e: MacFields & { raw: Buffer }, messageSha256: string): string {
  return mac(key, e, sha256(e.raw.subarray(0, e.traceLength)), messageSha256);
}

/** Why a record's MAC does not prove it came from our ingress, or null when it does. Digests are recomputed from raw. */
export function submissionMacProblem(key: Buffer, e: Envelope): string | null {
  if (!e.submissionMac) return 'the record carries no submission MAC (it was not written by our ingress for a logged-in user)';
  const traceLength = e.traceLength ?? 0;
  if (traceLength < 0 || traceLength > e.raw.length) return `traceLength ${traceLength} lies outside raw (${e.raw.length} bytes)`;
  const expected = Buffer.from(mac(key, e, sha256(e.raw.subarray(0, traceLength)), sha256(e.raw.subarray(traceLength))), 'hex');
  const given = Buffer.from(e.submissionMac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return 'the submission MAC does not match the record (id, user, sender, recipients or message changed after the ingress, or another key)';
  }
  return null;
}

/** The envelope with its MAC computed from its own bytes (tests, benchmarks, tools that replay as the ingress would). */
export function sealedEnvelope(key: Buffer, e: Envelope): Envelope {
  const traceLength = e.traceLength ?? 0;
  const messageSha256 = sha256(e.raw.subarray(traceLength));
  return { ...e, messageSha256, submissionMac: submissionMac(key, { ...e, traceLength }, messageSha256) };
}
