/**
 * Comparison for parsers whose API flattens the message (a text, an HTML, a list of attachments —
 * postal-mime, mailparser's simpleParser), where the tree compare has nothing to walk.
 *
 * Every leaf of the expected tree must be accounted for: as an attachment with the same bytes
 * (then its file name and type are compared), or, for text, found in the text or HTML the API
 * returns. An embedded message is either read (its leaves are looked for) or one attachment with
 * the message's bytes (`message.opaque`). Attachments that match nothing are `attachment.extra`.
 */
import { compareHeaders, type ActualField, type Capabilities, type Disagreement } from './compare.ts';
import { walk, type TreeEntity, type TreeMessage } from './tree.ts';

export interface FlatAttachment {
  type?: string;
  filename?: string | null;
  size: number;
  sha256: string;
}

export interface FlatView {
  headers: ActualField[];
  text: string | null;
  html: string | null;
  attachments: FlatAttachment[];
}

export function compareFlat(exp: TreeMessage, flat: FlatView, caps: Capabilities, texts: Map<string, string>): Disagreement[] {
  const out: Disagreement[] = [];
  const d = (cls: string, path: string, detail: string, expected: unknown, actual: unknown) => out.push({ class: cls, path, detail, expected, actual });
  compareHeaders(out, '', exp.root.headers, flat.headers, caps);
  const lf = (s: string | null) => (s ?? '').replace(/\r\n/g, '\n'); // text is compared with LF line ends
  const text = lf(flat.text);
  const html = lf(flat.html);
  const left = [...flat.attachments];
  /** The attachment with these bytes (and, with `named`, the same type and name: two empty parts are alike). */
  const take = (e: TreeEntity, named: boolean) => {
    const i = left.findIndex((a) => a.sha256 === e.body!.sha256 && a.size === e.body!.size && (!named || ((a.type === undefined || a.type === e.type) && (a.filename ?? null) === e.filename)));
    return i < 0 ? undefined : left.splice(i, 1)[0];
  };
  /** A leftover attachment of the same type and file name as `e` (the bytes differ). */
  const sameNamed = (e: TreeEntity): FlatAttachment | undefined => {
    const i = left.findIndex((a) => (a.type === undefined || a.type === e.type) && (a.filename ?? null) === e.filename);
    return i < 0 ? undefined : left.splice(i, 1)[0];
  };
  const opaque: string[] = [];
  const unmatched: TreeEntity[] = [];
  for (const [e] of walk(exp.root)) {
    if (opaque.some((p) => e.path.startsWith(p)) || e.parts || !e.body) continue;
    if (e.message) {
      // Read as a message (its leaves are looked for), or returned as one attachment.
      const same = take(e, false);
      const changed = same ? undefined : sameNamed(e);
      if (same || changed) {
        d('message.opaque', e.path, 'embedded message returned as one attachment', null, null);
        if (changed) d('attachment.bytes', e.path, `${e.type}: ${e.body.size} bytes, got ${changed.size}`, e.body.sha256, changed.sha256);
        opaque.push(e.path ? `${e.path}.` : '');
      }
      continue;
    }
    if (!take(e, true)) unmatched.push(e);
  }
  const named = unmatched.splice(0);
  for (const e of named) {
    const a = take(e, false);
    if (!a) { unmatched.push(e); continue; }
    if (a.filename !== undefined && (a.filename ?? null) !== e.filename) d('attachment.filename', e.path, e.type, e.filename, a.filename);
    if (a.type !== undefined && a.type !== e.type) d('attachment.type', e.path, e.filename ?? '', e.type, a.type);
  }
  for (const e of unmatched) {
    // The same part (type and name) with other bytes: the content was changed on the way.
    const a = sameNamed(e);
    if (a) {
      d('attachment.bytes', e.path, `${e.type}: ${e.body!.size} bytes, got ${a.size}`, e.body!.sha256, a.sha256);
      continue;
    }
    // Text is found in the text or HTML; an empty text leaves no trace to look for.
    const want = texts.get(e.path)?.replace(/\n+$/, '');
    if (want !== undefined && (!want.trim() || text.includes(want) || html.includes(want))) continue;
    if (want !== undefined) d('text.missing', e.path, `${e.type}; ${e.body!.text?.charset ?? ''}`, want.slice(0, 80), null);
    else d('attachment.missing', e.path, `${e.type} ${e.filename ?? ''}`, e.body!.sha256, null);
  }
  for (const a of left) d('attachment.extra', '', `${a.type ?? ''} ${a.filename ?? ''}`, null, a.sha256);
  return out;
}
