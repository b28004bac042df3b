/**
 * The extra labelled mail of `../shared/corpora/` (next to the checkout; SCOP_CORPORA_DIR overrides):
 * six public corpora with their terms, read at run time and never copied into the repository. Each
 * corpus's SOURCE.md lists its collection artifacts; what the spam tokenizer masks is described in
 * processors/spam/README.md ("Artifacts").
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export type Label = 'ham' | 'spam';

export const CORPORA_DIR = resolve(process.env.SCOP_CORPORA_DIR ?? fileURLToPath(new URL('../../shared/corpora/', import.meta.url)));

export interface SharedCorpus {
  /** Short name used in commands and tables. */
  name: string;
  folder: string;
  title: string;
  /** The terms, as its SOURCE.md states them. */
  terms: string;
  /**
   * May train the shipped default model. False for a non-commercial corpus: evaluation, and models an
   * operator builds and opts into (`scop spam train --corpora … --allow-noncommercial`).
   */
  shippable: boolean;
  /** Who collected it: corpora with the same origin are left out together (Enron's mailboxes). */
  origin: string;
  files: { file: string; label: Label }[];
  /** Messages are subject + body text only (no header, lower-cased). */
  headerless?: boolean;
}

export const SHARED_CORPORA: readonly SharedCorpus[] = [
  { name: 'lists', folder: 'ham-mailing-lists-2019-2026', title: '12 public mailing-list archives 2019–2026 (ham)', terms: 'public archives, no licence file; authors keep copyright; training data only', shippable: true, origin: 'lists', files: [{ file: 'ham.mbox.gz', label: 'ham' }] },
  { name: 'enron', folder: 'ham-enron-maildir-raw', title: 'raw Enron inbox messages 2001–2002 (ham)', terms: 'released by FERC, distributed by CMU for research', shippable: true, origin: 'enron', files: [{ file: 'ham.mbox.gz', label: 'ham' }] },
  { name: 'foff', folder: 'foff-milter-tests-2025-2026', title: "one server's hard ham and spam 2025–2026", terms: 'MIT', shippable: true, origin: 'foff', files: [{ file: 'ham.mbox.gz', label: 'ham' }, { file: 'spam.mbox.gz', label: 'spam' }] },
  { name: 'glitchy', folder: 'spam-glitchyzorua-2023-2025', title: "one Gmail user's spam folder 2023–2025", terms: '"use this archive without restriction"', shippable: true, origin: 'glitchy', files: [{ file: 'spam.mbox.gz', label: 'spam' }] },
  { name: 'enron-spam', folder: 'enron-spam-preprocessed', title: 'Enron-Spam (Metsis et al. 2006), preprocessed text: Enron ham 1999–2002, GP/BG spam 2003–2005', terms: 'public research corpus (cite Metsis, Androutsopoulos & Paliouras, CEAS 2006)', shippable: true, origin: 'enron', files: [{ file: 'ham.jsonl.gz', label: 'ham' }, { file: 'spam.jsonl.gz', label: 'spam' }], headerless: true },
  { name: 'phishing', folder: 'phishing-pot-2022-2026', title: 'Phishing Pot honeypot samples 2022–2026 (spam)', terms: 'CC BY-NC 4.0 — non-commercial', shippable: false, origin: 'phishing', files: [{ file: 'phishing.mbox.gz', label: 'spam' }] },
];

/** The SpamAssassin public corpus: an npm package (cli/spam-corpus.ts reads it), not a folder of CORPORA_DIR. */
export const SPAMASSASSIN_CORPUS = 'spamassassin';

/** Every corpus name: SpamAssassin's, then the shared folder's. */
export const ALL_CORPORA: readonly string[] = [SPAMASSASSIN_CORPUS, ...SHARED_CORPORA.map((c) => c.name)];

export function sharedCorpus(name: string): SharedCorpus {
  const c = SHARED_CORPORA.find((x) => x.name === name);
  if (!c) throw new Error(`unknown corpus "${name}" (known: ${ALL_CORPORA.join(', ')})`);
  return c;
}

/** Who collected corpus `name` (SharedCorpus.origin); the SpamAssassin corpus is its own origin. */
export function corpusOrigin(name: string): string {
  return name === SPAMASSASSIN_CORPUS ? name : sharedCorpus(name).origin;
}

export function corporaAvailable(dir = CORPORA_DIR): boolean {
  return SHARED_CORPORA.every((c) => c.files.every((f) => existsSync(join(dir, c.folder, f.file))));
}

export interface SharedMessage {
  /** `<corpus>/<file>#<position>`: stable, and says nothing of the label beyond the file name. */
  id: string;
  label: Label;
  /** The raw message (mbox corpora). */
  raw?: Buffer;
  /** Headerless corpora: the subject line and the body. */
  subject?: string;
  body?: string;
}

const MBOX_SEPARATOR = /^From corpus@localhost Thu Jan {2}1 00:00:00 1970\n/m;

/** Messages of a gzip mboxrd file as the corpus README describes it (mboxrd un-escaped, bytes kept). */
export function readCorpusMbox(path: string): Buffer[] {
  const text = gunzipSync(readFileSync(path)).toString('latin1');
  return text.split(MBOX_SEPARATOR).slice(1).map((m) => Buffer.from(m.slice(0, -1).replace(/^>(>*From )/gm, '$1'), 'latin1'));
}

export function loadSharedCorpus(c: SharedCorpus, dir = CORPORA_DIR): SharedMessage[] {
  const out: SharedMessage[] = [];
  for (const f of c.files) {
    const path = join(dir, c.folder, f.file);
    if (c.headerless) {
      const lines = gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter(Boolean);
      lines.forEach((line, i) => {
        const text = (JSON.parse(line) as { text: string }).text;
        const nl = text.indexOf('\n');
        const first = nl < 0 ? text : text.slice(0, nl);
        out.push({ id: `${c.name}/${f.file}#${i}`, label: f.label, subject: first.startsWith('Subject:') ? first.slice(8).trim() : '', body: nl < 0 ? '' : text.slice(nl + 1) });
      });
    } else {
      readCorpusMbox(path).forEach((raw, i) => out.push({ id: `${c.name}/${f.file}#${i}`, label: f.label, raw }));
    }
  }
  return out;
}
