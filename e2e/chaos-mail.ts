/**
 * The two ends of the chaos run (e2e/chaos.ts): a sender that offers N messages over several SMTP
 * sessions and retries every message until it gets a 250 — as a real MTA would: a 4xx, a dropped
 * connection or a refused one (the ingress killed, the broker away) is not a loss, it is a retry —
 * and a sink SMTP server (the next hop) that records every delivery by its X-Scop-Record-Id and
 * Message-ID. `tally` turns both into lost / duplicated figures.
 */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

/** One message the sender offers: its Message-ID is how the sink's copies are matched to it. */
export interface ChaosMessage { messageId: string; raw: Buffer }

/** Builds message `i` of a run from a corpus message: its own Message-ID (the corpus one dropped) and a sequence header. */
export function chaosMessage(run: string, i: number, corpusRaw: Buffer): ChaosMessage {
  const text = corpusRaw.toString('latin1').replace(/\r?\n/g, '\r\n');
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split + 2);
  const body = split < 0 ? '\r\n' : text.slice(split + 2);
  // Drop the corpus' Message-ID (and its folded continuation lines): the copies must be told apart by ours.
  const kept: string[] = [];
  let dropping = false;
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line)) { if (!dropping) kept.push(line); continue; }
    dropping = /^message-id\s*:/i.test(line);
    if (!dropping) kept.push(line);
  }
  const messageId = `<chaos-${run}-${i}@chaos.scop.test>`;
  return { messageId, raw: Buffer.from(`Message-ID: ${messageId}\r\nX-Chaos-Seq: ${i}\r\n${kept.join('\r\n').replace(/(\r\n)*$/, '\r\n')}${body}`, 'latin1') };
}

export interface SendResult {
  /** Message-IDs that got a 250 (each once, whatever the attempts). */
  accepted: Set<string>;
  /** Message-IDs given up on (deadline reached, or a 5xx). */
  notAccepted: Map<string, string>;
  /** Retries, by what made them necessary: `4xx`, `connection` (dropped, refused, timed out). */
  retries: { '4xx': number; connection: number };
  /** When each message was first offered and accepted (ms since epoch). */
  acceptedAt: Map<string, number>;
}

/** What the sender saw so far (read by the kill schedule while it runs). */
export interface SendProgress { accepted: number }

/**
 * Sends `messages` over `sessions` SMTP sessions (each a reused connection; a failed one is replaced),
 * every message retried with a growing delay until a 250, a 5xx, or `deadline`.
 */
export async function sendAll(o: {
  host: string; port: number; messages: readonly ChaosMessage[]; sessions: number; from: string; to: string; deadline: number;
  progress?: SendProgress; onError?: (e: unknown) => void;
}): Promise<SendResult> {
  const res: SendResult = { accepted: new Set(), notAccepted: new Map(), retries: { '4xx': 0, connection: 0 }, acceptedAt: new Map() };
  let next = 0;
  const worker = async () => {
    let transport = newTransport(o.host, o.port);
    try {
      for (let i = next++; i < o.messages.length; i = next++) {
        const m = o.messages[i]!;
        for (let attempt = 0; ; attempt++) {
          try {
            await transport.sendMail({ envelope: { from: o.from, to: [o.to] }, raw: m.raw });
            res.accepted.add(m.messageId);
            res.acceptedAt.set(m.messageId, Date.now());
            if (o.progress) o.progress.accepted = res.accepted.size;
            break;
          } catch (e) {
            o.onError?.(e);
            const code = (e as { responseCode?: number }).responseCode;
            if (code !== undefined && code >= 500) { res.notAccepted.set(m.messageId, `refused: ${(e as Error).message}`); break; }
            if (Date.now() > o.deadline) { res.notAccepted.set(m.messageId, `deadline: ${(e as Error).message}`); break; }
            res.retries[code !== undefined && code >= 400 ? '4xx' : 'connection']++;
            // A fresh session for the retry: the old one may be half-closed by a killed server.
            transport.close();
            transport = newTransport(o.host, o.port);
            await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
          }
        }
      }
    } finally {
      transport.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.sessions) }, worker));
  return res;
}

const newTransport = (host: string, port: number) => {
  const t = nodemailer.createTransport({
    host, port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity,
    // The ingress answers within its hand-off timeout; a server that hangs longer counts as a dropped session.
    connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 60_000,
  });
  // An idle pooled session that a killed ingress resets is reported here too; the next send opens a new one.
  t.on('error', () => {});
  return t;
};

/** One copy the sink received. */
export interface Delivery { messageId: string; recordId: string; at: number }

/** Header lines the sink reads (a header section is bounded: the rest of the message is discarded). */
const MAX_HEADER_BYTES = 256 * 1024;

/** The next hop: accepts everything, records Message-ID and X-Scop-Record-Id of every copy. */
export class ChaosSink {
  readonly deliveries: Delivery[] = [];
  private readonly server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false, size: 50 * 1024 * 1024,
    onData: (stream, _session, cb) => {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (d: Buffer) => { if (size < MAX_HEADER_BYTES) { chunks.push(d); size += d.length; } });
      stream.on('end', () => {
        this.deliveries.push({ ...headerIds(Buffer.concat(chunks).toString('latin1')), at: Date.now() });
        cb();
      });
    },
  });
  port = 0;
  /** Sessions the egress dropped (a killed relay resets its connections): counted, not fatal. */
  resets = 0;

  async start(port: number): Promise<void> {
    this.port = port;
    this.server.on('error', () => { this.resets++; });
    await new Promise<void>((ok) => this.server.listen(port, '127.0.0.1', () => ok()));
  }

  stop(): Promise<void> {
    return new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

/** Message-ID and X-Scop-Record-Id of a message's header section (unfolded; the first of each). */
export function headerIds(text: string): { messageId: string; recordId: string } {
  const end = text.search(/\r?\n\r?\n/);
  const head = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const field = (name: string) => new RegExp(`^${name}[ \\t]*:[ \\t]*([^\\r\\n]*)`, 'im').exec(head)?.[1]?.trim() ?? '';
  return { messageId: field('Message-ID'), recordId: field('X-Scop-Record-Id') };
}

export interface Tally {
  offered: number;
  accepted: number;
  /** Accepted messages with at least one copy delivered. */
  deliveredUnique: number;
  deliveries: number;
  /** Accepted (250) but no copy delivered. */
  lost: string[];
  /** Messages with more than one copy, split by cause. */
  duplicated: {
    /** The same record (X-Scop-Record-Id) delivered more than once: the pipeline delivered it twice. */
    sameRecord: string[];
    /** One Message-ID under several record ids only: the sender sent it again after an unanswered DATA (RFC 1047). */
    resent: string[];
  };
  /** Extra copies in all (deliveries − unique messages delivered). */
  extraCopies: number;
  /** Delivered, never accepted: a 250 lost with a killed ingress, the sender gave up — not lost. */
  deliveredNotAccepted: number;
}

/** Lost and duplicated, from what the sender got a 250 for and what the sink received. */
export function tally(offered: number, accepted: ReadonlySet<string>, deliveries: readonly Delivery[]): Tally {
  const byMessage = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const l = byMessage.get(d.messageId);
    if (l) l.push(d); else byMessage.set(d.messageId, [d]);
  }
  const sameRecord: string[] = [];
  const resent: string[] = [];
  for (const [id, copies] of byMessage) {
    if (copies.length < 2) continue;
    const records = new Set(copies.map((c) => c.recordId));
    (records.size < copies.length ? sameRecord : resent).push(id);
  }
  return {
    offered, accepted: accepted.size,
    deliveredUnique: [...accepted].filter((id) => byMessage.has(id)).length,
    deliveries: deliveries.length,
    lost: [...accepted].filter((id) => !byMessage.has(id)),
    duplicated: { sameRecord, resent },
    extraCopies: deliveries.length - byMessage.size,
    deliveredNotAccepted: [...byMessage.keys()].filter((id) => !accepted.has(id)).length,
  };
}
