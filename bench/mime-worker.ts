/**
 * What parsing in a worker thread costs the MIME stage (processors/mime/service.ts, boundedParser),
 * in one process, no Kafka:
 *   1. per message size, the median time of parseMime inline vs through the worker pool (copy in,
 *      parse, section cloned back), one message at a time: the hop's fixed cost, which the inline
 *      threshold MIME_INLINE_MAX_BYTES keeps off small mail;
 *   2. the SpamAssassin corpus's sizes (how much mail the threshold sends to the worker) and its
 *      whole-corpus time with the default threshold vs all inline;
 *   3. the event loop's longest stall while a slow message (1 MiB of link-dense HTML, rendered to
 *      text by html-to-text in one synchronous call) is parsed inline vs in the worker: what every
 *      other record, and the consumer's heartbeat, waits for.
 * Run: `npm run bench -- mime-worker [--rounds 15] [--limit N]`.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadSpamAssassin } from '../corpus/spam-assassin/index.ts';
import { parseMime } from '../processors/mime/parse.ts';
import { boundedParser, DEFAULT_INLINE_MAX_BYTES, DEFAULT_PARSE_TIMEOUT_MS } from '../processors/mime/service.ts';
import { DEFAULT_LIMITS } from '../processors/mime/structure.ts';

const arg = (name: string, d: number) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : d; };
const rounds = arg('--rounds', 15);
const limits = DEFAULT_LIMITS;
const worker = boundedParser({ limits, inlineMaxBytes: 0, threads: 1, timeoutMs: DEFAULT_PARSE_TIMEOUT_MS });
const byDefault = boundedParser({ limits, inlineMaxBytes: DEFAULT_INLINE_MAX_BYTES, threads: 1, timeoutMs: DEFAULT_PARSE_TIMEOUT_MS });

const WORDS = 'the meeting agenda attached please review before friday and send comments on budget schedule invoice'.split(' ');
/** A message of about `bytes`: a text body of words (a quarter) and a base64 attachment (the rest), as larger mail is. */
function message(bytes: number): Buffer {
  const head = 'From: Alice <a@example.org>\r\nTo: b@example.net\r\nSubject: =?utf-8?q?Qu=C3=A4rterly_report?=\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n';
  const textBytes = Math.max(200, Math.floor(bytes / 4));
  let text = '';
  for (let i = 0; text.length < textBytes; i++) text += WORDS[i % WORDS.length] + (i % 12 === 11 ? '\r\n' : ' ');
  const attachBytes = Math.max(0, Math.floor(((bytes - textBytes - 600) * 3) / 4));
  const b64 = randomBytes(attachBytes).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(`${head}--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n${attachBytes ? `--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n` : ''}--b1--\r\n`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

console.log(`node ${process.version}; ${rounds} rounds, median ms per message, one at a time`);
// Both paths warm before timing (the worker thread started, both JITs past their first messages).
for (let i = 0; i < 20; i++) for (const size of [2 << 10, 64 << 10, 512 << 10]) { const raw = message(size); await parseMime(raw, { limits }); await worker.parse(raw); }
console.log('size      inline ms  worker ms  worker−inline  worker/inline');
for (const size of [2 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20]) {
  const raw = message(size);
  const a: number[] = [];
  const b: number[] = [];
  const r = size >= 4 << 20 ? Math.max(3, Math.floor(rounds / 4)) : rounds;
  for (let i = 0; i < r; i++) {
    a.push(await time(() => parseMime(raw, { limits })));
    b.push(await time(() => worker.parse(raw)));
  }
  const label = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
  console.log(`${label.padEnd(9)} ${median(a).toFixed(2).padStart(9)}  ${median(b).toFixed(2).padStart(9)}  ${(median(b) - median(a)).toFixed(2).padStart(13)}  ${(median(b) / median(a)).toFixed(2).padStart(13)}`);
}

const corpus = loadSpamAssassin(arg('--limit', Infinity));
const sizes = corpus.map((m) => m.raw.length);
const share = (n: number) => ((100 * sizes.filter((s) => s > n).length) / sizes.length).toFixed(1);
console.log(`\nSpamAssassin: ${corpus.length} messages; over 16 KiB ${share(16 << 10)} %, 32 KiB ${share(32 << 10)} %, 64 KiB ${share(64 << 10)} %, 128 KiB ${share(128 << 10)} %, 256 KiB ${share(256 << 10)} %`);
/** The corpus through `parse`, 4 messages in flight as the stage's concurrency. */
async function corpusMs(parse: (raw: Buffer) => Promise<unknown>): Promise<number> {
  let next = 0;
  return time(() => Promise.all(Array.from({ length: 4 }, async () => { while (next < corpus.length) await parse(corpus[next++]!.raw); })));
}
for (let round = 0; round < 2; round++) {
  const inline = await corpusMs((raw) => parseMime(raw, { limits }));
  const bounded = await corpusMs((raw) => byDefault.parse(raw));
  const all = await corpusMs((raw) => worker.parse(raw));
  console.log(`corpus, 4 in flight: all inline ${inline.toFixed(0)} ms; default threshold (${DEFAULT_INLINE_MAX_BYTES} bytes) ${bounded.toFixed(0)} ms (×${(bounded / inline).toFixed(2)}); all in the worker ${all.toFixed(0)} ms (×${(all / inline).toFixed(2)})`);
}

// 3. How long the event loop stops while one large message is parsed: what every other record (and the consumer's heartbeat) waits.
const anchors = '<a href="https://example.org/x">l</a>'.repeat(Math.floor((1 << 20) / 37) - 10);
const slow = Buffer.from(`From: a@example.org\r\nTo: b@example.net\r\nSubject: links\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<html><body>${anchors}</body></html>\r\n`);
for (let round = 0; round < 3; round++) {
  for (const [name, parse] of [['inline', () => parseMime(slow, { limits })], ['worker', () => worker.parse(slow)]] as const) {
    // The longest gap between ticks of a 1 ms timer: how long the event loop was held.
    let last = performance.now();
    let stall = 0;
    const ticker = setInterval(() => { const now = performance.now(); stall = Math.max(stall, now - last); last = now; }, 1);
    const ms = await time(parse);
    await new Promise((r) => setTimeout(r, 20));
    clearInterval(ticker);
    console.log(`${(slow.length / 2 ** 20).toFixed(2)} MiB of link-dense HTML, ${name}: ${ms.toFixed(0)} ms, longest event-loop stall ${stall.toFixed(0)} ms`);
  }
}
await worker.close();
await byDefault.close();
