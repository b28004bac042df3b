/**
 * The submission users file: one `name:<hash>` line per user, written by `scop users add` (mode
 * 0600, replaced atomically) and re-read by the ingress whenever it changes.
 *
 * Hashes are argon2id at OWASP's current parameters (m=19 MiB, t=2, p=1) in the PHC string format
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, as Dovecot and libsodium write it), computed
 * with Node's built-in crypto.argon2. Entries written by earlier versions (`$scrypt$ln=15,…`) still
 * verify, and are rewritten as argon2id on the user's next successful login (needsRehash). An
 * unknown user costs the same hash as a known one; comparisons are constant-time.
 */
import { argon2 as argon2Cb, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { CredentialsView, readCredentials, removeCredential, setCredential, writeCredentials } from '../runtime/credentials-file.ts';

/** OWASP Password Storage Cheat Sheet, argon2id: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { memoryKiB: 19456, passes: 2, parallelism: 1 } as const;
const SALT_BYTES = 16;
const KEY_LEN = 32;

interface Argon2Params { memoryKiB: number; passes: number; parallelism: number }
type ParsedHash =
  | ({ kind: 'argon2id'; salt: Buffer; key: Buffer } & Argon2Params)
  | { kind: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; key: Buffer };

function argon2id(password: string, salt: Buffer, p: Argon2Params, tagLength: number): Promise<Buffer> {
  return new Promise((ok, fail) =>
    argon2Cb('argon2id', { message: password, nonce: salt, memory: p.memoryKiB, passes: p.passes, parallelism: p.parallelism, tagLength }, (e, key) => (e ? fail(e) : ok(key))),
  );
}

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((ok, fail) => scryptCb(password, salt, keylen, opts, (e, key) => (e ? fail(e) : ok(key))));
}

const scryptOpts = (ln: number, r: number, p: number): ScryptOptions => ({ N: 2 ** ln, r, p, maxmem: 256 * 2 ** ln * r + 1024 * 1024 });

// PHC strings use base64 without padding.
const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

const phc = (p: Argon2Params, salt: Buffer, key: Buffer) => `$argon2id$v=19$m=${p.memoryKiB},t=${p.passes},p=${p.parallelism}$${b64(salt)}$${b64(key)}`;

export function validUserName(name: string): boolean {
  return name.length > 0 && name.length <= 254 && /^[^\s:\x00-\x1f\x7f]+$/u.test(name);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return phc(ARGON2_PARAMS, salt, await argon2id(password, salt, ARGON2_PARAMS, KEY_LEN));
}

// The bounds keep a corrupt users file from asking for gigabytes or minutes per login.
function parseHash(h: string): ParsedHash | undefined {
  const a = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(h);
  if (a) {
    const [memoryKiB, passes, parallelism] = [Number(a[1]), Number(a[2]), Number(a[3])];
    if (parallelism < 1 || parallelism > 16 || memoryKiB < 8 * parallelism || memoryKiB > 1024 * 1024 || passes < 1 || passes > 16) return undefined;
    return { kind: 'argon2id', memoryKiB, passes, parallelism, salt: Buffer.from(a[4]!, 'base64'), key: Buffer.from(a[5]!, 'base64') };
  }
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(h);
  if (!m) return undefined;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { kind: 'scrypt', ln, r, p, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') };
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  if (!h || h.key.length < 16 || h.salt.length < 8) return false;
  const key = h.kind === 'argon2id' ? await argon2id(password, h.salt, h, h.key.length) : await scrypt(password, h.salt, h.key.length, scryptOpts(h.ln, h.r, h.p));
  return timingSafeEqual(key, h.key);
}

/** True when `hash` is not argon2id at (at least) today's parameters: rewrite it after a successful login. */
export function needsRehash(hash: string): boolean {
  const h = parseHash(hash);
  return !h || h.kind !== 'argon2id' || h.memoryKiB < ARGON2_PARAMS.memoryKiB || h.passes < ARGON2_PARAMS.passes;
}

const COMMENT = 'scop submission users: name:password-hash (argon2id; written by `scop users add`)';

/** The users file's entries (runtime/credentials-file.ts: the same file format as the console's operators). */
export const readUsers = readCredentials;

function writeUsers(file: string, users: Map<string, string>): void {
  writeCredentials(file, users, COMMENT);
}

/** Adds or replaces a user; returns whether the user existed. */
export async function addUser(file: string, name: string, password: string): Promise<{ replaced: boolean }> {
  if (!validUserName(name)) throw new Error(`invalid user name "${name}": use 1-254 characters without spaces, colons or control characters`);
  if (password.length < 8) throw new Error('the password must have at least 8 characters');
  return setCredential(file, name, password, { hash: hashPassword, verify: verifyPassword, dummy: () => '' }, COMMENT);
}

export function removeUser(file: string, name: string): boolean {
  return removeCredential(file, name, COMMENT);
}

export interface VerifyResult {
  ok: boolean;
  /** The name is in the file (failures may count against it). */
  known: boolean;
  /** Verified, but the stored hash is outdated: call rehash() with the same password. */
  outdated: boolean;
}

/** The ingress's view of the users file: reloaded when its mtime or size changes. */
export class UserStore {
  private readonly view: CredentialsView;
  // Checked for unknown users so that a wrong name costs as much as a wrong password.
  private readonly dummy = phc(ARGON2_PARAMS, randomBytes(SALT_BYTES), randomBytes(KEY_LEN));

  constructor(readonly file: string) {
    this.view = new CredentialsView(file);
  }

  private get users(): Map<string, string> {
    return this.view.current();
  }

  get size(): number {
    return this.users.size;
  }

  has(name: string): boolean {
    return this.users.has(name);
  }

  async verify(name: string, password: string): Promise<VerifyResult> {
    const hash = this.users.get(name);
    const ok = (await verifyPassword(password, hash ?? this.dummy)) && hash !== undefined;
    return { ok, known: hash !== undefined, outdated: ok && needsRehash(hash) };
  }

  /**
   * Rewrites an outdated entry as argon2id, given the password that just verified. Skipped when the
   * entry changed meanwhile (e.g. `scop users add` set a new password). Returns whether it rewrote.
   */
  async rehash(name: string, password: string): Promise<boolean> {
    const before = this.users.get(name);
    if (before === undefined || !needsRehash(before)) return false;
    const fresh = await hashPassword(password);
    const users = readUsers(this.file);
    if (users.get(name) !== before) return false;
    users.set(name, fresh);
    writeUsers(this.file, users);
    return true;
  }
}
