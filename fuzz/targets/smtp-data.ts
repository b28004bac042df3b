/**
 * DATA end detection, exactly: a fixed transaction (EHLO, MAIL, RCPT, DATA) then the fuzzer's
 * bytes as message data, then <CRLF>.<CRLF> and QUIT, through the ingress's SMTP layer
 * (fuzz/harness/smtp.ts). The smuggling probes of shared/testdata seed it.
 *
 * Invariants (the reference is RFC 5321 §4.1.1.4 / §4.5.2 on the whole input at once): the message
 * the ingress receives ends at the first <CRLF>.<CRLF> and nowhere else; with CRLF line ends it is
 * the data byte for byte, dot-stuffing undone as smtp-server reads it ("..x" → ".x"); it is answered 250 exactly when it has
 * no bare CR, bare LF or NUL, 554 5.6.0 otherwise; the server's replies are well-formed; cost linear
 * (growth probe: the data repeated).
 */
import { invariant, InvariantViolation } from '../harness/invariants.ts';
import { hasBareLineEndOrNul, replyLines, runSession, sentDataEnd, SMTP_TARGET, smugglingSequences } from '../harness/smtp.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

const PREFIX = 'EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n';
const SUFFIX = '\r\n.\r\nQUIT\r\n';

/**
 * Where the reference reader ends the data (index of the terminator's period in `afterData`, which
 * follows "DATA<CRLF>"), and the data it reads, dot-stuffing undone as smtp-server undoes it
 * ("..x" at a line start → ".x"; RFC 5321 would also drop the period of ".x").
 */
export function referenceData(afterData: string): { end: number; data: string } {
  const x = `\r\n${afterData}`;
  const end = x.indexOf('\r\n.\r\n');
  return { end, data: x.slice(2, end + 2).replace(/(^|\r\n)\.\./g, '$1.') };
}

export default defineTarget({
  name: 'smtp-data',
  about: 'DATA end detection and dot-stuffing against an RFC 5321 reference; the smuggling defence',
  ...SMTP_TARGET,
  *seeds(testdata): Generator<Seed> {
    yield { name: 'plain', data: Buffer.from('Subject: hi\r\n\r\nhello\r\n..dot\r\n.x\r\n') };
    if (!testdata) return;
    for (const { name, eod } of smugglingSequences(testdata)) {
      yield { name, data: Buffer.from(`Subject: one\r\n\r\nbody${eod}MAIL FROM:<evil@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nsmuggled`, 'latin1') };
    }
  },
  async run(data) {
    const afterData = `${data.toString('latin1')}${SUFFIX}`;
    const result = await runSession(Buffer.from(PREFIX + afterData, 'latin1'));
    let lines: string[];
    try {
      lines = replyLines(result.output);
    } catch (e) {
      throw new InvariantViolation((e as Error).message);
    }
    const ref = referenceData(afterData);
    const first = result.delivered[0];
    invariant(first, () => `no message received; replies: ${lines.slice(-4).join(' | ')}`);
    const got = first.body.toString('latin1');
    // The data ends at the first <CRLF>.<CRLF> and nowhere else.
    const end = sentDataEnd(afterData, 0, got);
    invariant(end === ref.end + 3, () => `the message ended ${end >= 0 ? `at byte ${end - 3}` : 'where the client sent no terminator'}, the first <CRLF>.<CRLF> is at byte ${ref.end}`);
    // Byte for byte when the data has CRLF line ends only (after a bare LF smtp-server also unstuffs,
    // except at the data's second byte; the ingress refuses such data anyway, checked below).
    if (!/(?<!\r)\n/.test(ref.data)) {
      invariant(got === ref.data, () => `received ${got.length} bytes, the reference ${ref.data.length}: ${JSON.stringify(got.slice(0, 120))} vs ${JSON.stringify(ref.data.slice(0, 120))}`);
    }
    const afterDataReply = lines[lines.findIndex((l) => l.startsWith('354')) + 1] ?? '';
    const refused = hasBareLineEndOrNul(first.body);
    invariant(refused ? afterDataReply.startsWith('554 5.6.0') : afterDataReply.startsWith('250 '), () => `reply ${JSON.stringify(afterDataReply)} for a message ${refused ? 'with' : 'without'} bare CR/LF/NUL`);
  },
});
