/**
 * The second half of the round trip: the pipeline's parse (mailparser's tree with its decoded
 * values and bodies) turned back into a model and encoded again. What mailparser decoded (Subject,
 * addresses, dates, ids, parameters, bodies) is written anew — UTF-8 encoded words, RFC 2231 for
 * non-ASCII parameters, the parsed text in its declared charset — and what it kept as written (other
 * fields) is written as it was. Parsing the result must give the expected tree again.
 */
import type { AddressObject } from 'mailparser';
import { encodeText } from '../src/charsets.ts';
import type { Address, Entity, Field, Mailbox, Param, Phrase, Word } from '../src/model.ts';
import type { MailTreeNode, ParsedWithTree } from '../../processors/mime/mailparser.ts';
import { unfoldedValue } from './mailparser.ts';
import iconv from 'iconv-lite';

const UTF8_Q = { charset: 'UTF-8', method: 'Q' as const };
const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/;
const ATEXT = /^[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+$/;
const DOT_ATOM = /^[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z\u0080-\uffff]+(\.[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z\u0080-\uffff]+)*$/;

/** A word is written raw when it is printable ASCII that cannot be taken for an encoded word. */
function words(text: string): Word[] {
  return text.split(' ').map((w) => ({ text: w, enc: /^[\x21-\x7e]*$/.test(w) && !w.includes('=?') ? null : UTF8_Q }));
}

function phrase(name: string): Phrase {
  if (/^[\x20-\x7e]*$/.test(name) && !name.includes('=?')) {
    return name.split(' ').every((w) => ATEXT.test(w)) ? { style: 'atoms', words: words(name) } : { style: 'quoted', words: [{ text: name, enc: null }] };
  }
  return { style: 'atoms', words: [{ text: name, enc: UTF8_Q }] };
}

function mailbox(name: string, address: string): Mailbox {
  const at = address.lastIndexOf('@');
  let local = at < 0 ? address : address.slice(0, at);
  // mailparser hands a quoted local part back with its quotes (and escapes undone).
  if (local.length >= 2 && local.startsWith('"') && local.endsWith('"')) local = local.slice(1, -1);
  return { kind: 'mailbox', name: name ? phrase(name) : null, local, localQuoted: !DOT_ATOM.test(local), domain: at < 0 ? '' : address.slice(at + 1), angle: true, comment: null };
}

function addresses(v: unknown): Address[] {
  return ((v as AddressObject | undefined)?.value ?? []).map((a): Address =>
    a.group ? { kind: 'group', name: phrase(a.name ?? ''), members: a.group.map((m) => mailbox(m.name ?? '', m.address ?? '')) } : mailbox(a.name ?? '', a.address ?? ''));
}

function param(name: string, value: string): Param {
  const ascii = /^[\x20-\x7e]*$/.test(value);
  return { name, value, style: ascii ? (TOKEN.test(value) ? 'token' : 'quoted') : 'ext', charset: ascii ? null : 'UTF-8', language: null, segment: 0 };
}

const ADDRESS_FIELDS = new Set(['from', 'to', 'cc', 'bcc', 'sender', 'reply-to']);
const NON_ASCII = /[\x80-\xff]/;

function fields(n: MailTreeNode): Field[] {
  const seen = new Map<string, number>();
  return n.headerLines.map(({ key, line }): Field => {
    // Header lines are binary strings; only those with 8-bit bytes need reading as UTF-8 (RFC 6532).
    const { name, value } = unfoldedValue(NON_ASCII.test(line) ? Buffer.from(line, 'latin1').toString('utf8') : line);
    const i = seen.get(key) ?? 0;
    seen.set(key, i + 1);
    const v = n.headers.get(key);
    const nth = Array.isArray(v) && key !== 'references' ? v[i] : i === 0 ? v : undefined;
    if (key === 'content-type') return { name, value: { kind: 'content-type' } };
    if (key === 'content-disposition') return { name, value: { kind: 'content-disposition' } };
    if (key === 'content-transfer-encoding') return { name, value: { kind: 'content-transfer-encoding' } };
    if (key === 'subject' && typeof nth === 'string') return { name, value: { kind: 'text', words: words(nth) } };
    if (ADDRESS_FIELDS.has(key) && nth) return { name, value: { kind: 'address', list: addresses(nth) } };
    if (key === 'date' && nth instanceof Date) {
      return { name, value: { kind: 'date', date: { epochMs: nth.getTime(), offsetMinutes: 0, dayName: true, seconds: true, comment: null, padDay: false } } };
    }
    if ((key === 'message-id' || key === 'in-reply-to') && typeof nth === 'string') return { name, value: { kind: 'ids', ids: [nth.replace(/^<|>$/g, '')] } };
    if (key === 'references' && v) return { name, value: { kind: 'ids', ids: ([] as string[]).concat(v as string[]).map((id) => id.replace(/^<|>$/g, '')) } };
    return { name, value: { kind: 'raw', segments: value.split(' ') } };
  });
}

interface Structured { value: string; params: Record<string, string> }

/** mailparser's tree → a model the encoder writes. */
export function modelFromParse(r: ParsedWithTree): Entity {
  let next = 0;
  const visit = (n: MailTreeNode): Entity => {
    const ct = n.headers.get('content-type') as Structured | undefined;
    const cd = n.headers.get('content-disposition') as Structured | undefined;
    const [type = 'text', subtype = 'plain'] = n.contentType.split('/');
    const params = Object.entries(ct?.params ?? {}).map(([k, v]) => param(k, v));
    const e: Entity = {
      fields: fields(n),
      type,
      subtype,
      declared: n.headerLines.some((l) => l.key === 'content-type'),
      params,
      typeComment: null,
      disposition: cd?.value ? { type: cd.value, params: Object.entries(cd.params ?? {}).map(([k, v]) => param(k, v)) } : null,
      cte: n.node.encoding || null,
      body: { kind: 'leaf', data: Buffer.alloc(0), text: null, lineLength: 76 },
    };
    if (n.contentType.startsWith('multipart/')) {
      e.body = { kind: 'multipart', boundary: ct?.params?.boundary ?? 'boundary', preamble: null, epilogue: null, padding: '', parts: n.children.map(visit) };
    } else if (n.node.messageNode && n.children[0]) {
      e.body = { kind: 'message', message: visit(n.children[0]) };
    } else if (n.isAttachment) {
      e.body = { kind: 'leaf', data: r.attachments[next++] ?? Buffer.alloc(0), text: null, lineLength: 76 };
    } else {
      const text = (n.textContent ?? '').replace(/\n/g, '\r\n');
      const charset = ct?.params?.charset ?? 'us-ascii';
      const data = iconv.encodingExists(charset) ? encodeText(text, charset) : Buffer.from(text, 'utf8');
      e.body = { kind: 'leaf', data, text, lineLength: 76 };
    }
    return e;
  };
  return visit(r.tree);
}
