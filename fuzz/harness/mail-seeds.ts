/**
 * Messages from the external MIME corpora (read at run time from shared/testdata, never copied
 * into the repository), for the targets that seed from real mail.
 */
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { filesUnder } from '../../runtime/testdata.ts';
import type { Seed } from './target.ts';

const CORPORA = ['stalwart-mail-parser', 'nodemailer-mailparser-fixtures', 'mimekit-testdata/messages', 'crymap-testdata', 'rfc8463-dkim', 'rfc6376-example'];

/** Every .eml/.msg of the MIME corpora up to `maxBytes`, as CRLF messages. */
export function* corpusMessages(testdata: string, maxBytes: number): Generator<Seed> {
  for (const corpus of CORPORA) {
    for (const file of filesUnder(join(testdata, corpus), (n) => /\.(eml|msg)$/i.test(n))) {
      const raw = readFileSync(file);
      if (raw.length > maxBytes) continue;
      const crlf = Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
      yield { name: relative(testdata, file).replace(/[/\\]/g, '_'), data: crlf };
    }
  }
}

/** Splits a raw message into its header block and body (at the first empty line). */
export function headerAndBody(raw: Buffer): { header: string; body: string } {
  const s = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(s);
  return m ? { header: s.slice(0, m.index), body: s.slice(m.index + m[0].length) } : { header: s, body: '' };
}

/** Unfolded value of the first header field `name` (case-insensitive), or ''. */
export function headerField(header: string, name: string): string {
  const re = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im');
  return re.exec(header)?.[1]?.replace(/\r?\n[ \t]+/g, ' ') ?? '';
}

export const seedName = (file: string) => basename(file).replace(/[^A-Za-z0-9._-]/g, '_');
