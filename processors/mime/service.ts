/**
 * The MIME stage: mail.inbound.raw → mail.inbound.parsed, adding the `mime` section
 * (parse.ts). The envelope and raw bytes pass through untouched.
 */
import { z } from 'zod';
import { envInt, loadEnv } from '../../runtime/config.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import { clamdEnvShape, parseClamdAddress, type ClamdAddress } from './clamd.ts';
import { parseMime, STAGE_VERSION } from './parse.ts';
import { mimeSymbols } from './symbols.ts';
import { DEFAULT_LIMITS, type MimeLimits } from './structure.ts';
import { MIME_SYMBOLS } from './symbol-names.ts';

interface MimeState {
  limits: MimeLimits;
  clamd?: { address: ClamdAddress; timeoutMs: number };
}

export function loadMimeConfig(env: NodeJS.ProcessEnv): MimeState {
  const cfg = loadEnv(
    {
      ...clamdEnvShape,
      MIME_MAX_DEPTH: envInt(1).default(DEFAULT_LIMITS.maxDepth),
      MIME_MAX_PARTS: envInt(1).default(DEFAULT_LIMITS.maxParts),
      MIME_MAX_HEADER_BYTES: envInt(1024).default(DEFAULT_LIMITS.maxHeaderBytes),
      MIME_MAX_TEXT_CHARS: envInt(1024).default(DEFAULT_LIMITS.maxTextChars),
      MIME_MAX_HTML_TO_TEXT_BYTES: envInt(1024).max(64 * 1024 * 1024).default(DEFAULT_LIMITS.maxHtmlToTextBytes),
    },
    {
      CLAMD_ADDRESS: 'host:port or a unix socket path of clamd, or unset to scan nothing',
      CLAMD_TIMEOUT_MS: 'milliseconds, at least 100',
      MIME_MAX_DEPTH: 'a whole number ≥ 1 (multipart nesting walked)',
      MIME_MAX_PARTS: 'a whole number ≥ 1',
      MIME_MAX_HEADER_BYTES: 'a whole number ≥ 1024',
      MIME_MAX_TEXT_CHARS: 'a whole number ≥ 1024',
      MIME_MAX_HTML_TO_TEXT_BYTES: 'bytes of the largest HTML part rendered to text, 1024..67108864, e.g. MIME_MAX_HTML_TO_TEXT_BYTES=1048576',
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
  return { limits, clamd };
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
  processTimeoutMs: 60000,
  init(svc) {
    const state = loadMimeConfig(svc.env);
    svc.log.info({ limits: state.limits, clamd: state.clamd?.address ?? null }, 'mime stage config');
    return state;
  },
  async process(record, ctx) {
    const mime = await parseMime(record.envelope.raw, { limits: ctx.state.limits, clamd: ctx.state.clamd, signal: ctx.signal });
    if (mime.scan?.result === 'error') ctx.log.warn({ detail: mime.scan.detail }, 'virus scan failed; record passes unscanned');
    ctx.log.debug({ parts: mime.parts, defects: mime.defects.length, attachments: mime.attachments.length, tags: mime.tags }, 'parsed');
    return { section: mime, symbols: mimeSymbols(mime) };
  },
});
