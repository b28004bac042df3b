/**
 * What the history keeps of a MailRecord: the searchable columns, and a detail document with the
 * envelope and every stage's section — without the raw message and without the HTML body (the
 * console never renders mail HTML), with the text body cut to a preview, and the symbols: as the
 * decision weighed them (with their weights) when it did, else as the stages emitted them.
 */
import type { DeliveryStatus, MailRecord } from '../schemas/types.ts';
import type { DeliveryRow, MessageRow } from './store.ts';

export const PREVIEW_CHARS = 8192;

/** A stage's symbol (schemas/symbol.avsc), with what the decision weighed it when it did. */
export interface Symbol { symbol: string; stage: string; score: number | null; options: string[]; weight?: number }

export interface MessageDetail {
  envelope: Omit<MailRecord['envelope'], 'raw'> & { rawBytes: number };
  /** Each stage's section as the stage wrote it (mime without html and with text cut). */
  sections: Record<string, unknown>;
  symbols: Symbol[] | null;
  preview: { text: string | null; truncated: boolean; htmlOnly: boolean };
  /** The raw header section (trace header first), as text, at most 64 KiB. */
  headers: string;
}

const HEADER_LIMIT = 64 * 1024;

function headerSection(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  return raw.subarray(0, Math.min(end >= 0 ? end : raw.length, HEADER_LIMIT)).toString('utf8');
}

const fromHeaderText = (r: MailRecord) => (r.mime?.headers.from ?? []).map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');

export function summarize(r: MailRecord, direction: 'inbound' | 'outbound'): MessageRow {
  const { raw, ...envelope } = r.envelope;
  const mime = r.mime ? { ...r.mime, html: null, text: null } : null;
  const text = r.mime?.text ?? null;
  const sections: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ mime, auth: r.auth, spam: r.spam, firewall: r.firewall, decision: r.decision, dkimSign: r.dkimSign })) if (v) sections[k] = v;
  const weighed: Symbol[] | undefined = r.decision?.weighed.map((w) => ({ symbol: w.symbol, stage: w.stage, score: w.score, options: w.options, weight: w.weight }));
  const detail: MessageDetail = {
    envelope: { ...envelope, rawBytes: raw.length },
    sections,
    symbols: weighed?.length ? weighed : r.symbols?.length ? r.symbols : null,
    preview: { text: text === null ? null : text.slice(0, PREVIEW_CHARS), truncated: (text?.length ?? 0) > PREVIEW_CHARS || Boolean(r.mime?.textTruncated), htmlOnly: text === null && r.mime?.html != null },
    headers: headerSection(raw),
  };
  return {
    id: r.envelope.id,
    receivedAt: r.envelope.receivedAt,
    direction,
    mailFrom: r.envelope.mailFrom,
    rcptTo: r.envelope.rcptTo,
    fromHeader: fromHeaderText(r),
    subject: r.mime?.headers.subject ?? subjectFromRaw(raw) ?? '',
    clientIp: r.envelope.clientIp,
    action: r.decision?.action ?? (direction === 'outbound' ? 'relay' : 'pending'),
    reasons: r.decision?.reasons ?? [],
    spamProbability: r.spam?.probability ?? null,
    size: r.envelope.size,
    detail: JSON.stringify(detail),
  };
}

/** Outbound records have no MIME section: the Subject header from the raw bytes (unfolded, first 998 characters). */
function subjectFromRaw(raw: Buffer): string | null {
  const head = headerSection(raw);
  const m = /^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head);
  return m ? m[1]!.replace(/\r?\n[ \t]+/g, ' ').slice(0, 998) : null;
}

export const deliveryRow = (s: DeliveryStatus): DeliveryRow => ({ recordId: s.recordId, recipient: s.recipient, status: s.status, at: s.at, attempts: s.attempts, nextHop: s.nextHop, reply: s.reply });
