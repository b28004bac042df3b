/**
 * Raw messages → tokenized, labelled examples, through the MIME stage's real parse function, so
 * what `scop spam train|eval` measures is what the scorer sees in production. Lives in cli/
 * because it joins two stages (processors never import each other).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseMime } from '../processors/mime/parse.ts';
import type { Labelled } from '../processors/spam/evaluate.ts';
import { spamInputFromRecord } from '../processors/spam/input.ts';
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
