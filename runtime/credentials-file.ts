/**
 * A file of `name:<password hash>` lines (the ingress's submission users, the console's operators):
 * read, rewritten atomically with mode 0600, and a view that re-reads it when it changes and checks
 * passwords so that an unknown name costs the same hash as a known one. The hash scheme is the
 * caller's (scrypt for submission users, argon2id for operators).
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface HashScheme {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** A valid hash of no password, checked for unknown names. */
  dummy(): string;
}

export function readCredentials(file: string): Map<string, string> {
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

export function writeCredentials(file: string, users: Map<string, string>, comment: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, [`# ${comment}`, ...[...users].map(([n, h]) => `${n}:${h}`), ''].join('\n'), { mode: 0o600 });
  renameSync(tmp, file);
}

/** Adds or replaces `name`; returns whether it existed. Validation is the caller's. */
export async function setCredential(file: string, name: string, password: string, scheme: HashScheme, comment: string): Promise<{ replaced: boolean }> {
  const users = readCredentials(file);
  const replaced = users.has(name);
  users.set(name, await scheme.hash(password));
  writeCredentials(file, users, comment);
  return { replaced };
}

export function removeCredential(file: string, name: string, comment: string): boolean {
  const users = readCredentials(file);
  const had = users.delete(name);
  if (had) writeCredentials(file, users, comment);
  return had;
}

/** The file's current entries: re-read when its mtime, size or inode changes (absent: none). */
export class CredentialsView {
  private users = new Map<string, string>();
  private stamp = '';

  constructor(readonly file: string) {}

  current(): Map<string, string> {
    let stamp = 'absent';
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      /* absent: nobody */
    }
    if (stamp !== this.stamp) {
      this.users = stamp === 'absent' ? new Map() : readCredentials(this.file);
      this.stamp = stamp;
    }
    return this.users;
  }
}

/** The file as a server sees it (CredentialsView), checking passwords with the caller's scheme. */
export class CredentialStore {
  private readonly view: CredentialsView;
  private readonly dummy: string;

  constructor(readonly file: string, private readonly scheme: HashScheme) {
    this.view = new CredentialsView(file);
    this.dummy = scheme.dummy();
  }

  get size(): number {
    return this.view.current().size;
  }

  /** Whether `name` is in the file now (a removed operator's sessions end). */
  has(name: string): boolean {
    return this.view.current().has(name);
  }

  /** What follows `name:` on its line now (undefined: not in the file). */
  protected entry(name: string): string | undefined {
    return this.view.current().get(name);
  }

  async verify(name: string, password: string): Promise<boolean> {
    const hash = this.view.current().get(name);
    const ok = await this.scheme.verify(password, hash ?? this.dummy);
    return ok && hash !== undefined;
  }
}
