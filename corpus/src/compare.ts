/**
 * Equivalence of an implementation's parse with the expected tree, and the disagreements classified.
 *
 * Two trees are equivalent when (README, "Equivalence"):
 * - structure: the same entities at the same paths (multipart parts in order, embedded messages);
 * - per entity: the same media type, the same parameters (names in lower case, values exact after
 *   RFC 2231/2047 decoding; the charset's case ignored), disposition type, decoded file name and
 *   transfer encoding (lower case);
 * - bodies: the same bytes after the transfer encoding (SHA-256), and for text the same decoded
 *   text with line ends as LF;
 * - headers: the same field names in the same order (case ignored); text fields equal after
 *   decoding; addresses equal as (display name, local part unquoted, domain in lower case after
 *   IDNA); dates as instants; message ids exactly; other fields as unfolded text with runs of
 *   whitespace as one space.
 * An implementation compares on what it exposes (its Capabilities); the rest is not held against it.
 */
import { domainToASCII } from 'node:url';
import { isGroup, type TreeAddress, type TreeEntity, type TreeField, type TreeMailbox } from './tree.ts';

/** An implementation's parse in the tree's shape; every part optional where an API does not say. */
export interface ActualBody {
  size?: number;
  sha256?: string;
  text?: { size?: number; sha256: string };
}

export interface ActualField {
  name: string;
  /** As the implementation gives it: decoded if it decodes the field, else unfolded as written. */
  value?: string;
  addresses?: TreeAddress[];
  date?: string | null;
  ids?: string[];
}

export interface ActualEntity {
  headers?: ActualField[];
  type?: string;
  params?: Record<string, string>;
  disposition?: string | null;
  filename?: string | null;
  transferEncoding?: string;
  body?: ActualBody;
  parts?: ActualEntity[];
  message?: ActualEntity;
}

export interface Capabilities {
  /** Header fields (lower case) whose text the implementation decodes; 'all' for every text field. */
  textFields: 'all' | readonly string[];
  /** Raw (unmodelled) field values are given unfolded. */
  rawValues: boolean;
  /** Header field order is kept (a map of fields loses it). */
  headerOrder: boolean;
  /** Headers of parts other than the message are given. */
  partHeaders: boolean;
  /** Transfer encodings are reported. */
  transferEncoding: boolean;
}

export const FULL: Capabilities = { textFields: 'all', rawValues: true, headerOrder: true, partHeaders: true, transferEncoding: true };

export interface Disagreement {
  /** Stable class name, e.g. `header.subject`, `param.charset`, `body.text`, `structure.parts`. */
  class: string;
  path: string;
  detail: string;
  expected: unknown;
  actual: unknown;
}

/**
 * Domains in ASCII, remembered: domainToASCII (the URL parser's UTS 46) costs three times a lookup and
 * the round trip asks for the same domains over and over (a few percent of its CPU went to
 * normalizing addresses). Bounded: cleared when full.
 */
const asciiDomains = new Map<string, string>();
export const ASCII_DOMAINS_MAX = 4096;

function asciiDomain(dom: string): string {
  let a = asciiDomains.get(dom);
  if (a === undefined) {
    if (asciiDomains.size >= ASCII_DOMAINS_MAX) asciiDomains.clear();
    const lower = dom.toLowerCase();
    a = (dom.startsWith('[') ? dom : domainToASCII(lower) || lower).toLowerCase();
    asciiDomains.set(dom, a);
  }
  return a;
}

/** Local part unquoted, domain lower case in ASCII (IDNA), so equal addresses compare equal. */
export function normalizeAddress(addr: string): string {
  const at = addr.lastIndexOf('@');
  if (at < 0) return addr;
  let local = addr.slice(0, at);
  if (local.length >= 2 && local.startsWith('"') && local.endsWith('"')) local = local.slice(1, -1).replace(/\\(.)/g, '$1');
  return `${local}@${asciiDomain(addr.slice(at + 1))}`;
}

const ws = (s: string) => s.replace(/\s+/g, ' ').trim();

function diff(out: Disagreement[], cls: string, path: string, detail: string, expected: unknown, actual: unknown): void {
  out.push({ class: cls, path, detail, expected, actual });
}

function compareMailboxes(out: Disagreement[], path: string, field: string, exp: TreeMailbox[], act: TreeMailbox[], group: string | null): void {
  if (exp.length !== act.length) {
    diff(out, 'address.count', path, `${field}${group !== null ? ` group "${group}"` : ''}`, exp, act);
    return;
  }
  exp.forEach((e, i) => {
    const a = act[i]!;
    // Equal as written is equal normalized (the common case, without normalizing).
    if (e.address !== a.address && normalizeAddress(e.address) !== normalizeAddress(a.address ?? '')) diff(out, 'address.addr', path, field, e.address, a.address);
    else if (e.name !== (a.name ?? '')) diff(out, 'address.name', path, field, e.name, a.name);
  });
}

function compareAddresses(out: Disagreement[], path: string, field: string, exp: TreeAddress[], act: TreeAddress[]): void {
  const expGroups = exp.filter(isGroup);
  const actGroups = act.filter(isGroup);
  if (expGroups.length !== actGroups.length) {
    diff(out, 'address.group', path, field, exp, act);
    return;
  }
  const flat = (l: TreeAddress[]) => l.filter((a): a is TreeMailbox => !isGroup(a));
  compareMailboxes(out, path, field, flat(exp), flat(act), null);
  expGroups.forEach((g, i) => {
    const a = actGroups[i]!;
    if (g.group !== a.group) diff(out, 'address.group-name', path, field, g.group, a.group);
    compareMailboxes(out, path, field, g.members, a.members, g.group);
  });
}

function decodes(caps: Capabilities, name: string): boolean {
  return caps.textFields === 'all' || caps.textFields.includes(name);
}

/** Compares one entity's header fields (names, order, and each value as its kind says). */
const lowerNames = (l: { name: string }[]): string[] => l.map((f) => f.name.toLowerCase());

export function compareHeaders(out: Disagreement[], path: string, exp: TreeField[], act: ActualField[], caps: Capabilities): void {
  const en = lowerNames(exp);
  const an = lowerNames(act);
  // The same names in the same order is the common case, and settles both questions without sorting.
  const sameOrder = en.join('\n') === an.join('\n');
  const sameSet = sameOrder || [...en].sort().join('\n') === [...an].sort().join('\n');
  if (!sameSet || (caps.headerOrder && !sameOrder)) {
    diff(out, sameSet ? 'header.order' : 'header.fields', path, '', en, an);
    if (!sameSet) return;
  }
  // Pair fields by name and occurrence, so order differences do not cascade.
  const seen = new Map<string, number>();
  const byName = new Map<string, ActualField[]>();
  act.forEach((f, i) => {
    const k = an[i]!;
    const list = byName.get(k);
    if (list) list.push(f);
    else byName.set(k, [f]);
  });
  for (let i = 0; i < exp.length; i++) {
    const e = exp[i]!;
    const k = en[i]!;
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    const a = byName.get(k)?.[n];
    if (!a) continue;
    switch (e.kind) {
      case 'text':
        if (decodes(caps, k) && a.value !== undefined && a.value !== (e.value ?? '')) diff(out, k === 'subject' ? 'header.subject' : 'header.text', path, e.name, e.value, a.value);
        break;
      case 'address':
        if (a.addresses) compareAddresses(out, path, e.name, e.addresses ?? [], a.addresses);
        break;
      case 'date':
        if (a.date !== undefined && (a.date === null ? null : new Date(a.date).getTime()) !== new Date(e.date!).getTime()) diff(out, 'header.date', path, e.name, e.date, a.date);
        break;
      case 'ids':
        if (a.ids && a.ids.join(' ') !== (e.ids ?? []).join(' ')) diff(out, 'header.ids', path, e.name, e.ids, a.ids);
        break;
      case 'content':
        break; // Content-* fields are compared as the entity's type, parameters, disposition and encoding
      default:
        if (caps.rawValues && a.value !== undefined && ws(a.value) !== ws(e.value ?? '')) diff(out, 'header.raw', path, e.name, e.value, a.value);
    }
  }
}

function compareParams(out: Disagreement[], path: string, exp: Record<string, string>, act: Record<string, string>): void {
  for (const [k, v] of Object.entries(exp)) {
    const a = act[k];
    const equal = k === 'charset' ? a?.toLowerCase() === v.toLowerCase() : a === v;
    if (!equal) diff(out, k === 'charset' || k === 'boundary' || k === 'name' ? `param.${k}` : 'param.other', path, k, v, a ?? null);
  }
  for (const k of Object.keys(act)) if (!(k in exp)) diff(out, 'param.extra', path, k, null, act[k]);
}

export function compareEntity(exp: TreeEntity, act: ActualEntity, caps: Capabilities = FULL, out: Disagreement[] = []): Disagreement[] {
  const path = exp.path;
  if (act.headers && (path === '' || caps.partHeaders)) compareHeaders(out, path, exp.headers, act.headers, caps);
  if (act.type !== undefined && act.type !== exp.type) {
    diff(out, 'type', path, '', exp.type, act.type);
    return out; // a different type makes the rest of this entity noise
  }
  if (act.params) compareParams(out, path, exp.params, act.params);
  if (act.disposition !== undefined && act.disposition !== exp.disposition) diff(out, 'disposition', path, '', exp.disposition, act.disposition);
  if (act.filename !== undefined && (act.filename ?? null) !== exp.filename) diff(out, 'filename', path, '', exp.filename, act.filename);
  if (caps.transferEncoding && act.transferEncoding !== undefined && act.transferEncoding !== exp.transferEncoding) diff(out, 'transfer-encoding', path, '', exp.transferEncoding, act.transferEncoding);
  if (exp.parts) {
    const ap = act.parts ?? [];
    if (ap.length !== exp.parts.length) diff(out, 'structure.parts', path, `${exp.parts.length} parts, got ${ap.length}`, exp.parts.length, ap.length);
    exp.parts.forEach((p, i) => { if (ap[i]) compareEntity(p, ap[i]!, caps, out); });
    return out;
  }
  if (exp.message) {
    if (act.message) compareEntity(exp.message, act.message, caps, out);
    else if (act.body?.sha256 === exp.body?.sha256) diff(out, 'message.opaque', path, 'embedded message kept as bytes, not parsed', null, null);
    else diff(out, 'message.missing', path, '', exp.body?.sha256, act.body?.sha256 ?? null);
    return out;
  }
  const eb = exp.body!;
  const ab = act.body;
  if (!ab) {
    diff(out, 'body.missing', path, '', eb.sha256, null);
    return out;
  }
  if (ab.sha256 !== undefined && ab.sha256 !== eb.sha256) diff(out, 'body.bytes', path, `${eb.size} bytes, got ${ab.size ?? '?'}`, eb.sha256, ab.sha256);
  if (eb.text && ab.text && ab.text.sha256 !== eb.text.sha256) diff(out, 'body.text', path, `${eb.text.charset}: ${eb.text.size} bytes, got ${ab.text.size ?? '?'}`, eb.text.sha256, ab.text.sha256);
  if (ab.sha256 === undefined && !(eb.text && ab.text)) diff(out, 'body.missing', path, 'neither bytes nor text given', eb.sha256, null);
  return out;
}
