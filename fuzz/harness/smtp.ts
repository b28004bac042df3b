/**
 * An in-memory SMTP session against the ingress's SMTP layer: smtp-server configured as the MX
 * listener is (ingress/ingress.ts), the ingress's connection hooks (smtp-hooks.ts: NUL / bare CR
 * / empty line after DATA end the session) and its checks (syntax.ts HELO and SMTPUTF8 rules,
 * line-endings.ts on the message data). Kafka is out of the picture: an accepted message is
 * answered 250 at once. STARTTLS is not offered (no TLS over an in-memory stream).
 *
 * The client's bytes go in at once (pipelined), the session runs until the server closes it or
 * goes quiet, then the client disconnects.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { LineEndingScanner, type LineEndingProblem } from '../../ingress/line-endings.ts';
import { loadIngressConfig } from '../../ingress/config.ts';
import { createIngressMetrics } from '../../ingress/metrics.ts';
import { installConnectionHooks } from '../../ingress/smtp-hooks.ts';
import { isAscii, isValidHelo } from '../../ingress/syntax.ts';
import type { Logger } from '../../runtime/log.ts';
import { repeat } from './invariants.ts';
import type { FuzzTargetSpec } from './target.ts';
import { filesUnder } from '../../runtime/testdata.ts';

export const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;

export interface Delivered {
  /** The message data as smtp-server handed it over (dot-stuffing undone). */
  body: Buffer;
  /** What the ingress's line-ending check said about it. */
  problem: LineEndingProblem | undefined;
}

export interface SessionResult {
  output: string;
  delivered: Delivered[];
  /** Errors smtp-server emitted. */
  errors: string[];
  /** The server closed the connection (QUIT, 421, a hook) rather than going quiet. */
  closedByServer: boolean;
}

const noop = () => undefined;
const log = { info: noop, debug: noop, warn: noop, error: noop, trace: noop, child: () => log } as unknown as Logger;

function smtpError(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

let current: { delivered: Delivered[]; errors: string[] } = { delivered: [], errors: [] };
/** Grows with every reply write and every chunk of message data: the session is quiet when it stops. */
let progress = 0;

const server = new SMTPServer({
  name: 'mx.fuzz.test',
  banner: 'scop',
  size: MAX_MESSAGE_BYTES,
  rejectOversized: true,
  maxRecipients: 100,
  hideENHANCEDSTATUSCODES: false,
  hideDSN: true,
  hideREQUIRETLS: true,
  hideSTARTTLS: true,
  disableReverseLookup: true,
  socketTimeout: 120_000,
  logger: false,
  disabledCommands: ['AUTH'],
  authOptional: true,
  // The ingress's MX handlers, minus Kafka and the per-IP limits.
  onMailFrom(address, session, callback) {
    const cb = (err?: Error) => setImmediate(callback, err);
    if (!isValidHelo(session.hostNameAppearsAs)) return cb(smtpError(501, '5.5.2 The HELO/EHLO argument is not a domain name or address literal'));
    if (!session.envelope.smtpUtf8 && !isAscii(address.address)) return cb(smtpError(553, '5.6.7 Non-ASCII address without the SMTPUTF8 parameter'));
    cb();
  },
  onRcptTo(address, session, callback) {
    const cb = (err?: Error) => setImmediate(callback, err);
    if (!session.envelope.smtpUtf8 && !isAscii(address.address)) return cb(smtpError(553, '5.6.7 Non-ASCII address without the SMTPUTF8 parameter'));
    cb();
  },
  onData(stream: SMTPServerDataStream, _session: SMTPServerSession, callback) {
    const chunks: Buffer[] = [];
    const scanner = new LineEndingScanner();
    stream.on('data', (c: Buffer) => {
      progress++;
      chunks.push(c);
      scanner.push(c);
    });
    stream.once('end', () => {
      if (stream.sizeExceeded) return callback(null);
      const problem = scanner.finish();
      current.delivered.push({ body: Buffer.concat(chunks), problem });
      if (problem) return callback(smtpError(554, `5.6.0 Message refused: ${problem}`));
      callback(null, 'Ok: queued');
    });
  },
});
// The ingress's default time and prefix limits (no environment: the defaults a fresh install runs with).
const defaults = loadIngressConfig({}, join(process.cwd(), '.data', 'fuzz-ingress'));
const probes = { inflightBytes: () => 0, hashQueue: () => 0, greylistEntries: () => 0 };
installConnectionHooks(server, { listener: 'MX', metrics: createIngressMetrics(new Registry(), probes), log, clock: defaults.clock, prefixLengths: defaults.limits });
server.on('error', (e: Error) => current.errors.push(e.message));

class MemorySocket extends Duplex {
  remoteAddress = '192.0.2.7';
  remotePort = 40000;
  localAddress = '192.0.2.25';
  localPort = 25;
  get readyState(): string {
    return this.destroyed ? 'closed' : 'open';
  }
  out: Buffer[] = [];
  ended = false;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    progress++;
    this.out.push(chunk);
    cb();
  }
  override _final(cb: () => void): void {
    this.ended = true;
    cb();
  }
  setKeepAlive(): this { return this; }
  setNoDelay(): this { return this; }
  setTimeout(): this { return this; }
}

type Conn = SMTPServer['connections'] extends Set<infer C> ? C : never;

/** Runs one session; `input` is everything the client sends. */
export async function runSession(input: Buffer): Promise<SessionResult> {
  current = { delivered: [], errors: [] };
  const socket = new MemorySocket();
  const before = new Set(server.connections);
  (server as unknown as { connect(s: Duplex, o: object): void }).connect(socket, {});
  const conn = [...server.connections].find((c) => !before.has(c)) as (Conn & { connectionReady(): void }) | undefined;
  if (!conn) throw new Error('smtp-server did not register the connection');
  // smtp-server waits 100 ms for early talkers before its greeting; the fuzzer cannot. Its timer
  // would call connectionReady() a second time (a new greeting and a reset session): disarm it.
  conn.connectionReady();
  conn.connectionReady = () => undefined;
  // A client that writes before the greeting is an early talker (421); wait for it.
  for (let turns = 0; socket.out.length === 0 && !socket.ended; turns++) {
    if (turns > 10_000) throw new Error('no SMTP greeting');
    await new Promise((ok) => setImmediate(ok));
  }
  socket.push(input);
  // Quiet: no reply and no message data for a few event-loop turns (MAIL/RCPT answer on
  // setImmediate, and smtp-server takes a turn per dot-stuffed line).
  let idle = 0;
  let seen = -1;
  for (let turns = 0; idle < 5 && !socket.ended; turns++) {
    if (turns > 1_000_000) throw new Error('the SMTP session never went quiet');
    await new Promise((ok) => setImmediate(ok));
    idle = progress === seen ? idle + 1 : 0;
    seen = progress;
  }
  const closedByServer = socket.ended;
  socket.push(null);
  socket.destroy();
  await new Promise((ok) => setImmediate(ok));
  return { output: Buffer.concat(socket.out).toString('latin1'), delivered: current.delivered, errors: current.errors, closedByServer };
}

/** Undoes RFC 5321 §4.5.2 dot-stuffing of a message's data (lines beginning with a period). */
export function unstuff(data: Buffer): Buffer {
  return Buffer.from(data.toString('latin1').replace(/(^|\r\n)\./g, '$1'), 'latin1');
}

/**
 * Whether the client's bytes from `at` on are message data `body` followed by the <CRLF>.<CRLF>
 * terminator's ".<CRLF>" (RFC 5321 §4.5.2 dot-stuffing, read the way smtp-server reads it: it
 * removes a period only when a second one follows it at a line start, so a body line ".x" came from
 * ".x" or "..x", a line "..x" from "...x", and a line "." between CRLFs only from ".."). Returns the
 * index just after the terminator, or -1. Each step is decided by the next byte: linear.
 */
export function sentDataEnd(sent: string, at: number, body: string): number {
  let j = at;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    // smtp-server never looks at the data's second byte as a line start (after a bare LF, which the
    // ingress refuses anyway): a period there is data as sent.
    if (c === '.' && (i === 0 || (body[i - 1] === '\n' && !(i === 1 && j === at + 1)))) {
      const stuffedOnly = body[i + 1] === '.' || (body[i + 1] === '\r' && body[i + 2] === '\n' && (i === 0 || body[i - 2] === '\r'));
      if (sent.startsWith('..', j)) {
        j += 2;
        continue;
      }
      if (stuffedOnly || sent[j] !== '.') return -1;
      j++;
      continue;
    }
    if (sent[j] !== c) return -1;
    j++;
  }
  return sent.startsWith('.\r\n', j) ? j + 3 : -1;
}

/** The reference for the ingress's line-ending check, on the whole message at once. */
export function hasBareLineEndOrNul(data: Buffer): boolean {
  return /\r(?!\n)|(?<!\r)\n|\0/.test(data.toString('latin1'));
}

/** Replies as a list of lines; throws unless every line is a well-formed reply line ending in CRLF. */
export function replyLines(output: string): string[] {
  if (output === '') return [];
  if (!output.endsWith('\r\n')) throw new Error(`the server's output does not end with CRLF: ${JSON.stringify(output.slice(-80))}`);
  const lines = output.slice(0, -2).split('\r\n');
  for (const l of lines) {
    if (!/^[2-5]\d\d[ -][^\r\n]*$/.test(l)) throw new Error(`malformed reply line ${JSON.stringify(l.slice(0, 120))}`);
  }
  return lines;
}

/** The end-of-DATA probes of shared/testdata/smtp-smuggling (each set's byte sequences; notes skipped). */
export function* smugglingSequences(testdata: string): Generator<{ name: string; eod: string }> {
  for (const f of filesUnder(join(testdata, 'smtp-smuggling'), (n) => n === 'eod-sequences.json')) {
    const doc = JSON.parse(readFileSync(f, 'utf8')) as { sets: { name: string; sequences: { hex?: string }[] }[] };
    for (const set of doc.sets) {
      for (const [i, seq] of set.sequences.entries()) {
        if (seq.hex) yield { name: `${set.name}-${i}`, eod: Buffer.from(seq.hex, 'hex').toString('latin1') };
      }
    }
  }
}

/** What the two SMTP targets share: the code instrumented, input size, dictionary, budget, probe. */
export const SMTP_TARGET = {
  instrument: ['ingress/', 'node_modules/smtp-server/'],
  async: true,
  maxLen: 4 * 1024,
  dict: 'smtp.dict',
  budgetMs: 1000,
  growth: { grow: repeat, bytes: 16 * 1024, every: 64 },
} satisfies Partial<FuzzTargetSpec>;
