/**
 * The delivery journal: a local append-only file where the relay notes a final outcome (the next
 * hop's 250, or a 5xx) in the same event-loop turn the reply arrives — before the outcome reaches
 * the delivery log in Kafka, which takes a round trip. A process killed in between (SIGKILL, OOM)
 * leaves the outcome in the file: the page cache keeps what write(2) returned from, whatever
 * happens to the process. The next start writes those outcomes to the delivery log before it
 * delivers anything, so the records it replays skip those recipients instead of delivering them
 * a second time. Only a machine crash (the page cache lost) or a host that never comes back
 * leaves the old window open: then a redelivery is possible, and recognisable (X-Scop-Record-Id).
 *
 * In-doubt marks (in-doubt.ts): before the end of DATA of a transaction leaves, a line
 * `{"doubt":n,"recordId":…,"recipients":[…],"at":…}`; once its reply is handled, `{"answered":n}`.
 * A mark without its answer in the files of a dead writer is a transaction the writer had in doubt
 * when it died: the next hop may have stored the message, and the restart delivers it again —
 * recover() names those records so the restart can count and log them.
 *
 * Files: `<dir>/journal-<pid>-<token>-<seq>.ndjson`, one JSON line per entry. A file is
 * rotated past `maxBytes` and deleted once every entry in it is in Kafka; a graceful stop deletes
 * the last one. At start, every file whose writer is gone (a dead pid, or this pid from an earlier
 * life: containers reuse pids) is recovered; files of live processes (another relay on the same
 * data folder) are left to them. Hand-written: no library does this small, specific thing.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../runtime/log.ts';
import type { DeliveryStatus } from '../../schemas/types.ts';

const FILE = /^journal-(\d+)-([0-9a-f]+)-(\d+)\.ndjson$/;

/** Journals open in this process (several relays may run in one process: tests). */
const liveTokens = new Set<string>();

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

const isStatus = (v: unknown): v is DeliveryStatus => {
  const s = v as DeliveryStatus;
  return typeof s === 'object' && s !== null && typeof s.recordId === 'string' && typeof s.recipient === 'string'
    && (s.status === 'delivered' || s.status === 'bounced' || s.status === 'dead') && typeof s.at === 'number';
};

/** A handle on appended entries: pass it to acknowledged() once they are in Kafka. */
export type JournalTicket = number;

/** A transaction noted in doubt: pass it to answered() once its reply is handled. */
export interface DoubtMark { n: number; ticket: JournalTicket }

/** A transaction a dead writer had in doubt (its "." sent, no reply handled). */
export interface InDoubtEntry { recordId: string; recipients: string[]; at: number }

const isDoubt = (v: unknown): v is { doubt: number } & InDoubtEntry => {
  const d = v as { doubt?: unknown } & InDoubtEntry;
  return typeof d === 'object' && d !== null && typeof d.doubt === 'number' && typeof d.recordId === 'string'
    && Array.isArray(d.recipients) && d.recipients.every((r) => typeof r === 'string') && typeof d.at === 'number';
};
const isAnswer = (v: unknown): v is { answered: number } => typeof (v as { answered?: unknown })?.answered === 'number';

export class DeliveryJournal {
  private readonly token = randomBytes(6).toString('hex');
  private fd: number | undefined;
  private seq = 0;
  private bytes = 0;
  /** Entries not yet in Kafka, per file sequence number. */
  private readonly pending = new Map<number, number>();
  private failed = false;
  private doubts = 0;

  constructor(private readonly o: { dir: string; log: Logger; maxBytes?: number; onError?: () => void }) {}

  private get maxBytes(): number {
    // Small files: a recovery re-logs a whole file, acknowledged entries included (harmless, compacted).
    return this.o.maxBytes ?? 1024 * 1024;
  }

  private path(seq: number): string {
    return join(this.o.dir, `journal-${process.pid}-${this.token}-${seq}.ndjson`);
  }

  /**
   * The outcomes left by writers that are gone, and a function that deletes their files (call it
   * once the outcomes are in Kafka). Torn or foreign lines are skipped.
   */
  recover(): { entries: DeliveryStatus[]; inDoubt: InDoubtEntry[]; files: string[]; discard(): void } {
    mkdirSync(this.o.dir, { recursive: true });
    const files: string[] = [];
    const entries: DeliveryStatus[] = [];
    // Marks and answers pair up per writer (token) and mark number.
    const doubts = new Map<string, InDoubtEntry>();
    const answered = new Set<string>();
    for (const name of readdirSync(this.o.dir)) {
      const m = FILE.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      const mine = pid === process.pid;
      if (mine ? liveTokens.has(m[2]!) : processAlive(pid)) continue;
      const file = join(this.o.dir, name);
      files.push(file);
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const v: unknown = JSON.parse(line);
          if (isStatus(v)) entries.push(v);
          else if (isDoubt(v)) doubts.set(`${m[2]}:${v.doubt}`, { recordId: v.recordId, recipients: v.recipients, at: v.at });
          else if (isAnswer(v)) answered.add(`${m[2]}:${v.answered}`);
        } catch { /* a line torn by a machine crash */ }
      }
    }
    const inDoubt = [...doubts].filter(([k]) => !answered.has(k)).map(([, d]) => d);
    if (files.length) this.o.log.info({ files: files.length, entries: entries.length, inDoubt: inDoubt.length }, 'delivery journal: outcomes of a relay that stopped without logging them');
    return {
      entries, inDoubt, files,
      discard: () => { for (const f of files) { try { unlinkSync(f); } catch { /* gone already */ } } },
    };
  }

  open(): void {
    mkdirSync(this.o.dir, { recursive: true });
    liveTokens.add(this.token);
    this.fd = openSync(this.path(this.seq), 'a', 0o600);
  }

  /**
   * Appends the outcomes (synchronously: they are on disk for any later kill of this process when
   * this returns). Returns null when the journal is closed or the write failed (logged once): the
   * outcome then reaches only Kafka, as before the journal existed.
   */
  append(statuses: DeliveryStatus[]): JournalTicket | null {
    if (statuses.length === 0) return null;
    return this.write(statuses, true);
  }

  /**
   * Notes a transaction whose "." is about to leave (synchronously, like append). The file stays
   * (pending) until answered(); null when the journal is closed or the write failed.
   */
  doubt(recordId: string, recipients: string[]): DoubtMark | null {
    const n = this.doubts++;
    const ticket = this.write([{ doubt: n, recordId, recipients, at: Date.now() }], true);
    return ticket === null ? null : { n, ticket };
  }

  /** The transaction's reply has been handled: no longer in doubt. */
  answered(mark: DoubtMark): void {
    // Not pending itself: an answer whose mark is gone (file deleted) is ignored by recover().
    this.write([{ answered: mark.n }], false);
    this.acknowledged(mark.ticket);
  }

  /** One write(2) of JSON lines; the sequence of the file they went to, or null (closed, failed). */
  private write(lines: object[], pending: boolean): JournalTicket | null {
    if (this.fd === undefined) return null;
    const data = Buffer.from(lines.map((s) => `${JSON.stringify(s)}\n`).join(''), 'utf8');
    try {
      writeSync(this.fd, data);
    } catch (e) {
      this.o.onError?.();
      if (!this.failed) this.o.log.warn({ err: (e as Error).message, dir: this.o.dir }, 'delivery journal: write failed; outcomes go to Kafka only (a crash in that window may deliver a message twice)');
      this.failed = true;
      return null;
    }
    const seq = this.seq;
    if (pending) this.pending.set(seq, (this.pending.get(seq) ?? 0) + 1);
    this.bytes += data.length;
    if (this.bytes >= this.maxBytes) this.rotate();
    return seq;
  }

  /** The entries of `ticket` are in Kafka: their file may go once nothing else in it is pending. */
  acknowledged(ticket: JournalTicket | null): void {
    if (ticket === null) return;
    const left = (this.pending.get(ticket) ?? 1) - 1;
    if (left > 0) { this.pending.set(ticket, left); return; }
    this.pending.delete(ticket);
    if (ticket !== this.seq) this.remove(ticket);
  }

  private rotate(): void {
    const old = this.seq;
    closeSync(this.fd!);
    this.seq++;
    this.bytes = 0;
    this.fd = openSync(this.path(this.seq), 'a', 0o600);
    if (!this.pending.has(old)) this.remove(old);
  }

  private remove(seq: number): void {
    try { unlinkSync(this.path(seq)); } catch { /* gone already */ }
  }

  /**
   * Closes the file; deletes it when everything in it is in Kafka (a graceful stop), else leaves it
   * for the next start to recover.
   */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    liveTokens.delete(this.token);
    for (let s = 0; s <= this.seq; s++) if (!this.pending.has(s)) this.remove(s);
    if (this.pending.size) this.o.log.warn({ writes: [...this.pending.values()].reduce((a, b) => a + b, 0) }, 'delivery journal: outcomes not yet in Kafka are left for the next start');
  }
}
