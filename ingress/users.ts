/**
 * The submission users file: one `name:$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>` line
 * per user, written by `scop users add` (mode 0600, replaced atomically) and re-read by the
 * ingress whenever it changes (runtime/credentials-file.ts). Passwords are checked with node:crypto scrypt and a constant-time
 * compare; an unknown user costs the same scrypt as a known one.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { CredentialStore, readCredentials, removeCredential, setCredential, type HashScheme } from '../runtime/credentials-file.ts';

const LOG2_N = 15;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((ok, fail) => scryptCb(password, salt, keylen, opts, (e, key) => (e ? fail(e) : ok(key))));
}

const scryptOpts = (ln: number, r: number, p: number): ScryptOptions => ({ N: 2 ** ln, r, p, maxmem: 256 * 2 ** ln * r + 1024 * 1024 });

export function validUserName(name: string): boolean {
  return name.length > 0 && name.length <= 254 && /^[^\s:\x00-\x1f\x7f]+$/u.test(name);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LEN, scryptOpts(LOG2_N, R, P));
  return `$scrypt$ln=${LOG2_N},r=${R},p=${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash { ln: number; r: number; p: number; salt: Buffer; key: Buffer }

function parseHash(h: string): ParsedHash | undefined {
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(h);
  if (!m) return undefined;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { ln, r, p, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') };
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  if (!h || h.key.length === 0) return false;
  const key = await scrypt(password, h.salt, h.key.length, scryptOpts(h.ln, h.r, h.p));
  return timingSafeEqual(key, h.key);
}

const SCHEME: HashScheme = {
  hash: hashPassword,
  verify: verifyPassword,
  dummy: () => `$scrypt$ln=${LOG2_N},r=${R},p=${P}$${randomBytes(16).toString('base64')}$${randomBytes(KEY_LEN).toString('base64')}`,
};
const COMMENT = 'scop submission users: name:scrypt-hash (written by `scop users add`)';

export const readUsers = readCredentials;

/** Adds or replaces a user; returns whether the user existed. */
export async function addUser(file: string, name: string, password: string): Promise<{ replaced: boolean }> {
  if (!validUserName(name)) throw new Error(`invalid user name "${name}": use 1-254 characters without spaces, colons or control characters`);
  if (password.length < 8) throw new Error('the password must have at least 8 characters');
  return setCredential(file, name, password, SCHEME, COMMENT);
}

export const removeUser = (file: string, name: string): boolean => removeCredential(file, name, COMMENT);

/** The ingress's view of the users file: reloaded when its mtime or size changes. */
export class UserStore extends CredentialStore {
  constructor(file: string) { super(file, SCHEME); }
}
