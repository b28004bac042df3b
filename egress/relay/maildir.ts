/**
 * Local Maildir delivery, one folder per mailbox. Deliveries that arrive together are written as a
 * batch: every file goes to tmp/ and is fsynced (the fsyncs run in parallel on libuv's threads, so
 * the file system commits them together), renamed into new/, and then each new/ folder of the
 * batch is fsynced once — instead of one folder fsync per message. An outcome is reported only
 * after its folder's fsync, so "delivered" still means "on disk". The file name carries the record
 * id: a replayed delivery finds its earlier file and writes nothing (exactly once per recipient).
 */
import { access, mkdir, open, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import type { MailRecord } from '../../schemas/types.ts';
import { withTrace } from './headers.ts';
import type { RecipientOutcome } from './transport.ts';

/**
 * A recipient's mailbox identity: local part and domain in Unicode normalisation form KC and lower
 * case (then NFKC again: lower-casing can leave a non-normalised sequence), the domain as an
 * A-label. So `\u212Aelvin` (KELVIN SIGN), `ｋelvin` (full width), `Kelvin` and `kelvin` are one
 * mailbox, and `bob@bücher.example` is `bob@xn--bcher-kva.example` — consistently, not by accident.
 */
export function mailboxKey(recipient: string): string {
  const fold = (s: string) => s.normalize('NFKC').toLowerCase().normalize('NFKC');
  const at = recipient.lastIndexOf('@');
  if (at < 0) return fold(recipient);
  const domain = fold(recipient.slice(at + 1)).replace(/\.$/, '');
  const ascii = /[^\x00-\x7f]/.test(domain) ? domainToASCII(domain) || domain : domain;
  return `${fold(recipient.slice(0, at))}@${ascii}`;
}

/** Longest file name (NAME_MAX) of the file systems a Maildir lives on (ext4, XFS, btrfs, tmpfs). */
export const MAX_FOLDER_BYTES = 255;

/**
 * A recipient's folder name: its mailboxKey with every byte outside [a-z0-9@._+=-] (UTF-8) written
 * as %XX, `%` included, and a leading dot too. The encoding is reversible, so two different
 * mailboxes never share a folder (before, every non-ASCII character became `_`: `é@x` and `ü@x`
 * were one folder), and no name can climb out of the root or hide as a dot folder.
 */
export function mailboxFolder(recipient: string): string {
  let out = '';
  for (const b of Buffer.from(mailboxKey(recipient), 'utf8')) {
    const safe = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x40 || b === 0x2e || b === 0x5f || b === 0x2b || b === 0x3d || b === 0x2d;
    out += safe && !(out === '' && b === 0x2e) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out || '%'; // the empty address: a name no encoding produces
}

interface Item { record: MailRecord; recipients: string[]; junk: boolean; done(o: RecipientOutcome[]): void }

/** One recipient's file in a batch. */
interface Write { item: Item; index: number; recipient: string; dir: string; name: string; outcome?: RecipientOutcome }

const exists = (path: string) => access(path).then(() => true, () => false);

/** A name the file system refuses will be refused again: permanent; a full disk or a permission problem can be fixed: temporary. */
function failure(recipient: string, err: unknown): RecipientOutcome {
  if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return { recipient, kind: 'permanent', reply: `553 5.1.3 maildir: ${(err as Error).message}` };
  return { recipient, kind: 'temporary', reply: `maildir: ${(err as Error).message}` };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export class MaildirWriter {
  private queue: Item[] = [];
  private scheduled = false;

  constructor(private readonly root: string, private readonly hostname: string, private readonly authservIds: readonly string[] = []) {}

  /** Delivers to each recipient's Maildir; resolves once the files and their folders are on disk. */
  deliver(record: MailRecord, recipients: string[], junk: boolean): Promise<RecipientOutcome[]> {
    return new Promise((done) => {
      this.queue.push({ record, recipients, junk, done });
      if (!this.scheduled) {
        this.scheduled = true;
        // Everything that arrives in this turn of the event loop shares the batch.
        setImmediate(() => {
          this.scheduled = false;
          const batch = this.queue.splice(0);
          this.write(batch).catch((err: unknown) => {
            for (const item of batch) item.done(item.recipients.map((r) => failure(r, err)));
          });
        });
      }
    });
  }

  private async write(batch: Item[]): Promise<void> {
    const writes: Write[] = [];
    for (const item of batch) {
      const e = item.record.envelope;
      const name = `${Math.floor(e.receivedAt / 1000)}.${e.id.replace(/[^A-Za-z0-9-]/g, '')}.${this.hostname.replace(/[/:]/g, '_')}`;
      item.recipients.forEach((recipient, index) => {
        const folder = mailboxFolder(recipient);
        const w: Write = { item, index, recipient, name, dir: join(this.root, folder, ...(item.junk ? ['.Junk'] : [])) };
        // Too long for a file name: no retry can fix that, so a permanent failure, not a temporary one forever.
        if (folder.length > MAX_FOLDER_BYTES) w.outcome = { recipient, kind: 'permanent', reply: `553 5.1.3 mailbox name too long for a Maildir folder (${folder.length} bytes encoded, limit ${MAX_FOLDER_BYTES})` };
        writes.push(w);
      });
    }
    const todo = () => writes.filter((w) => !w.outcome);
    // Folders once per batch; an earlier copy (a replay) means done.
    const dirs = new Map<string, Promise<string[] | Error>>();
    const listCur = (dir: string) => {
      let p = dirs.get(dir);
      if (!p) {
        p = (async () => {
          for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(dir, sub), { recursive: true });
          return readdir(join(dir, 'cur'));
        })().catch((e: Error) => e);
        dirs.set(dir, p);
      }
      return p;
    };
    await Promise.all(todo().map(async (w) => {
      const cur = await listCur(w.dir);
      if (cur instanceof Error) { w.outcome = failure(w.recipient, cur); return; }
      if (await exists(join(w.dir, 'new', w.name)) || cur.some((f) => f === w.name || f.startsWith(`${w.name}:`))) {
        w.outcome = { recipient: w.recipient, kind: 'delivered', reply: `already in ${w.dir} (${w.name})` };
      }
    }));
    // Two recipients of one record may share a folder (the same mailbox written two ways): one file.
    const seen = new Map<string, Write>();
    const copies: [Write, Write][] = [];
    for (const w of todo()) {
      const first = seen.get(join(w.dir, w.name));
      if (first) copies.push([w, first]);
      else seen.set(join(w.dir, w.name), w);
    }
    const unique = [...seen.values()];
    // tmp/ and fsync, all at once.
    await Promise.all(unique.map(async (w) => {
      try {
        const bytes = withTrace(w.item.record, { hostname: this.hostname, authservIds: this.authservIds, protocol: 'local', junk: w.item.junk, recipient: w.recipient });
        const fh = await open(join(w.dir, 'tmp', w.name), 'w', 0o600);
        try {
          await fh.writeFile(bytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(join(w.dir, 'tmp', w.name), join(w.dir, 'new', w.name));
      } catch (err) {
        w.outcome = failure(w.recipient, err);
      }
    }));
    // One fsync per new/ folder, after every rename into it.
    const renamed = unique.filter((w) => !w.outcome);
    const synced = new Map<string, Error | null>();
    await Promise.all([...new Set(renamed.map((w) => join(w.dir, 'new')))].map((dir) => fsyncDir(dir).then(() => synced.set(dir, null), (e: Error) => synced.set(dir, e))));
    for (const w of renamed) {
      const err = synced.get(join(w.dir, 'new'));
      w.outcome = err ? failure(w.recipient, err) : { recipient: w.recipient, kind: 'delivered', reply: `stored in ${join(w.dir, 'new', w.name)}` };
    }
    for (const [w, first] of copies) w.outcome = { ...first.outcome!, recipient: w.recipient };
    for (const item of batch) item.done(writes.filter((w) => w.item === item).sort((a, b) => a.index - b.index).map((w) => w.outcome!));
  }
}

/** One Maildir delivery on its own (tests, tools): a writer for one batch. */
export function deliverMaildir(root: string, hostname: string, record: MailRecord, recipients: string[], junk: boolean, authservIds: readonly string[] = []): Promise<RecipientOutcome[]> {
  return new MaildirWriter(root, hostname, authservIds).deliver(record, recipients, junk);
}
