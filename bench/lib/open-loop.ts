/**
 * Open-loop SMTP load: messages are offered on a fixed schedule (message i at start + i / rate),
 * whether or not earlier ones have been accepted — unlike smtp-source, whose sessions send the next
 * message only after the last 250 (closed loop), which hides queueing. Sent over a pool of reused SMTP
 * sessions (nodemailer); when every session is busy, a message waits in the client, and that wait is
 * in the "offered → 250" figure, so a server that cannot keep up shows it there.
 */
import nodemailer from 'nodemailer';

export interface OpenLoopResult { offered: number; accepted: number; failed: number; ms: number; offeredToAcceptMs: number[]; firstError?: string }

export async function openLoop(opts: {
  host: string; port: number; rate: number; count: number; messages: readonly Buffer[]; sessions: number; from: string;
  /** The recipient, or message i's recipient (a recipient of its own per copy: see bench/e2e.ts). */
  to: string | ((i: number) => string);
}): Promise<OpenLoopResult> {
  const transport = nodemailer.createTransport({
    host: opts.host, port: opts.port, secure: false, ignoreTLS: true, pool: true, maxConnections: opts.sessions, maxMessages: Infinity,
    connectionTimeout: 30_000, socketTimeout: 120_000,
  });
  const lat: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const sends: Promise<void>[] = [];
  const t0 = Date.now();
  try {
    for (let i = 0; i < opts.count; i++) {
      const due = t0 + (i * 1000) / opts.rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const raw = opts.messages[i % opts.messages.length]!;
      sends.push(transport.sendMail({ envelope: { from: opts.from, to: [typeof opts.to === 'string' ? opts.to : opts.to(i)] }, raw }).then(
        () => { lat.push(Math.round(Date.now() - due)); },
        (e: unknown) => { failed++; firstError ??= String(e); },
      ));
    }
    await Promise.all(sends);
  } finally {
    transport.close();
  }
  return { offered: opts.count, accepted: lat.length, failed, ms: Date.now() - t0, offeredToAcceptMs: lat.sort((a, b) => a - b), firstError };
}
