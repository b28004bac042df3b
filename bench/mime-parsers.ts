/**
 * mailparser vs postal-mime on the SpamAssassin corpus (6,046 messages), in one run: messages/s
 * and failures (a rejected parse, or a parse that took longer than 5 s) for each, one process,
 * one message at a time, after a warm-up. Run: `node --import tsx bench/mime-parsers.ts [--limit N] [--rounds N]`.
 */
import { performance } from 'node:perf_hooks';
import { simpleParser } from 'mailparser';
import PostalMime from 'postal-mime';
import { loadSpamAssassin, type CorpusMessage } from '../corpus/spam-assassin/index.ts';

type Parse = (raw: Buffer) => Promise<unknown>;

const parsers: Record<string, Parse> = {
  // The options the MIME stage would use: no HTML-to-text conversion cost hidden from the other side.
  mailparser: (raw) => simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true }),
  'postal-mime': (raw) => PostalMime.parse(raw, { attachmentEncoding: 'arraybuffer' }),
};

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

export interface ParserResult {
  name: string;
  messages: number;
  seconds: number;
  perSecond: number;
  failures: { id: string; error: string }[];
  textChars: number;
  attachments: number;
}

async function run(name: string, parse: Parse, corpus: CorpusMessage[], progress: boolean): Promise<ParserResult> {
  const failures: ParserResult['failures'] = [];
  let textChars = 0;
  let attachments = 0;
  const t0 = performance.now();
  for (let i = 0; i < corpus.length; i++) {
    const m = corpus[i]!;
    try {
      const r = (await Promise.race([
        parse(m.raw),
        new Promise((_, fail) => setTimeout(() => fail(new Error('timeout 5s')), 5000).unref()),
      ])) as { text?: string | false; attachments?: unknown[] };
      textChars += typeof r.text === 'string' ? r.text.length : 0;
      attachments += r.attachments?.length ?? 0;
    } catch (e) {
      failures.push({ id: m.id, error: (e as Error).message });
    }
    if (progress && (i + 1) % 1000 === 0) process.stderr.write(`  ${name}: ${i + 1}/${corpus.length}\r`);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (progress) process.stderr.write('\n');
  return { name, messages: corpus.length, seconds, perSecond: corpus.length / seconds, failures, textChars, attachments };
}

export async function benchParsers(corpus: CorpusMessage[], rounds = 2, progress = true): Promise<ParserResult[]> {
  // Warm-up: JIT both parsers on a slice first, so the order of the runs does not favour one.
  for (const [name, parse] of Object.entries(parsers)) await run(name, parse, corpus.slice(0, 300), false);
  const best = new Map<string, ParserResult>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, parse] of Object.entries(parsers)) {
      const res = await run(name, parse, corpus, progress);
      const prev = best.get(name);
      if (!prev || res.perSecond > prev.perSecond) best.set(name, res);
    }
  }
  return [...best.values()];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const corpus = loadSpamAssassin(arg('limit', Infinity));
  const mb = corpus.reduce((n, m) => n + m.raw.length, 0) / 1e6;
  console.log(`corpus: ${corpus.length} messages, ${mb.toFixed(1)} MB, loaded in ${Math.round(performance.now() - t0)} ms; node ${process.version}`);
  const results = await benchParsers(corpus, arg('rounds', 2));
  for (const r of results) {
    console.log(`${r.name.padEnd(12)} ${r.perSecond.toFixed(0).padStart(6)} messages/s  (${(mb / r.seconds).toFixed(1)} MB/s, ${r.seconds.toFixed(2)} s)  failures ${r.failures.length}  text chars ${r.textChars}  attachments ${r.attachments}`);
    for (const f of r.failures.slice(0, 10)) console.log(`    ${f.id}: ${f.error}`);
  }
}
