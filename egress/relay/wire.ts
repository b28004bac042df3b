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
import { headerValue, rfc5322Date } from './headers.ts';

export class UndeliverableMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndeliverableMessage';
  }
}

/** The first bare CR, bare LF or NUL, as a message; undefined when every line ends in CRLF. */
export function lineEndingProblem(b: Buffer): string | undefined {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x0d && b[i + 1] !== 0x0a) return `bare CR at byte ${i}`;
    if (c === 0x0a && (i === 0 || b[i - 1] !== 0x0d)) return `bare LF at byte ${i}`;
    if (c === 0) return `NUL at byte ${i}`;
  }
  return undefined;
}

/** The outbound wire message, or UndeliverableMessage when it must not be sent. */
export function outboundWire(record: MailRecord, o: { hostname: string; recipient?: string; now?: number }): Buffer {
  const e = record.envelope;
  const sig = record.dkimSign;
  if (!sig) throw new UndeliverableMessage('outbound record without a dkimSign section (not signed): not sent');
  const received = headerValue(`Received: by ${o.hostname} (scop egress) with ESMTP id ${e.id}${o.recipient ? `\r\n\tfor <${o.recipient}>` : ''};\r\n\t${rfc5322Date(o.now ?? Date.now())}`);
  const wire = Buffer.concat([Buffer.from(`${received}\r\n`, 'utf8'), Buffer.from(sig.headers, 'latin1'), e.raw]);
  const problem = lineEndingProblem(wire);
  if (problem) throw new UndeliverableMessage(`refused to send: ${problem} (only CRLF line ends may go on the wire; fix the record and replay it)`);
  return wire;
}
