/**
 * Writing secrets (signing keys, MAC keys) and their companions: atomically (a temporary file in
 * the same folder, fsync, rename over the target: a crash leaves the old file or the new one, never
 * half of one), owned by this process's user, and with the mode given — not the mode or owner of
 * a file being replaced (a key that was 0644 becomes 0600). write-file-atomic does the temp/fsync/
 * rename; it would copy an existing file's mode and owner unless both are given, so both are.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { ConfigError } from './config.ts';

/**
 * Refuses a secret file (a key) that others than its owner may read: whoever reads it can forge or
 * impersonate. `setting` is the configuration key named in the error.
 */
export function assertPrivateFile(file: string, setting: string): void {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new ConfigError(setting, `${file} is readable by others (mode ${mode.toString(8)})`, `chmod 600 ${file}`);
}

/** Writes `data` to `file` atomically with exactly `mode` (default 0600), creating its folder (0700). */
export async function writeFileAtomically(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, data, { mode, fsync: true, chown: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } });
  // The rename is durable only once the folder is on disk too.
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
