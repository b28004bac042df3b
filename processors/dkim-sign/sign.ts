/**
 * One message → its DKIM-Signature fields, via mailauth's signer (patched: array header lists,
 * oversigning, i=, tag order, WSP-only relaxed canonicalization; README "Patches").
 */
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DkimSignSection, DkimSigningSignature } from '../../schemas/types.ts';
import type { DkimSignConfig } from './config.ts';
import type { DkimKey } from './keys.ts';
import { checkIdentities, senderIdentities, SigningRefused, type FromAddress } from './policy.ts';

export const STAGE_VERSION = '1.0.0';

/** RFC 6376 §2.11 dkim-quoted-printable, for a local part in i=. */
function dkimQuotedPrintable(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (b >= 0x21 && b <= 0x7e && b !== 0x3b && b !== 0x3d ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** The From domain's keys, or (when allowed) the nearest parent domain's; relaxed DMARC alignment still holds. */
export function keysFor(config: Pick<DkimSignConfig, 'keys' | 'parentDomainKeys'>, domain: string): DkimKey[] | undefined {
  const own = config.keys.get(domain);
  if (own?.length || !config.parentDomainKeys) return own;
  const labels = domain.split('.');
  for (let i = 1; i < labels.length - 1; i++) {
    const k = config.keys.get(labels.slice(i).join('.'));
    if (k?.length) return k;
  }
  return undefined;
}

export interface SignOptions {
  config: DkimSignConfig;
  authUser: string | null;
  now?: Date;
}

export interface SignOutput {
  section: DkimSignSection;
  from: FromAddress;
}

/** The parameters handed to mailauth's signer for one message (exported for the bench baseline). */
export function signerOptions(config: DkimSignConfig, keys: DkimKey[], from: FromAddress, now: Date) {
  const identity = config.auid === 'from' ? `${dkimQuotedPrintable(from.localPart)}@${from.domain}` : config.auid === 'domain' ? `@${keys[0]!.domain}` : undefined;
  return {
    canonicalization: 'relaxed/relaxed',
    signTime: now,
    expires: config.expireSeconds > 0 ? new Date(now.getTime() + config.expireSeconds * 1000) : undefined,
    headerList: config.signHeaders,
    oversignHeaderList: config.oversignHeaders,
    headerSeparator: config.hSeparator,
    tagOrder: config.tagOrder,
    signatureData: keys.map((k) => ({
      signingDomain: k.domain,
      selector: k.selector,
      privateKey: k.privateKey,
      algorithm: k.algorithm,
      // i= must be within d= (RFC 6376 §3.5); with a parent domain's key it still is.
      identity,
    })),
  };
}

/** Throws SigningRefused when the message must not be signed; any other error is a bug or a bad key. */
export async function signMessage(message: Buffer, opts: SignOptions): Promise<SignOutput> {
  const { config } = opts;
  const now = opts.now ?? new Date();
  if (!opts.authUser) throw new SigningRefused('no-auth-user', 'the record has no SMTP AUTH user (envelope.authUser); only authenticated submissions are signed');
  // Every From mailbox and the Sender: a signature vouches for all of them, not only the first.
  const ids = senderIdentities(message);
  checkIdentities(config.senders, opts.authUser, ids);
  const from = ids.from[0]!;
  const keys = keysFor(config, from.domain);
  if (!keys?.length) throw new SigningRefused('no-key', `no DKIM key for ${from.domain}${config.parentDomainKeys ? ' or a parent domain' : ''}`);

  const result = await dkimSign(message, signerOptions(config, keys, from, now) as never);
  if (result.errors?.length) {
    const e = result.errors[0] as { err?: Error; selector?: string; signingDomain?: string };
    throw new Error(`signing failed for ${e.signingDomain}/${e.selector}: ${e.err?.message ?? String(e.err)}`);
  }
  const fields = splitFields(result.signatures);
  if (fields.length !== keys.length) throw new Error(`expected ${keys.length} signatures, mailauth produced ${fields.length}`);
  const signatures: DkimSigningSignature[] = fields.map((f, i) => {
    const tags = parseTags(f);
    return {
      domain: tags.d ?? keys[i]!.domain,
      selector: tags.s ?? keys[i]!.selector,
      algorithm: tags.a ?? keys[i]!.algorithm,
      identity: tags.i ?? null,
      signedHeaders: (tags.h ?? '').split(':').map((h) => h.trim()).filter(Boolean),
      bodyHash: tags.bh ?? '',
      keyBits: keys[i]!.bits,
    };
  });
  return {
    from,
    section: {
      stageVersion: STAGE_VERSION,
      signedAt: now.getTime(),
      headers: fields.map((f) => `${f}\r\n`).join(''),
      fromDomain: from.domain,
      authUser: opts.authUser,
      signatures,
    },
  };
}

/** mailauth returns the fields joined by CRLF; a continuation line starts with WSP. */
function splitFields(s: string): string[] {
  return s.replace(/\r\n$/, '').split(/\r\n(?![ \t])/).filter((f) => f.length > 0);
}

function parseTags(field: string): Record<string, string> {
  const value = field.slice(field.indexOf(':') + 1).replace(/\r\n/g, '');
  const out: Record<string, string> = {};
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).replace(/[ \t]+/g, part.slice(0, eq).trim() === 'h' ? ' ' : '').trim();
  }
  return out;
}
