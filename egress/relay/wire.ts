/**
 * The bytes an outbound message goes out with: our Received line, the DKIM-Signature fields of the
 * dkimSign section, then envelope.raw unchanged — so what the signer signed is what the recipient
 * verifies (Received is not in any h=, and fields added above the signatures do not touch them).
 *
 * Line endings: a message with a bare CR or LF, or a NUL, is refused (dead-lettered with the
 * reason), not normalised. The ingress already refuses such DATA (SMTP smuggling), so one here came
 * from elsewhere (a replay, a hand-made record); rewriting its line ends would change what was
 * signed and hide the defect. On the wire SMTPConnection dot-stuffs and ends DATA with CRLF.CRLF.
 */
import type { MailRecord } from '../../schemas/types.ts';
import { headerValue, rawMessage, rfc5322Date } from './headers.ts';

export class UndeliverableMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndeliverableMessage';
  }
}

/**
 * The first bare CR, bare LF or NUL, as a message; undefined when every line ends in CRLF.
 * Searches with indexOf (native memchr) rather than a byte loop: messages run to 25 MiB.
 */
export function lineEndingProblem(b: Buffer): string | undefined {
  const found: [number, string][] = [];
  const nul = b.indexOf(0);
  if (nul >= 0) found.push([nul, 'NUL']);
  for (let i = b.indexOf(0x0d); i >= 0; i = b.indexOf(0x0d, i + 1)) {
    if (b[i + 1] !== 0x0a) { found.push([i, 'bare CR']); break; }
  }
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) {
    if (i === 0 || b[i - 1] !== 0x0d) { found.push([i, 'bare LF']); break; }
  }
  if (!found.length) return undefined;
  const [at, what] = found.sort((x, y) => x[0] - y[0])[0]!;
  return `${what} at byte ${at}`;
}

/** Throws UndeliverableMessage when the record must not go out: not signed, or not CRLF throughout. */
export function assertSendable(record: MailRecord): void {
  const sig = record.dkimSign;
  if (!sig) throw new UndeliverableMessage('outbound record without a dkimSign section (not signed): not sent');
  const problem = lineEndingProblem(Buffer.from(sig.headers, 'latin1')) ?? lineEndingProblem(rawMessage(record));
  if (problem) throw new UndeliverableMessage(`refused to send: ${problem} (only CRLF line ends may go on the wire; fix the record and replay it)`);
}

/** The outbound wire message, or UndeliverableMessage when it must not be sent. */
export function outboundWire(record: MailRecord, o: { hostname: string; recipient?: string; now?: number }): Buffer {
  assertSendable(record);
  const e = record.envelope;
  // headerValue strips CR/LF from what goes into the line; the folds are ours, CRLF.
  const received = headerValue(`Received: by ${o.hostname} (scop egress) with ESMTP id ${e.id}${o.recipient ? `\r\n\tfor <${o.recipient}>` : ''};\r\n\t${rfc5322Date(o.now ?? Date.now())}`);
  return Buffer.concat([Buffer.from(`${received}\r\n`, 'utf8'), Buffer.from(record.dkimSign!.headers, 'latin1'), rawMessage(record)]);
}
