/**
 * Where generated messages go: a folder (one .eml and one .tree.json per message), an mbox
 * (mboxrd, trees alongside in `<file>.trees.jsonl`), or JSONL (one line per message: id, the
 * message in base64, its tree). All three keep each message's bytes exactly (mbox: drop the LF
 * written after each message and undo the mboxrd quoting, as readMbox does).
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TreeMessage } from './tree.ts';

export type Format = 'dir' | 'mbox' | 'jsonl';
export const FORMATS: readonly Format[] = ['dir', 'mbox', 'jsonl'];

export interface Sink {
  write(raw: Buffer, tree: TreeMessage): void;
  close(): void;
}

/** mboxrd: `From ` lines and their `>`-quoted forms get one more `>` (undone on reading). */
export function mboxEscape(raw: Buffer): Buffer {
  const s = raw.toString('latin1');
  if (!/(^|\n)>*From /.test(s)) return raw;
  return Buffer.from(s.replace(/(^|\n)(>*From )/g, '$1>$2'), 'latin1');
}

export function mboxUnescape(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/(^|\n)>(>*From )/g, '$1$2'), 'latin1');
}

/** The From_ line starting each message; fixed, so the mbox is as deterministic as the messages. */
export const FROM_LINE = 'From scop-mail-corpus@invalid Thu Jan  1 00:00:00 1970\n';

export function openSink(format: Format, out: string): Sink {
  switch (format) {
    case 'dir': {
      mkdirSync(out, { recursive: true });
      return {
        write(raw, tree) {
          writeAll(join(out, `${tree.id}.eml`), raw);
          writeAll(join(out, `${tree.id}.tree.json`), Buffer.from(JSON.stringify(tree) + '\n'));
        },
        close() {},
      };
    }
    case 'mbox': {
      mkdirSync(dirname(out), { recursive: true });
      const box = openSync(out, 'w');
      const trees = openSync(`${out}.trees.jsonl`, 'w');
      return {
        write(raw, tree) {
          // One LF after each message: the next From_ line starts a line, and a reader that drops
          // the last LF of each message gets the bytes back exactly (a message need not end in one).
          writeSync(box, mboxRecord(raw));
          writeSync(trees, JSON.stringify(tree) + '\n');
        },
        close() { closeSync(box); closeSync(trees); },
      };
    }
    case 'jsonl': {
      mkdirSync(dirname(out), { recursive: true });
      const fd = openSync(out, 'w');
      return {
        write(raw, tree) { writeSync(fd, JSON.stringify({ id: tree.id, message: raw.toString('base64'), tree }) + '\n'); },
        close() { closeSync(fd); },
      };
    }
  }
}

/** One message as an mbox record: From_ line, the message mboxrd-quoted, one LF. */
export function mboxRecord(raw: Buffer): Buffer {
  return Buffer.concat([Buffer.from(FROM_LINE), mboxEscape(raw), Buffer.from('\n')]);
}

function writeAll(path: string, data: Buffer): void {
  const fd = openSync(path, 'w');
  try { writeSync(fd, data); } finally { closeSync(fd); }
}

/** Reads a JSONL corpus back: messages with their trees, in order. */
export function* readJsonl(text: string): Generator<{ id: string; raw: Buffer; tree: TreeMessage }> {
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { id: string; message: string; tree: TreeMessage };
    yield { id: r.id, raw: Buffer.from(r.message, 'base64'), tree: r.tree };
  }
}

/** Reads an mbox written by openSink back into messages (the inverse of its framing and quoting). */
export function readMbox(file: string): Buffer[] {
  const s = readFileSync(file).toString('latin1');
  const out: Buffer[] = [];
  for (const chunk of s.split(/^From scop-mail-corpus@invalid [^\n]*\n/m).slice(1)) out.push(mboxUnescape(Buffer.from(chunk.slice(0, -1), 'latin1')));
  return out;
}
