/**
 * The console's operators: one `name:<PHC argon2id hash>` line each, written by
 * `scop console users add` (mode 0600, replaced atomically), re-read when it changes. Passwords are
 * hashed with Node's argon2id (crypto.argon2, OWASP's parameters: 19 MiB, 2 passes, 1 lane) and
 * checked with a constant-time compare; an unknown name costs the same hash as a known one.
 */
import { argon2 as argon2Cb, randomBytes, timingSafeEqual, type Argon2Parameters } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

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
  const h = parse(hash);
  if (!h || h.tag.length < 16 || h.salt.length < 8) return false;
  const tag = await argon2id(password, h.salt, h.m, h.t, h.p, h.tag.length);
  return timingSafeEqual(tag, h.tag);
}

export const validOperatorName = (name: string) => /^[A-Za-z0-9._@-]{1,64}$/.test(name);

export function readOperators(file: string): Map<string, string> {
  const users = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return users;
    throw e;
  }
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const i = t.indexOf(':');
    if (i > 0) users.set(t.slice(0, i), t.slice(i + 1));
  }
  return users;
}

function writeOperators(file: string, users: Map<string, string>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, ['# scop console operators: name:argon2id-hash (written by `scop console users add`)', ...[...users].map(([n, h]) => `${n}:${h}`), ''].join('\n'), { mode: 0o600 });
  renameSync(tmp, file);
}

export async function addOperator(file: string, name: string, password: string): Promise<{ replaced: boolean }> {
  if (!validOperatorName(name)) throw new Error(`invalid operator name "${name}": use 1-64 letters, digits, . _ @ -`);
  if (password.length < 12) throw new Error('the password must have at least 12 characters');
  const users = readOperators(file);
  const replaced = users.has(name);
  users.set(name, await hashPassword(password));
  writeOperators(file, users);
  return { replaced };
}

export function removeOperator(file: string, name: string): boolean {
  const users = readOperators(file);
  const had = users.delete(name);
  if (had) writeOperators(file, users);
  return had;
}

/** The console's view of the operators file: reloaded when it changes. */
export class Operators {
  private users = new Map<string, string>();
  private stamp = '';
  private readonly dummy = `$argon2id$v=19$m=${MEMORY_KIB},t=${PASSES},p=${LANES}$${b64(randomBytes(16))}$${b64(randomBytes(TAG))}`;

  constructor(readonly file: string) {}

  private refresh(): void {
    let stamp = 'absent';
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch { /* absent: nobody can log in */ }
    if (stamp !== this.stamp) {
      this.users = stamp === 'absent' ? new Map() : readOperators(this.file);
      this.stamp = stamp;
    }
  }

  get size(): number {
    this.refresh();
    return this.users.size;
  }

  async verify(name: string, password: string): Promise<boolean> {
    this.refresh();
    const hash = this.users.get(name);
    const ok = await verifyPassword(password, hash ?? this.dummy);
    return ok && hash !== undefined;
  }
}
