/**
 * The console's operators: one `name:<PHC argon2id hash>` line each (`name:<hash>:viewer` for a
 * read-only one: it sees every page and changes nothing), written by `scop console users add`
 * (mode 0600, replaced atomically), re-read when it changes, so a role change holds from the next request. Passwords are
 * hashed with Node's argon2id (crypto.argon2, OWASP's parameters: 19 MiB, 2 passes, 1 lane) and
 * checked with a constant-time compare; an unknown name costs the same hash as a known one
 * (runtime/credentials-file.ts, shared with the ingress's scrypt users file).
 */
import { argon2 as argon2Cb, randomBytes, timingSafeEqual, type Argon2Parameters } from 'node:crypto';
import { CredentialStore, readCredentials, removeCredential, setCredential, writeCredentials, type HashScheme } from '../runtime/credentials-file.ts';

const MEMORY_KIB = 19456;
const PASSES = 2;
const LANES = 1;
const TAG = 32;

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

function argon2id(password: string, salt: Buffer, memory: number, passes: number, lanes: number, tagLength: number): Promise<Buffer> {
  const params: Argon2Parameters = { message: password, nonce: salt, memory, passes, parallelism: lanes, tagLength };
  return new Promise((ok, fail) => argon2Cb('argon2id', params, (e, key) => (e ? fail(e) : ok(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const tag = await argon2id(password, salt, MEMORY_KIB, PASSES, LANES, TAG);
  return `$argon2id$v=19$m=${MEMORY_KIB},t=${PASSES},p=${LANES}$${b64(salt)}$${b64(tag)}`;
}

interface Parsed { m: number; t: number; p: number; salt: Buffer; tag: Buffer }

function parse(h: string): Parsed | undefined {
  const x = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(h);
  if (!x) return undefined;
  const [m, t, p] = [Number(x[1]), Number(x[2]), Number(x[3])];
  // Bounds: a tampered file must not make a login cost gigabytes or minutes.
  if (m < 8 * p || m > 1024 * 1024 || t < 1 || t > 20 || p < 1 || p > 16) return undefined;
  return { m, t, p, salt: Buffer.from(x[4]!, 'base64'), tag: Buffer.from(x[5]!, 'base64') };
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parse(splitEntry(hash).hash);
  if (!h || h.tag.length < 16 || h.salt.length < 8) return false;
  const tag = await argon2id(password, h.salt, h.m, h.t, h.p, h.tag.length);
  return timingSafeEqual(tag, h.tag);
}

/** `operator`: every page and every write; `viewer`: every page, no write (the console refuses and audits it). */
export const OPERATOR_ROLES = ['operator', 'viewer'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

const VIEWER_SUFFIX = ':viewer';

/** A users-file entry (what follows `name:`): the hash, and the role its suffix names. A PHC string has no colon. */
export function splitEntry(entry: string): { hash: string; role: OperatorRole } {
  return entry.endsWith(VIEWER_SUFFIX) ? { hash: entry.slice(0, -VIEWER_SUFFIX.length), role: 'viewer' } : { hash: entry, role: 'operator' };
}

export function parseRole(value: string): OperatorRole {
  if ((OPERATOR_ROLES as readonly string[]).includes(value)) return value as OperatorRole;
  throw new Error(`unknown role "${value}": use --role operator (every write) or --role viewer (read-only)`);
}

export const validOperatorName = (name: string) => /^[A-Za-z0-9._@-]{1,64}$/.test(name);

const SCHEME: HashScheme = {
  hash: hashPassword,
  verify: verifyPassword,
  dummy: () => `$argon2id$v=19$m=${MEMORY_KIB},t=${PASSES},p=${LANES}$${b64(randomBytes(16))}$${b64(randomBytes(TAG))}`,
};
const COMMENT = 'scop console operators: name:argon2id-hash, or name:argon2id-hash:viewer for a read-only one (written by `scop console users add`)';

/** Every operator in the file and its role. */
export function readOperators(file: string): Map<string, OperatorRole> {
  return new Map([...readCredentials(file)].map(([name, entry]) => [name, splitEntry(entry).role]));
}

/** Adds an operator or replaces its password; without a role an existing operator keeps its own (a new password never widens a viewer), a new one is an operator. */
export async function addOperator(file: string, name: string, password: string, roleAsked?: OperatorRole): Promise<{ replaced: boolean; role: OperatorRole }> {
  if (!validOperatorName(name)) throw new Error(`invalid operator name "${name}": use 1-64 letters, digits, . _ @ -`);
  if (password.length < 12) throw new Error('the password must have at least 12 characters');
  const role = roleAsked ?? readOperators(file).get(name) ?? 'operator';
  const scheme = role === 'viewer' ? { ...SCHEME, hash: async (p: string) => `${await SCHEME.hash(p)}${VIEWER_SUFFIX}` } : SCHEME;
  return { ...(await setCredential(file, name, password, scheme, COMMENT)), role };
}

/** Changes an operator's role, its password kept; false when there is no such operator. */
export function setOperatorRole(file: string, name: string, role: OperatorRole): boolean {
  const users = readCredentials(file);
  const entry = users.get(name);
  if (entry === undefined) return false;
  users.set(name, `${splitEntry(entry).hash}${role === 'viewer' ? VIEWER_SUFFIX : ''}`);
  writeCredentials(file, users, COMMENT);
  return true;
}

export const removeOperator = (file: string, name: string): boolean => removeCredential(file, name, COMMENT);

/** The console's view of the operators file: re-read when it changes. */
export class Operators extends CredentialStore {
  constructor(file: string) { super(file, SCHEME); }

  /** The operator's role now (undefined: not in the file). */
  role(name: string): OperatorRole | undefined {
    const entry = this.entry(name);
    return entry === undefined ? undefined : splitEntry(entry).role;
  }
}
