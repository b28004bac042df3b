/**
 * DKIM-Signature fields (RFC 6376 §3.5, §5; Ed25519 per RFC 8463), relaxed/relaxed.
 *
 * The canonicalization — the part the RFCs make hard (body line endings, trailing empty lines,
 * relaxed header folding, bytes that are not ASCII) — is mailauth's: its message parser, its body
 * hasher and its relaxed header line, the same code the auth stage verifies with. What is built
 * here is what mailauth's dkimSign() cannot do and the stage needs: oversigning (h= names a field
 * once more than it occurs, RFC 6376 §8.15), h= in the configured order, a chosen tag order and h=
 * separator (so RFC 8463's example is reproduced byte for byte), and an already parsed KeyObject
 * (no PEM parse per message).
 */
import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { Writable } from 'node:stream';
// @ts-expect-error: mailauth ships no types for its canonicalization modules
import { dkimBody } from 'mailauth/lib/dkim/body/index.js';
// @ts-expect-error: as above
import { MessageParser } from 'mailauth/lib/dkim/message-parser.js';
// @ts-expect-error: as above
import tools from 'mailauth/lib/tools.js';
import type { DkimAlgorithm } from './keys.ts';

interface HeaderLine { key: string; casedKey: string; line: Buffer }
interface BodyHash { update(chunk: Buffer): void; digest(encoding: 'base64'): string }
const { formatRelaxedLine, writeToStream } = tools as {
  formatRelaxedLine(line: Buffer | string, suffix?: string): Buffer;
  writeToStream(stream: Writable, input: Buffer): Promise<void>;
};
const newBodyHash = dkimBody as (canonicalization: string, algorithm: string, maxLength: false) => BodyHash;

/** mailauth's header/body splitter (bare LF → CRLF, as its verifier reads the message), feeding one body hash. */
class Canonicalizer extends (MessageParser as new () => Writable & { headers: { parsed: HeaderLine[] } | false }) {
  readonly body = newBodyHash('relaxed', 'sha256', false);
  async nextChunk(chunk: Buffer): Promise<void> {
    this.body.update(chunk);
  }
}

export interface SigningKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  privateKey: KeyObject;
  /** i= (already dkim-quoted-printable); must be d= or a subdomain of it (RFC 6376 §3.5). */
  identity?: string;
}

export interface SignatureLayout {
  /** Fields to sign, in h= order; every instance of each, bottom-up (RFC 6376 §5.4.2). */
  headers: string[];
  /** Listed once more than they occur, so that adding one breaks the signature (RFC 6376 §8.15). Signed too. */
  oversign: string[];
  /** Between the names in h= (': ' by default). */
  separator: string;
  /** Tag order; tags not named follow in the default order v a c d h i l q s t x z bh b. */
  tagOrder?: string[];
  signTime: Date;
  expires?: Date;
}

export interface Signature {
  /** The DKIM-Signature field, folded, without the final CRLF. */
  field: string;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  identity: string | null;
  /** h= as written (the names as configured), oversigned entries included. */
  signedHeaders: string[];
  bodyHash: string;
}

const DEFAULT_TAG_ORDER = ['v', 'a', 'c', 'd', 'h', 'i', 'l', 'q', 's', 't', 'x', 'z', 'bh', 'b'];
/** Line length the field is folded to (RFC 5322 §2.1.1 recommends 78 including CRLF). */
const FOLD_AT = 76;

export class SignatureError extends Error {
  override readonly name = 'SignatureError';
}

/** The header fields h= covers: each listed name's instances bottom-up, then one empty entry per oversigned name. */
export function selectHeaders(parsed: HeaderLine[], layout: Pick<SignatureLayout, 'headers' | 'oversign'>): { names: string[]; lines: Buffer[] } {
  const names: string[] = [];
  const lines: Buffer[] = [];
  const seen = new Set<string>();
  for (const name of [...layout.headers, ...layout.oversign]) {
    const key = name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    for (let i = parsed.length - 1; i >= 0; i--) {
      if (parsed[i]!.key !== key) continue;
      names.push(name);
      lines.push(parsed[i]!.line);
    }
  }
  // A name listed more often than the field occurs selects nothing (RFC 6376 §5.4.2): this entry
  // makes any added instance part of the hash, so adding one breaks the signature.
  const extra = new Set<string>();
  for (const name of layout.oversign) if (!extra.has(name.toLowerCase())) { extra.add(name.toLowerCase()); names.push(name); }
  return { names, lines };
}

function formatTags(tags: Map<string, string>, order: string[] | undefined): string {
  const custom = (order ?? []).filter((t) => DEFAULT_TAG_ORDER.includes(t));
  const sequence = [...custom, ...DEFAULT_TAG_ORDER.filter((t) => !custom.includes(t))];
  return sequence.filter((t) => tags.has(t)).map((t) => `${t}=${tags.get(t)}`).join('; ');
}

/** Folds at spaces to FOLD_AT columns; b= is written in 72-character pieces so it folds too. */
function fold(field: string): string {
  const out: string[] = [];
  let line = '';
  for (const word of field.split(' ')) {
    if (line && line.length + 1 + word.length > FOLD_AT) {
      out.push(line);
      line = ` ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(line);
  return out.join('\r\n');
}

const isWithin = (identity: string, domain: string) => {
  const d = identity.slice(identity.lastIndexOf('@') + 1).toLowerCase();
  return identity.includes('@') && (d === domain || d.endsWith(`.${domain}`));
};

/** One DKIM-Signature field per key, over the message as it will be sent. */
export async function dkimSignatures(message: Buffer, keys: SigningKey[], layout: SignatureLayout): Promise<Signature[]> {
  const canon = new Canonicalizer();
  await writeToStream(canon, message);
  const parsed = canon.headers ? canon.headers.parsed : [];
  const bodyHash = canon.body.digest('base64');
  const { names, lines } = selectHeaders(parsed, layout);
  if (!lines.some((_, i) => names[i]!.toLowerCase() === 'from')) throw new SignatureError('the message has no From field to sign (RFC 6376 §5.4)');
  const headerData = Buffer.concat(lines.map((l) => formatRelaxedLine(l, '\r\n')));

  return keys.map((key) => {
    if (key.identity && !isWithin(key.identity, key.domain)) throw new SignatureError(`i=${key.identity} is not within d=${key.domain} (RFC 6376 §3.5)`);
    const tags = new Map<string, string>([
      ['v', '1'], ['a', key.algorithm], ['c', 'relaxed/relaxed'], ['d', key.domain], ['s', key.selector],
      ['q', 'dns/txt'], ['t', String(Math.floor(layout.signTime.getTime() / 1000))],
      ['h', names.join(layout.separator)], ['bh', bodyHash], ['b', ''],
    ]);
    if (key.identity) tags.set('i', key.identity);
    if (layout.expires) tags.set('x', String(Math.floor(layout.expires.getTime() / 1000)));
    // RFC 6376 §3.7: the signature field itself is hashed last, b= empty, without its CRLF.
    const unsigned = `DKIM-Signature: ${formatTags(tags, layout.tagOrder)}`;
    const data = Buffer.concat([headerData, formatRelaxedLine(unsigned)]);
    const b = key.algorithm === 'rsa-sha256'
      ? cryptoSign('sha256', data, key.privateKey)
      // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalized data (PureEdDSA).
      : cryptoSign(null, createHash('sha256').update(data).digest(), key.privateKey);
    tags.set('b', b.toString('base64').replace(/.{72}/g, '$& ').trim());
    return {
      field: fold(`DKIM-Signature: ${formatTags(tags, layout.tagOrder)}`),
      domain: key.domain,
      selector: key.selector,
      algorithm: key.algorithm,
      identity: key.identity ?? null,
      signedHeaders: names,
      bodyHash,
    };
  });
}
