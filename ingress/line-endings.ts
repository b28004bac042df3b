/**
 * SMTP smuggling defence for the DATA phase. smtp-server ends DATA only on <CRLF>.<CRLF>, so a
 * bare-LF or bare-CR "end of data" can never split a message here; but such bytes would be
 * dangerous the moment the message is relayed to a more lenient MTA. The ingress therefore
 * rejects (554 5.6.0) any message that contains a bare CR, a bare LF or a NUL byte (RFC 5321
 * 2.3.8 allows CR and LF only together; RFC 6152 forbids NUL in 8BITMIME data).
 *
 * Written by hand: a streaming check across chunk boundaries is a few lines of Buffer.indexOf.
 */
const CR = 0x0d;
const LF = 0x0a;

export type LineEndingProblem = 'bare-cr' | 'bare-lf' | 'nul';

export class LineEndingScanner {
  private lastByte = -1;
  problem: LineEndingProblem | undefined;

  push(chunk: Buffer): void {
    if (this.problem || chunk.length === 0) return;
    if (this.lastByte === CR && chunk[0] !== LF) return this.fail('bare-cr');
    if (chunk.indexOf(0) !== -1) return this.fail('nul');
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const before = i > 0 ? chunk[i - 1] : this.lastByte;
      if (before !== CR) return this.fail('bare-lf');
    }
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
      // A CR as the last byte is judged by the first byte of the next chunk (or by finish()).
      if (i + 1 < chunk.length && chunk[i + 1] !== LF) return this.fail('bare-cr');
    }
    this.lastByte = chunk[chunk.length - 1]!;
  }

  /** Call once the data has ended; returns the first problem found, if any. */
  finish(): LineEndingProblem | undefined {
    if (!this.problem && this.lastByte === CR) this.fail('bare-cr');
    return this.problem;
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
