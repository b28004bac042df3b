/** postal-mime's reading of a message as the flat view compare.ts's compareFlat reads. */
import { createHash } from 'node:crypto';
import PostalMime, { type Address, type Email } from 'postal-mime';
import type { ActualField, Capabilities } from '../src/compare.ts';
import type { FlatView } from '../src/flat.ts';
import type { TreeAddress } from '../src/tree.ts';

/** postal-mime decodes Subject among text fields and gives the others as written, in order. */
export const POSTAL_CAPS: Capabilities = { textFields: ['subject'], rawValues: true, headerOrder: true, partHeaders: false, transferEncoding: false };

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function addr(a: Address): TreeAddress {
  return a.group ? { group: a.name, members: a.group.map((m) => ({ name: m.name, address: m.address })) } : { name: a.name, address: a.address };
}

/** The decoded values postal-mime hands on for the first field of each name. */
function decoded(email: Email, key: string): Partial<ActualField> | undefined {
  switch (key) {
    case 'subject': return email.subject === undefined ? undefined : { value: email.subject };
    case 'from': return { addresses: email.from ? [addr(email.from)] : [] };
    case 'sender': return { addresses: email.sender ? [addr(email.sender)] : [] };
    case 'to': return { addresses: (email.to ?? []).map(addr) };
    case 'cc': return { addresses: (email.cc ?? []).map(addr) };
    case 'bcc': return { addresses: (email.bcc ?? []).map(addr) };
    case 'reply-to': return { addresses: (email.replyTo ?? []).map(addr) };
    case 'date': return { date: email.date && !Number.isNaN(Date.parse(email.date)) ? email.date : null };
    case 'message-id': return { ids: email.messageId ? [email.messageId] : [] };
    case 'in-reply-to': return { ids: email.inReplyTo ? [email.inReplyTo] : [] };
    case 'references': return { ids: (email.references ?? '').match(/<[^<>]*>/g) ?? [] };
    default: return undefined;
  }
}

export async function postalView(raw: Buffer): Promise<FlatView> {
  const email = await PostalMime.parse(raw, { attachmentEncoding: 'arraybuffer' });
  const seen = new Set<string>();
  const headers = email.headers.map((h): ActualField => {
    const f: ActualField = { name: h.originalKey, value: h.value };
    if (!seen.has(h.key)) {
      seen.add(h.key);
      Object.assign(f, decoded(email, h.key));
    }
    return f;
  });
  return {
    headers,
    text: email.text ?? null,
    html: email.html ?? null,
    attachments: email.attachments.map((a) => {
      const bytes = new Uint8Array(a.content as ArrayBuffer);
      return { type: a.mimeType, filename: a.filename, size: bytes.length, sha256: sha(bytes) };
    }),
  };
}
