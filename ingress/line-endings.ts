/**
 * One pass over the DATA stream, chunk by chunk, for two checks:
 *
 * - SMTP smuggling defence. smtp-server ends DATA only on <CRLF>.<CRLF>, so a bare-LF or bare-CR
 *   "end of data" can never split a message here; but such bytes would be dangerous the moment the
 *   message is relayed to a more lenient MTA. The ingress therefore rejects (554 5.6.0) any message
 *   that contains a bare CR, a bare LF or a NUL byte (RFC 5321 2.3.8 allows CR and LF only
 *   together; RFC 6152 forbids NUL in 8BITMIME data).
 * - The size of the header section (RFC 5322 2.1: the lines before the first empty line; all of
 *   the message when there is none). Every stage parses the header block, some of them at many
 *   times the per-byte cost of body text (one object per field), so the ingress bounds it the way
 *   Exim does (HEADER_MAXSIZE, 1 MB): past `maxHeaderBytes` the message is refused (552 5.3.4).
 *   Counted while the line endings are checked, on the same LF positions, and only until the
 *   empty line: nothing is buffered and the work is linear in the bytes.
 *
 * Written by hand: a streaming check across chunk boundaries is a few lines of Buffer.indexOf.
 */
const CR = 0x0d;
const LF = 0x0a;

export type LineEndingProblem = 'bare-cr' | 'bare-lf' | 'nul';

export class LineEndingScanner {
  private lastByte = -1;
  /** Bytes pushed so far. */
  private offset = 0;
  /** Where the current line starts (in bytes from the start of the data), while in the header section. */
  private lineStart = 0;
  problem: LineEndingProblem | undefined;
  /**
   * Bytes of the header section (without the empty line that ends it) once known: set at the empty
   * line, or by finish() when the data has none.
   */
  headerBytes: number | undefined;
  /** True as soon as the header section is known to exceed maxHeaderBytes; set by push(). */
  headerTooLarge = false;

  constructor(private readonly maxHeaderBytes = Infinity) {}

  push(chunk: Buffer): void {
    if (this.problem || chunk.length === 0) return;
    if (this.lastByte === CR && chunk[0] !== LF) return this.fail('bare-cr');
    if (chunk.indexOf(0) !== -1) return this.fail('nul');
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const before = i > 0 ? chunk[i - 1] : this.lastByte;
      if (before !== CR) return this.fail('bare-lf');
      if (this.headerBytes === undefined) {
        const at = this.offset + i;
        // A line that is only <CR><LF> ends the header section.
        if (at - this.lineStart === 1) this.headerBytes = this.lineStart;
        else this.lineStart = at + 1;
      }
    }
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
      // A CR as the last byte is judged by the first byte of the next chunk (or by finish()).
      if (i + 1 < chunk.length && chunk[i + 1] !== LF) return this.fail('bare-cr');
    }
    this.lastByte = chunk[chunk.length - 1]!;
    this.offset += chunk.length;
    this.headerTooLarge ||= this.headerAtLeast() > this.maxHeaderBytes;
  }

  /** Call once the data has ended; returns the first problem found, if any. */
  finish(): LineEndingProblem | undefined {
    if (!this.problem && this.lastByte === CR) this.fail('bare-cr');
    if (!this.problem && this.headerBytes === undefined) {
      this.headerBytes = this.offset; // no empty line: the whole message is header
      this.headerTooLarge ||= this.headerBytes > this.maxHeaderBytes;
    }
    return this.problem;
  }

  /** The header section's size so far: exact once ended, else a lower bound. */
  private headerAtLeast(): number {
    if (this.headerBytes !== undefined) return this.headerBytes;
    // A lone CR at the start of a line may be the first half of the empty line: not counted yet.
    const pendingEmptyLine = this.lastByte === CR && this.offset - this.lineStart === 1;
    return pendingEmptyLine ? this.lineStart : this.offset;
  }

  private fail(p: LineEndingProblem): void {
    this.problem = p;
  }
}

export function describeProblem(p: LineEndingProblem): string {
  switch (p) {
    case 'bare-cr': return 'bare <CR> in message data (only <CR><LF> line endings are accepted)';
    case 'bare-lf': return 'bare <LF> in message data (only <CR><LF> line endings are accepted)';
    case 'nul': return 'NUL byte in message data';
  }
}
