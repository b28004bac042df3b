/**
 * The MIME stage's findings as symbols (issue 16): one per attachment flag that occurs,
 * MIME_<FLAG>{file names} (MIME_EXECUTABLE, MIME_DOUBLE_EXTENSION, MIME_MACRO_OFFICE, …), a virus
 * ClamAV found (MIME_VIRUS{signature}), a scan that could not run, a parse that failed or stopped at
 * a limit. Facts, not verdicts: the policy file says what each weighs.
 */
import { symbolWord, type StageSymbol } from '../../runtime/stage.ts';
import type { MimeSection } from '../../schemas/types.ts';
import { FLAGS } from './attachments.ts';

/** File names listed per symbol (a message may carry hundreds of attachments). */
const MAX_FILES = 8;

/** The symbol of an attachment flag: "double-extension" → MIME_DOUBLE_EXTENSION. */
export const flagSymbol = (flag: string) => `MIME_${symbolWord(flag)}`;

const distinct = (xs: string[]) => [...new Set(xs)].slice(0, MAX_FILES);

export function mimeSymbols(m: MimeSection): StageSymbol[] {
  const out: StageSymbol[] = [];
  const add = (symbol: string, options: string[]) => out.push({ symbol, score: null, options });
  for (const flag of FLAGS) {
    if (flag === 'virus') continue; // below, with the signature names
    const files = m.attachments.filter((a) => a.flags.includes(flag)).map((a) => a.filename ?? '(unnamed)');
    if (files.length) add(flagSymbol(flag), distinct(files));
  }
  const signatures = m.attachments.filter((a) => a.virus || a.flags.includes('virus')).map((a) => a.virus ?? 'found');
  if (signatures.length || m.tags.includes('virus')) add('MIME_VIRUS', distinct(signatures.length ? signatures : [m.scan?.detail || 'found']));
  if (m.scan?.result === 'error') add('MIME_SCAN_FAILED', [m.scan.detail]);
  if (m.tags.includes('parse-failed')) add('MIME_PARSE_FAILED', []);
  if (m.tags.includes('limits-exceeded')) add('MIME_LIMITS_EXCEEDED', []);
  return out;
}
