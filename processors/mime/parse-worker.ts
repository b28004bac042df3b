/**
 * Worker-thread entry for the MIME stage (runtime/cpu-pool.ts): parsing is the part of the stage
 * whose cost a sender controls (mailparser, libmime, html-to-text, file-type: synchronous, on
 * attacker bytes), so large messages are parsed where the record's time limit can stop it. The
 * ClamAV scan stays on the main thread (service.ts): it is network, not CPU.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { MimeSection } from '../../schemas/types.ts';
import { analyseContent } from './parse.ts';
import type { MimeLimits } from './structure.ts';

export interface ParseTask {
  /** The raw message, an ArrayBuffer of its own moved in (cloning the caller's Buffer would copy all of its backing buffer, which may be larger). */
  raw: ArrayBuffer;
  limits: MimeLimits;
  /** Send back each attachment's bytes (for the ClamAV attribution). */
  contents: boolean;
}

export interface ParseResult {
  section: MimeSection;
  /** Each described attachment's bytes when asked for, else empty. */
  contents: ArrayBuffer[];
}

/** An ArrayBuffer holding exactly these bytes (a Buffer may be a slice of a larger or pooled one). */
export function ownBuffer(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
}

export default async function parseTask(task: ParseTask): Promise<ParseResult> {
  const { section, contents } = await analyseContent(Buffer.from(task.raw), { limits: task.limits });
  const bytes = task.contents ? contents.map(ownBuffer) : [];
  // Moved back, not copied (piscina's movable protocol: the value and the list of what to transfer).
  return move({ [transferableSymbol]: bytes, [valueSymbol]: { section, contents: bytes } } as never) as unknown as ParseResult;
}
