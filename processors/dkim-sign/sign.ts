/**
 * One message → its DKIM-Signature fields (signature.ts: our header layout on mailauth's
 * canonicalization; README "Signing").
 */
import type { DkimSignSection, DkimSigningSignature } from '../../schemas/types.ts';
import type { DkimSignConfig } from './config.ts';
import type { DkimKey } from './keys.ts';
import { checkIdentities, senderIdentities, SigningRefused, type FromAddress } from './policy.ts';
import { dkimSignatures, type SignatureLayout, type SigningKey } from './signature.ts';

export const STAGE_VERSION = '1.1.0';

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

/** The keys and the header layout for one message (exported for the bench). */
export function signerOptions(config: DkimSignConfig, keys: DkimKey[], from: FromAddress, now: Date): { keys: SigningKey[]; layout: SignatureLayout } {
  const identity = config.auid === 'from' ? `${dkimQuotedPrintable(from.localPart)}@${from.domain}` : config.auid === 'domain' ? `@${keys[0]!.domain}` : undefined;
  return {
    // i= must be within d= (RFC 6376 §3.5); with a parent domain's key it still is.
    keys: keys.map((k) => ({ domain: k.domain, selector: k.selector, algorithm: k.algorithm, privateKey: k.privateKey, identity })),
    layout: {
      headers: config.signHeaders,
      oversign: config.oversignHeaders,
      separator: config.hSeparator,
      tagOrder: config.tagOrder,
      signTime: now,
      expires: config.expireSeconds > 0 ? new Date(now.getTime() + config.expireSeconds * 1000) : undefined,
    },
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

  const { keys: signingKeys, layout } = signerOptions(config, keys, from, now);
  const fields = await dkimSignatures(message, signingKeys, layout);
  const signatures: DkimSigningSignature[] = fields.map((f, i) => ({
    domain: f.domain,
    selector: f.selector,
    algorithm: f.algorithm,
    identity: f.identity,
    signedHeaders: f.signedHeaders,
    bodyHash: f.bodyHash,
    keyBits: keys[i]!.bits,
  }));
  return {
    from,
    section: {
      stageVersion: STAGE_VERSION,
      signedAt: now.getTime(),
      headers: fields.map((f) => `${f.field}\r\n`).join(''),
      fromDomain: from.domain,
      authUser: opts.authUser,
      signatures,
    },
  };
}
