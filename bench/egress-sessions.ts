/**
 * Egress delivery paths, each against its baseline in the same run:
 *   1. SMTP to one next hop (an smtp-server on loopback, as the tests use), 64 deliveries at once:
 *      baseline one session per message (EGRESS_SESSION_IDLE_MS=0, the former behaviour) vs the
 *      session pool (20 sessions, up to 100 messages each).
 *   2. Maildir: baseline one write batch per message (a folder fsync each) vs one writer shared
 *      by 64 deliveries at once (the folder fsync once per batch).
 * Prints messages per second and the ratio. Run: `npm run bench -- egress-sessions [messages]`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { testMailRecord } from '../runtime/stage-testing.ts';
import { withTrace } from '../egress/relay/headers.ts';
import { deliverMaildir, MaildirWriter } from '../egress/relay/maildir.ts';
import { SmtpPool } from '../egress/relay/smtp-pool.ts';
import { ScriptedSmtp } from '../egress/relay/testing.ts';
import type { SmtpTarget } from '../egress/relay/transport.ts';

const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = 64;
const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40).replace(/(.{70})/g, '$1\r\n');
const records = Array.from({ length: N }, (_, i) => testMailRecord(`From: a@example.org\r\nTo: bob@example.net\r\nSubject: bench ${i}\r\n\r\n${body}\r\n`, { rcptTo: ['bob@example.net'] }));

/** Runs `one(i)` for i < N with CONCURRENCY at once; messages per second. */
async function rate(one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) await one(next++);
  }));
  return N / ((performance.now() - t0) / 1000);
}

const smtp = new ScriptedSmtp();
await smtp.start();
const target: SmtpTarget = { host: '127.0.0.1', port: smtp.port, name: 'bench.test', starttls: 'off', tls: {}, timeoutMs: 30000 };
const smtpRun = async (pool: SmtpPool) => {
  const before = smtp.connections;
  const r = await rate(async (i) => {
    const message = withTrace(records[i]!, { hostname: 'bench.test', protocol: 'SMTP', junk: false });
    const res = await pool.send(target, { from: 'a@example.org', recipients: ['bob@example.net'], use8BitMime: true }, message);
    if (res.outcomes[0]!.kind !== 'delivered') throw new Error(res.outcomes[0]!.reply);
  });
  pool.close();
  return { rate: r, sessions: smtp.connections - before };
};
const single = await smtpRun(new SmtpPool({ maxPerDestination: CONCURRENCY, maxMessages: 1, idleMs: 0 }));
const pooled = await smtpRun(new SmtpPool({ maxPerDestination: 20, maxMessages: 100, idleMs: 5000 }));
await smtp.stop();
console.log(`SMTP, ${N} messages, ${CONCURRENCY} at once: one session per message ${single.rate.toFixed(0)} msg/s (${single.sessions} sessions); pooled ${pooled.rate.toFixed(0)} msg/s (${pooled.sessions} sessions) = ${(pooled.rate / single.rate).toFixed(2)}x`);

// On the data folder's file system, not /tmp (often tmpfs, where fsync costs nothing).
mkdirSync('.data', { recursive: true });
const dir = mkdtempSync(join('.data', 'bench-maildir-'));
try {
  const perMessage = await rate(async (i) => { await deliverMaildir(join(dir, 'a'), 'bench.test', records[i]!, ['bob@example.net'], false); });
  const writer = new MaildirWriter(join(dir, 'b'), 'bench.test');
  const batched = await rate(async (i) => { await writer.deliver(records[i]!, ['bob@example.net'], false); });
  console.log(`Maildir, ${N} messages, ${CONCURRENCY} at once: a folder fsync per message ${perMessage.toFixed(0)} msg/s; one per batch ${batched.toFixed(0)} msg/s = ${(batched / perMessage).toFixed(2)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
