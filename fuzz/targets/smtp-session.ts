/**
 * SMTP command and line parsing: whatever a client sends, pipelined, to the ingress's SMTP layer
 * (smtp-server as the MX listener, the ingress's hooks and checks; see fuzz/harness/smtp.ts).
 *
 * Invariants: the server's output is well-formed replies only (three-digit code, CRLF, no bare CR
 * or LF: no reply splitting), starting with the 220 greeting; smtp-server reports no error; every
 * message handed to the ingress is, dot-stuffed again, followed by <CRLF>.<CRLF> in what the client
 * sent, dot-stuffed as smtp-server reads stuffing (data ends there and nowhere else: no smuggling); the ingress accepts a message only without
 * bare CR, bare LF or NUL; the session ends or goes quiet (libFuzzer's timeout catches a stall).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invariant, InvariantViolation } from '../harness/invariants.ts';
import { hasBareLineEndOrNul, replyLines, runSession, sentDataEnd, SMTP_TARGET, smugglingSequences } from '../harness/smtp.ts';
import { defineTarget, type Seed } from '../harness/target.ts';
import { filesUnder } from '../../runtime/testdata.ts';

export function checkSession(input: Buffer, result: Awaited<ReturnType<typeof runSession>>): void {
  let lines: string[];
  try {
    lines = replyLines(result.output);
  } catch (e) {
    throw new InvariantViolation((e as Error).message);
  }
  invariant(lines[0]?.startsWith('220'), () => `first reply ${JSON.stringify(lines[0])}`);
  invariant(result.errors.length === 0, () => `smtp-server error: ${result.errors.join(' | ')}`);
  const sent = input.toString('latin1');
  // Where message data may begin: after each DATA command line.
  // (The line start is a lookbehind: a DATA line right after another DATA-looking line must count too.)
  const starts = [...sent.matchAll(/(?<=^|\n)DATA[^\n]*\n/gi)].map((m) => m.index + m[0].length);
  for (const d of result.delivered) {
    const body = d.body.toString('latin1');
    invariant(starts.some((at) => sentDataEnd(sent, at, body) >= 0), () => `a message of ${d.body.length} bytes ended where the client sent no <CRLF>.<CRLF> after it: ${JSON.stringify(body.slice(-60))}`);
    invariant(hasBareLineEndOrNul(d.body) === (d.problem !== undefined), () => `line-ending check said ${d.problem ?? 'fine'} for ${JSON.stringify(d.body.toString('latin1').slice(0, 80))}`);
  }
}

export default defineTarget({
  name: 'smtp-session',
  about: 'SMTP sessions: command parsing, pipelining, DATA end detection, the ingress hooks',
  ...SMTP_TARGET,
  *seeds(testdata): Generator<Seed> {
    yield { name: 'basic', data: Buffer.from('EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n') };
    yield { name: 'pipelined', data: Buffer.from('EHLO [192.0.2.1]\r\nMAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@d.example>\r\nDATA\r\nx\r\n.\r\nRSET\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<é@d.example>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n') };
    if (!testdata) return;
    // OpenSMTPD's regress cases: each case's client lines as one pipelined session.
    for (const f of filesUnder(join(testdata, 'smtp-conformance-opensmtpd'), (n) => n === 'opensmtpd-regress-cases.json')) {
      const cases = JSON.parse(readFileSync(f, 'utf8')) as { files: Record<string, { name: string; steps: { send?: string }[] }[]> };
      for (const list of Object.values(cases.files)) {
        for (const c of list) yield { name: c.name, data: Buffer.from(c.steps.map((s) => s.send ?? '').join(''), 'latin1') };
      }
    }
    // The smuggling probes, each inside a transaction followed by a second one.
    for (const { name, eod } of smugglingSequences(testdata)) {
      const text = `EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: one\r\n\r\nbody${eod}MAIL FROM:<evil@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n`;
      yield { name: `smuggle-${name}`, data: Buffer.from(text, 'latin1') };
    }
  },
  async run(data) {
    checkSession(data, await runSession(data));
  },
});
