/**
 * Retransmissions the ingress could not tell apart (RFC 1047): an ingress killed after Kafka has a
 * message but before its 250 reaches the client makes the client send it again, and the second copy
 * gets a new record id — the delivery log, keyed by record id, cannot see it. This remembers, for a
 * window, what was delivered to whom by content: the envelope sender, the Message-ID and the SHA-256
 * of the raw bytes (a retransmission is byte for byte the same message; a new message has a new
 * Message-ID). A message without a Message-ID is never taken for a retransmission.
 *
 * In memory, fed by this relay's deliveries and by every relay's delivered statuses on the delivery
 * log (their contentKey, service.ts), so another instance or a restarted relay knows them too; a copy
 * reaching another instance within the log's follow lag is delivered again (recognisably: same
 * Message-ID). Bounded by entries and age.
 */
import { createHash } from 'node:crypto';

export interface Delivered { recordId: string; at: number }

export class Retransmissions {
  private readonly entries = new Map<string, Delivered>();

  constructor(private readonly windowMs: number, private readonly maxEntries = 200_000) {}

  /**
   * The content key of a message, or null (no Message-ID, or the check is off). `message` is the
   * DATA as the client sent it — raw[traceLength..], not the ingress's own Received header, which
   * differs between the copies — or its hex SHA-256 (the envelope's messageSha256).
   */
  key(mailFrom: string, messageId: string | null | undefined, message: Buffer | string): string | null {
    if (this.windowMs <= 0 || !messageId) return null;
    const h = createHash('sha256');
    h.update(mailFrom.toLowerCase()).update('\0').update(messageId).update('\0').update(typeof message === 'string' ? message : createHash('sha256').update(message).digest('hex'));
    return h.digest('base64');
  }

  /** An earlier delivery of the same content to `recipient` by another record, within the window. */
  earlier(key: string | null, recipient: string, recordId: string, now = Date.now()): Delivered | undefined {
    if (key === null) return undefined;
    const d = this.entries.get(`${key}|${recipient.toLowerCase()}`);
    return d && d.recordId !== recordId && now - d.at <= this.windowMs ? d : undefined;
  }

  delivered(key: string | null, recipient: string, recordId: string, at = Date.now()): void {
    if (key === null) return;
    const k = `${key}|${recipient.toLowerCase()}`;
    this.entries.delete(k);
    this.entries.set(k, { recordId, at });
    // Oldest first (insertion order): drop what is past the window, and beyond the bound.
    for (const [old, d] of this.entries) {
      if (this.entries.size <= this.maxEntries && at - d.at <= this.windowMs) break;
      this.entries.delete(old);
    }
  }

  private readonly flying = new Map<string, { recordId: string; done: Promise<void> }>();

  /** The delivery of the same content to `recipient` by another record that is under way now, if any. */
  inFlight(key: string | null, recipient: string, recordId: string): Promise<void> | undefined {
    if (key === null) return undefined;
    const f = this.flying.get(`${key}|${recipient.toLowerCase()}`);
    return f && f.recordId !== recordId ? f.done : undefined;
  }

  /** Marks deliveries of `key` to `recipients` by `recordId` as under way; the returned function ends them. */
  begin(key: string | null, recipients: string[], recordId: string): () => void {
    if (key === null) return () => {};
    let end!: () => void;
    const done = new Promise<void>((ok) => { end = ok; });
    const mine: string[] = [];
    for (const r of recipients) {
      const k = `${key}|${r.toLowerCase()}`;
      if (this.flying.has(k)) continue;
      this.flying.set(k, { recordId, done });
      mine.push(k);
    }
    return () => {
      for (const k of mine) if (this.flying.get(k)?.done === done) this.flying.delete(k);
      end();
    };
  }

  get size(): number {
    return this.entries.size;
  }
}
