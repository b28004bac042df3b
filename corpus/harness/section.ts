/**
 * The MIME stage's section (what the pipeline hands on: processors/mime parseMime) against the
 * expected tree: header fields, part count and depth, no defects on a valid message, every
 * attachment with its bytes and name, and every inline text in the text or HTML.
 */
import type { MailAddress, MimeSection } from '../../schemas/types.ts';
import { normalizeAddress, type Disagreement } from '../src/compare.ts';
import { isGroup, walk, type TreeEntity, type TreeField, type TreeMessage } from '../src/tree.ts';

const first = (root: TreeEntity, name: string): TreeField | undefined => root.headers.find((f) => f.name.toLowerCase() === name);

/** The addresses of a field as the section lists them: mailboxes, group members tagged with the group. */
function flat(f: TreeField | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  for (const a of f?.addresses ?? []) {
    if (isGroup(a)) for (const m of a.members) out.push({ name: m.name, address: m.address, group: a.group });
    else out.push({ name: a.name, address: a.address, group: null });
  }
  return out;
}

const key = (a: MailAddress) => `${a.name}\u0000${normalizeAddress(a.address)}\u0000${a.group ?? ''}`;

/** Types mailparser hands on as text rather than as attachments when inline. */
const TEXT_TYPES = new Set(['text/plain', 'text/html', 'message/delivery-status']);

export function compareSection(exp: TreeMessage, s: MimeSection, texts: Map<string, string>): Disagreement[] {
  const out: Disagreement[] = [];
  const d = (cls: string, path: string, detail: string, expected: unknown, actual: unknown) => out.push({ class: cls, path, detail, expected, actual });
  const root = exp.root;
  const h = s.headers;
  for (const [name, got] of [['from', h.from], ['sender', h.sender], ['reply-to', h.replyTo], ['to', h.to], ['cc', h.cc]] as const) {
    const want = flat(first(root, name));
    if (want.map(key).join('\n') !== got.map(key).join('\n')) d(`section.${name}`, '', name, want, got);
  }
  const subject = first(root, 'subject');
  if ((subject?.value ?? null) !== h.subject) d('section.subject', '', 'subject', subject?.value ?? null, h.subject);
  const date = first(root, 'date');
  if ((date ? new Date(date.date!).getTime() : null) !== h.dateParsed) d('section.date', '', 'date', date?.date ?? null, h.dateParsed);
  const mid = first(root, 'message-id');
  if ((mid?.ids?.[0] ?? null) !== h.messageId) d('section.message-id', '', 'message-id', mid?.ids?.[0] ?? null, h.messageId);
  for (const def of s.defects) d(`defect.${def.code}`, def.part, def.detail, null, def.code);

  const entities = [...walk(root)];
  if (entities.length !== s.parts) d('section.parts', '', 'part count', entities.length, s.parts);
  const depth = Math.max(...entities.map(([, k]) => k));
  if (depth !== s.depth) d('section.depth', '', 'depth', depth, s.depth);

  // Attachments: matched by content; each expected file-like leaf must be among them.
  const left = [...s.attachments];
  // Messages attached as files: their files are described too, their texts are not read.
  const attached: string[] = [];
  for (const [e] of entities) {
    if (!e.body || e.parts) continue;
    const inAttached = attached.some((p) => e.path.startsWith(p));
    const textual = TEXT_TYPES.has(e.type) && e.disposition !== 'attachment';
    if (e.message) {
      // An embedded message is either read as part of the message or one attachment (and parsed).
      if (!s.attachments.some((a) => a.sha256 === e.body!.sha256)) continue;
      attached.push(e.path ? `${e.path}.` : '');
    } else if (textual) {
      if (inAttached) continue;
      const text = texts.get(e.path);
      const where = e.type === 'text/html' ? s.html : s.text;
      if (text && text.trim() && !s.textTruncated && !s.htmlTruncated && !(where ?? '').includes(text.replace(/\n$/, ''))) d('section.text', e.path, e.type, text.slice(0, 60), null);
      continue;
    }
    const i = left.findIndex((a) => a.sha256 === e.body!.sha256 && a.size === e.body!.size);
    if (i < 0) { d('section.attachment-missing', e.path, e.type, e.body.sha256, null); continue; }
    const a = left.splice(i, 1)[0]!;
    if ((a.filename ?? null) !== e.filename) d('section.attachment-filename', e.path, e.type, e.filename, a.filename);
    if (a.declaredType !== e.type) d('section.attachment-type', e.path, e.filename ?? '', e.type, a.declaredType);
  }
  for (const a of left) d('section.attachment-extra', '', a.filename ?? '', null, a.sha256);
  return out;
}
