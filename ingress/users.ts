/**
 * The submission users file: one `name:$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>` line
 * per user, written by `scop users add` (mode 0600, replaced atomically) and re-read by the
 * ingress whenever it changes. Passwords are checked with node:crypto scrypt and a constant-time
 * compare; an unknown user costs the same scrypt as a known one.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

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

export function readUsers(file: string): Map<string, string> {
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

function writeUsers(file: string, users: Map<string, string>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const body = ['# scop submission users: name:scrypt-hash (written by `scop users add`)', ...[...users].map(([n, h]) => `${n}:${h}`), ''].join('\n');
  writeFileSync(tmp, body, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Adds or replaces a user; returns whether the user existed. */
export async function addUser(file: string, name: string, password: string): Promise<{ replaced: boolean }> {
  if (!validUserName(name)) throw new Error(`invalid user name "${name}": use 1-254 characters without spaces, colons or control characters`);
  if (password.length < 8) throw new Error('the password must have at least 8 characters');
  const users = readUsers(file);
  const replaced = users.has(name);
  users.set(name, await hashPassword(password));
  writeUsers(file, users);
  return { replaced };
}

export function removeUser(file: string, name: string): boolean {
  const users = readUsers(file);
  const had = users.delete(name);
  if (had) writeUsers(file, users);
  return had;
}

/** The ingress's view of the users file: reloaded when its mtime or size changes. */
export class UserStore {
  private users = new Map<string, string>();
  private stamp = '';
  // Checked for unknown users so that a wrong name costs as much as a wrong password.
  private readonly dummy = `$scrypt$ln=${LOG2_N},r=${R},p=${P}$${randomBytes(16).toString('base64')}$${randomBytes(KEY_LEN).toString('base64')}`;

  constructor(readonly file: string) {}

  private refresh(): void {
    let stamp = 'absent';
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      /* absent: no users */
    }
    if (stamp !== this.stamp) {
      this.users = stamp === 'absent' ? new Map() : readUsers(this.file);
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
