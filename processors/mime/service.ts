/**
 * The MIME stage: mail.inbound.raw → mail.inbound.parsed, adding the `mime` section
 * (parse.ts). The envelope and raw bytes pass through untouched.
 *
 * Parsing runs mailparser, libmime, html-to-text and file-type on attacker bytes, synchronously: on
 * the event loop's thread no time limit can stop it, and a message that makes one of them slow
 * stalls the stage (in the fused topology the whole inbound chain). So messages larger than
 * MIME_INLINE_MAX_BYTES are parsed in a worker thread (runtime/cpu-pool.ts) that is terminated past
 * MIME_PARSE_TIMEOUT_MS or the record's own limit; the record is dead-lettered as process-timeout and
 * the stage goes on. Smaller ones (most mail) are parsed inline: for them the worker hop costs more
 * than it could save (README "Parse time limit").
 */
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { envInt, loadEnv } from '../../runtime/config.ts';
import { boundedWorker } from '../../runtime/cpu-pool.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { MimeSection } from '../../schemas/types.ts';
import { clamdEnvShape, parseClamdAddress, type ClamdAddress } from './clamd.ts';
import { parseMime, scanMime, STAGE_VERSION } from './parse.ts';
import { ownBuffer, type ParseResult, type ParseTask } from './parse-worker.ts';
import { mimeSymbols } from './symbols.ts';
import { DEFAULT_LIMITS, type MimeLimits } from './structure.ts';
import { MIME_SYMBOLS } from './symbol-names.ts';

/** The stage's per-record limit (runtime/stage.ts): MIME_PARSE_TIMEOUT_MS stays below it, so a record queued behind a stuck parse still has time. */
export const PROCESS_TIMEOUT_MS = 60_000;

type Clamd = { address: ClamdAddress; timeoutMs: number };

/**
 * Measured (README "Parse time limit"): the worker hop costs ~0.2–0.5 ms per message, 20–60 % of a
 * parse below this size and ≤ 20 % above; 99.8 % of the SpamAssassin corpus is below. What stays
 * inline is bounded by it: a quadratic pattern of the kind removed from parse.ts took ~5 s on 64 K
 * characters, under the consumer's 30 s session timeout.
 */
export const DEFAULT_INLINE_MAX_BYTES = 64 * 1024;
/** Far above a legitimate parse (a 26 MiB message: 0.4 s inline, 1.1 s in a cold worker, on a loaded box), far below the record limit. */
export const DEFAULT_PARSE_TIMEOUT_MS = 20_000;

export interface MimeConfig {
  limits: MimeLimits;
  clamd?: Clamd;
  /** Messages up to this many raw bytes are parsed on the main thread; larger ones in a worker (0: all in a worker). */
  inlineMaxBytes: number;
  parseThreads: number;
  /** A worker parse past this is stopped (its thread terminated) and the record dead-lettered. */
  parseTimeoutMs: number;
}

export interface MimeState {
  config: MimeConfig;
  parser: BoundedParser;
}

export function loadMimeConfig(env: NodeJS.ProcessEnv): MimeConfig {
  const cfg = loadEnv(
    {
      ...clamdEnvShape,
      MIME_MAX_DEPTH: envInt(1).default(DEFAULT_LIMITS.maxDepth),
      MIME_MAX_PARTS: envInt(1).default(DEFAULT_LIMITS.maxParts),
      MIME_MAX_HEADER_BYTES: envInt(1024).default(DEFAULT_LIMITS.maxHeaderBytes),
      MIME_MAX_TEXT_CHARS: envInt(1024).default(DEFAULT_LIMITS.maxTextChars),
      MIME_MAX_HTML_TO_TEXT_BYTES: envInt(1024).max(64 * 1024 * 1024).default(DEFAULT_LIMITS.maxHtmlToTextBytes),
      MIME_INLINE_MAX_BYTES: envInt(0).max(64 * 1024 * 1024).default(DEFAULT_INLINE_MAX_BYTES),
      MIME_PARSE_THREADS: envInt(1).max(64).default(1),
      MIME_PARSE_TIMEOUT_MS: envInt(100).max(PROCESS_TIMEOUT_MS - 1_000).default(DEFAULT_PARSE_TIMEOUT_MS),
    },
    {
      CLAMD_ADDRESS: 'host:port or a unix socket path of clamd, or unset to scan nothing',
      CLAMD_TIMEOUT_MS: 'milliseconds, at least 100',
      MIME_MAX_DEPTH: 'a whole number ≥ 1 (multipart nesting walked)',
      MIME_MAX_PARTS: 'a whole number ≥ 1',
      MIME_MAX_HEADER_BYTES: 'a whole number ≥ 1024',
      MIME_MAX_TEXT_CHARS: 'a whole number ≥ 1024',
      MIME_MAX_HTML_TO_TEXT_BYTES: 'bytes of the largest HTML part rendered to text, 1024..67108864, e.g. MIME_MAX_HTML_TO_TEXT_BYTES=1048576',
      MIME_INLINE_MAX_BYTES: `raw message size up to which a message is parsed on the main thread, 0..67108864 (0: every message in a worker thread), e.g. MIME_INLINE_MAX_BYTES=${DEFAULT_INLINE_MAX_BYTES}`,
      MIME_PARSE_THREADS: 'worker threads parsing large messages, 1..64, e.g. MIME_PARSE_THREADS=1',
      MIME_PARSE_TIMEOUT_MS: `milliseconds a worker may parse one message, 100..${PROCESS_TIMEOUT_MS - 1_000} (below the stage's ${PROCESS_TIMEOUT_MS} ms record limit), e.g. MIME_PARSE_TIMEOUT_MS=${DEFAULT_PARSE_TIMEOUT_MS}`,
    },
    env,
  );
  const limits: MimeLimits = {
    ...DEFAULT_LIMITS,
    maxDepth: cfg.MIME_MAX_DEPTH,
    maxParts: cfg.MIME_MAX_PARTS,
    maxHeaderBytes: cfg.MIME_MAX_HEADER_BYTES,
    maxTextChars: cfg.MIME_MAX_TEXT_CHARS,
    maxHtmlToTextBytes: cfg.MIME_MAX_HTML_TO_TEXT_BYTES,
    maxHtmlChars: Math.max(DEFAULT_LIMITS.maxHtmlChars, cfg.MIME_MAX_TEXT_CHARS),
  };
  const clamd = cfg.CLAMD_ADDRESS ? { address: parseClamdAddress(cfg.CLAMD_ADDRESS), timeoutMs: cfg.CLAMD_TIMEOUT_MS } : undefined;
  return { limits, clamd, inlineMaxBytes: cfg.MIME_INLINE_MAX_BYTES, parseThreads: cfg.MIME_PARSE_THREADS, parseTimeoutMs: cfg.MIME_PARSE_TIMEOUT_MS };
}

/** Parses inline when the message is small, else in a worker the time limit or the signal terminates. */
export interface BoundedParser {
  parse(raw: Buffer, signal?: AbortSignal): Promise<MimeSection>;
  close(): Promise<void>;
}

export function boundedParser(opts: {
  limits: MimeLimits; clamd?: Clamd; inlineMaxBytes: number; threads: number; timeoutMs: number; registry?: Registry;
  /** The worker module (tests substitute one that can hang). */
  module?: URL;
}): BoundedParser {
  const worker = boundedWorker<Buffer, ParseTask, ParseResult>({
    pool: {
      name: 'mime-parse', module: opts.module ?? new URL('./parse-worker.ts', import.meta.url), threads: opts.threads, timeoutMs: opts.timeoutMs,
      // A parse holds the message a few times over (latin1 copy, decoded parts, attachments); ingress caps messages at 25 MiB by default.
      maxHeapMb: 1024, registry: opts.registry,
    },
    inlineUpTo: opts.inlineMaxBytes, sizeOf: (raw) => raw.length, timeoutKey: 'MIME_PARSE_TIMEOUT_MS',
    describe: (bytes) => `MIME parse of a ${bytes}-byte message`,
  });
  return {
    async parse(raw, signal) {
      if (worker.inline(raw)) return parseMime(raw, { limits: opts.limits, clamd: opts.clamd, signal });
      // One copy into a buffer of its own, moved: a clone copies a Buffer's whole backing buffer, which may be larger (a slice).
      const bytes = ownBuffer(raw);
      const r = await worker.run(raw, { raw: bytes, limits: opts.limits, contents: opts.clamd !== undefined }, { signal, transferList: [bytes] });
      if (opts.clamd) await scanMime(r.section, raw, r.contents.map((c) => Buffer.from(c)), opts.clamd, signal);
      return r.section;
    },
    close: () => worker.close(),
  };
}

export const mimeService = defineStage<MimeState, 'mime'>({
  name: 'mime',
  symbols: MIME_SYMBOLS,
  section: 'mime',
  version: STAGE_VERSION,
  description: 'MIME parsing: headers, bodies as text, URLs, charsets, defects, attachments and their policy flags (optional ClamAV)',
  input: TOPICS.inboundRaw,
  output: TOPICS.inboundParsed,
  defaultMetricsPort: 9471,
  // Parsing is CPU-bound (concurrency buys nothing there); clamd round trips overlap.
  concurrency: 4,
  processTimeoutMs: PROCESS_TIMEOUT_MS,
  init(svc) {
    const config = loadMimeConfig(svc.env);
    svc.log.info({ limits: config.limits, clamd: config.clamd?.address ?? null, inlineMaxBytes: config.inlineMaxBytes, parseThreads: config.parseThreads, parseTimeoutMs: config.parseTimeoutMs }, 'mime stage config');
    const parser = boundedParser({ limits: config.limits, clamd: config.clamd, inlineMaxBytes: config.inlineMaxBytes, threads: config.parseThreads, timeoutMs: config.parseTimeoutMs, registry: svc.metrics });
    return { config, parser };
  },
  async close(state) {
    await state.parser.close();
  },
  async process(record, ctx) {
    const mime = await ctx.state.parser.parse(record.envelope.raw, ctx.signal);
    if (mime.scan?.result === 'error') ctx.log.warn({ detail: mime.scan.detail }, 'virus scan failed; record passes unscanned');
    ctx.log.debug({ parts: mime.parts, defects: mime.defects.length, attachments: mime.attachments.length, tags: mime.tags }, 'parsed');
    return { section: mime, symbols: mimeSymbols(mime) };
  },
});
