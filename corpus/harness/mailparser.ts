/**
 * The pipeline's parser (processors/mime: mailparser with the stage's options) seen as a tree for
 * compare.ts: mailparser's own part tree (processors/mime/mailparser.ts) mapped node by node.
 */
import type { AddressObject } from 'mailparser';
import type { ActualEntity, ActualField, Capabilities } from '../src/compare.ts';
import { sha256 } from '../src/expected.ts';
import type { TreeAddress } from '../src/tree.ts';
import type { MailTreeNode, ParsedWithTree } from '../../processors/mime/mailparser.ts';

/** What mailparser gives decoded: the Subject among text fields; structure, bodies, addresses, dates, ids. */
export const MAILPARSER_CAPS: Capabilities = { textFields: ['subject'], rawValues: true, headerOrder: true, partHeaders: true, transferEncoding: true };

interface StructuredValue { value: string; params: Record<string, string> }



function addresses(v: unknown): TreeAddress[] {
  const obj = v as AddressObject | undefined;
  return (obj?.value ?? []).map((a) =>
    a.group ? { group: a.name ?? '', members: a.group.map((m) => ({ name: m.name ?? '', address: m.address ?? '' })) } : { name: a.name ?? '', address: a.address ?? '' });
}

const ADDRESS_FIELDS = new Set(['from', 'to', 'cc', 'bcc', 'sender', 'reply-to']);

/** Unfolded value of a raw header line (`Name: value`). */
export function unfoldedValue(line: string): { name: string; value: string } {
  const colon = line.indexOf(':');
  const value = line.slice(colon + 1);
  // Most lines are not folded: the regex only runs on those that are.
  return { name: line.slice(0, colon), value: (value.includes('\n') ? value.replace(/\r?\n(?=[ \t])/g, '') : value).trim() };
}

function fields(n: MailTreeNode): ActualField[] {
  const seen = new Map<string, number>();
  return n.headerLines.map(({ key, line }) => {
    const { name, value } = unfoldedValue(line);
    const i = seen.get(key) ?? 0;
    seen.set(key, i + 1);
    const v = n.headers.get(key);
    // mailparser keeps the first of single-valued fields and lists the values of the others.
    const nth = Array.isArray(v) && key !== 'references' ? v[i] : i === 0 ? v : undefined;
    const f: ActualField = { name, value };
    if (key === 'subject' && typeof nth === 'string') f.value = nth;
    else if (ADDRESS_FIELDS.has(key)) f.addresses = i === 0 || Array.isArray(v) ? addresses(nth) : undefined;
    else if (key === 'date') f.date = i === 0 ? (nth instanceof Date ? nth.toISOString() : null) : undefined;
    else if (key === 'message-id' || key === 'in-reply-to') f.ids = i === 0 && typeof nth === 'string' ? [nth] : undefined;
    else if (key === 'references') f.ids = Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
    return f;
  });
}

function lowerKeys(p: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/** mailparser's tree → the shape compare.ts reads (attached messages that were parsed as their tree). */
export function mailparserTree(r: ParsedWithTree): ActualEntity {
  let next = 0;
  const visit = (n: MailTreeNode): ActualEntity => {
    const ct = n.headers.get('content-type') as StructuredValue | undefined;
    const cd = n.headers.get('content-disposition') as StructuredValue | undefined;
    const e: ActualEntity = {
      headers: fields(n),
      type: n.contentType,
      params: lowerKeys(ct?.params),
      disposition: cd?.value ? cd.value.toLowerCase() : null,
      filename: n.node.filename || null,
      transferEncoding: n.node.encoding || '7bit',
    };
    if (n.contentType.startsWith('multipart/')) e.parts = n.children.map(visit);
    else if (n.node.messageNode) {
      if (n.children[0]) e.message = visit(n.children[0]);
    } else if (n.isAttachment) {
      const i = next++;
      const content = r.attachments[i] ?? Buffer.alloc(0);
      e.body = { size: content.length, sha256: sha256(content) };
      const inner = r.embedded.get(i);
      if (inner) e.message = mailparserTree(inner);
    } else {
      const text = Buffer.from(n.textContent ?? '', 'utf8');
      e.body = { text: { size: text.length, sha256: sha256(text) } };
    }
    return e;
  };
  return visit(r.tree);
}
