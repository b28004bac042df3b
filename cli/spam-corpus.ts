/**
 * Raw messages → tokenized, labelled examples, through the MIME stage's real parse function, so
 * what `scop spam train|eval` measures is what the scorer sees in production. Lives in cli/
 * because it joins two stages (processors never import each other).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { loadSpamAssassin } from '../corpus/spam-assassin/index.ts';
import { loadSharedCorpus, sharedCorpus, SPAMASSASSIN_CORPUS } from '../corpus/shared-corpora.ts';
import { parseMime, STAGE_VERSION as MIME_STAGE_VERSION } from '../processors/mime/parse.ts';
import type { Labelled } from '../processors/spam/evaluate.ts';
import { spamInputFromRecord, type SpamInput } from '../processors/spam/input.ts';
import type { Label } from '../processors/spam/model.ts';
import { tokenize } from '../processors/spam/tokenizer.ts';
import { schema } from '../schemas/index.ts';
import type { MailRecord } from '../schemas/types.ts';

/** As an SMTP server receives it: no mbox "From " line, CRLF line ends. */
export function smtpForm(raw: Buffer): Buffer {
  let text = raw.toString('latin1');
  if (text.startsWith('From ')) text = text.slice(text.indexOf('\n') + 1);
  return Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1');
}

/**
 * A MailRecord for a message that did not come through our ingress (corpus, mbox): the envelope
 * says nothing (documentation address, no recipients), so only the message itself is tokenized.
 */
export async function recordFromRaw(raw: Buffer, id: string): Promise<MailRecord> {
  const bytes = smtpForm(raw);
  const mime = await parseMime(bytes);
  const record: Record<string, unknown> = {
    envelope: {
      id, receivedAt: 0, listener: 'MX', clientIp: '192.0.2.1', clientPort: 0, clientHostname: null, helo: 'corpus.invalid',
      tls: null, authUser: null, mailFrom: '', rcptTo: [], smtpUtf8: false, bodyType: 'EIGHT_BIT_MIME', size: bytes.length,
      ingressHost: 'corpus.invalid', raw: bytes, traceLength: 0, messageSha256: null,
    },
    mime,
  };
  // Every other stage section at its schema default (null), whatever sections exist by now.
  for (const f of (schema('MailRecord').schema as unknown as { fields: { name: string; default?: unknown }[] }).fields) {
    if (!(f.name in record) && 'default' in f) record[f.name] = f.default;
  }
  return record as unknown as MailRecord;
}

export interface RawLabelled { raw: Buffer; label: Label; id: string }

/** Parses and tokenizes, reporting progress every 200 messages. */
export async function tokenizeAll(messages: RawLabelled[], onProgress?: (done: number, total: number) => void): Promise<Labelled[]> {
  const out: Labelled[] = [];
  for (const [i, m] of messages.entries()) {
    const record = await recordFromRaw(m.raw, m.id);
    out.push({ tokens: tokenize(spamInputFromRecord(record)), label: m.label, id: m.id });
    if ((i + 1) % 200 === 0 || i + 1 === messages.length) onProgress?.(i + 1, messages.length);
  }
  return out;
}

/** Messages from a folder (one file per message, recursively) or an mbox file. */
export function readMessages(path: string): { raw: Buffer; id: string }[] {
  const st = statSync(path);
  if (st.isDirectory()) {
    const out: { raw: Buffer; id: string }[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (!name.startsWith('.')) out.push({ raw: readFileSync(p), id: p });
      }
    };
    walk(path);
    return out;
  }
  return splitMbox(readFileSync(path)).map((raw, i) => ({ raw, id: `${path}#${i + 1}` }));
}

/** mboxrd/mboxo: messages start at a line "From " after a blank line (or at the start); ">From " is unescaped. */
export function splitMbox(data: Buffer): Buffer[] {
  const text = data.toString('latin1');
  const starts: number[] = [];
  const re = /(^|\n)From [^\n]*\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) starts.push(m.index + m[1]!.length);
  if (starts.length === 0) return text.trim() ? [data] : [];
  return starts.map((s, i) => {
    const chunk = text.slice(s, starts[i + 1] ?? text.length).replace(/\n$/, '');
    return Buffer.from(chunk.replace(/^>(>*From )/gm, '$1'), 'latin1');
  });
}

/**
 * Parsed corpora, cached on disk: each message's SpamInput (what the tokenizer reads) as produced by
 * the MIME stage's parser, so experiments and evaluations re-tokenize without re-parsing (the parse is
 * ~20× the tokenizing). The cache key names the MIME stage version; delete `.data/spam-corpora/` to
 * force a re-parse.
 */
export interface CorpusExample {
  id: string;
  label: Label;
  /** Corpus name (spamassassin, lists, enron, foff, glitchy, enron-spam, phishing). */
  corpus: string;
  /** Who collected it, per class: tokens must be seen in two sources to train the default model. */
  source: string;
  input: SpamInput;
}

export const CORPUS_CACHE_DIR = '.data/spam-corpora';

/** Scrubbing marks of the corpora's anonymisers: a field that holds one is masked (its shape says who collected it). */
const SCRUB = /\[removed\]|^user@|phishing@pot|@pot\b|^<>$|john doe|recipient name|sender name|^recipient$/i;

/** Marks the anonymised fields of a corpus message (SpamInput.masked) and, without any Received, the relay/chain tokens. */
export function maskCollectionArtifacts(input: SpamInput): SpamInput {
  const masked: string[] = [];
  const from = input.from[0];
  if (!from || SCRUB.test(from.address) || SCRUB.test(from.name) || !from.address.includes('@')) masked.push('from:', 'to:is-from', 'reply-to:', 'message-id:from-domain', 'url:links-from-domain', 'url:no-link-to-from-domain', 'origin:from-domain', 'origin:other-domain');
  if (input.messageId && SCRUB.test(input.messageId.replace(/^<|>$/g, ''))) masked.push('message-id:', 'mailer+message-id:');
  // Corpora that kept part of the header block only (Enron: none; foff: some): no chain to read.
  if (input.received.length === 0) masked.push('relay:', 'received:', 'origin:', 'date:vs-origin', 'date:tz-');
  return masked.length ? { ...input, masked } : input;
}

function headerlessInput(subject: string, body: string): SpamInput {
  return {
    subject, from: [], replyTo: [], to: [], cc: [], messageId: null, inReplyTo: null, date: null, received: [], fields: {}, text: body, html: null, urls: [],
    attachments: [], charsets: [], defects: [], parts: 1, depth: 0, languages: [], envelope: null, auth: null, headerless: true,
  };
}

async function parseCorpus(name: string, onProgress?: (done: number, total: number) => void): Promise<CorpusExample[]> {
  if (name === SPAMASSASSIN_CORPUS) {
    const corpus = loadSpamAssassin();
    const out: CorpusExample[] = [];
    for (const [i, m] of corpus.entries()) {
      const record = await recordFromRaw(m.raw, m.path);
      out.push({ id: m.path, label: m.label, corpus: name, source: name, input: maskCollectionArtifacts(spamInputFromRecord(record)) });
      if ((i + 1) % 200 === 0 || i + 1 === corpus.length) onProgress?.(i + 1, corpus.length);
    }
    return out;
  }
  const c = sharedCorpus(name);
  const msgs = loadSharedCorpus(c);
  const out: CorpusExample[] = [];
  for (const [i, m] of msgs.entries()) {
    // Enron-Spam's spam is not Enron's: GP's mailbox and BG's spam trap.
    const source = c.name === 'enron-spam' ? (m.label === 'ham' ? 'enron' : 'enron-spam-spam') : c.origin;
    const input = c.headerless ? headerlessInput(m.subject ?? '', m.body ?? '') : spamInputFromRecord(await recordFromRaw(m.raw!, m.id));
    out.push({ id: m.id, label: m.label, corpus: name, source, input: maskCollectionArtifacts(input) });
    if ((i + 1) % 200 === 0 || i + 1 === msgs.length) onProgress?.(i + 1, msgs.length);
  }
  return out;
}

/** A corpus's parsed messages (cached under .data/spam-corpora/, keyed by the MIME stage version). */
export async function corpusExamples(name: string, onProgress?: (done: number, total: number) => void): Promise<CorpusExample[]> {
  const file = join(CORPUS_CACHE_DIR, `${name}.mime-${MIME_STAGE_VERSION}.input-${INPUT_CACHE_VERSION}.jsonl.gz`);
  if (existsSync(file)) {
    const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter(Boolean);
    return lines.map((l) => JSON.parse(l) as CorpusExample);
  }
  const examples = await parseCorpus(name, onProgress);
  mkdirSync(CORPUS_CACHE_DIR, { recursive: true });
  writeFileSync(`${file}.tmp`, gzipSync(examples.map((e) => JSON.stringify(e)).join('\n'), { level: 1 }));
  renameSync(`${file}.tmp`, file);
  return examples;
}

/** Bump when maskCollectionArtifacts or the SpamInput shape changes (the cache holds their output). */
const INPUT_CACHE_VERSION = 3;
