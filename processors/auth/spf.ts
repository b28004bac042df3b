/**
 * SPF (RFC 7208) check_host() for the MAIL FROM identity (or the HELO identity for the null
 * sender), via mailauth's SPF in strict mode with our resolver (README "mailauth").
 */
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import type { ResolveFn } from './dns.ts';

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

export interface SpfVerdict {
  result: SpfResult;
  /** The domain check_host() evaluated (MAIL FROM domain, or the HELO name for the null sender). */
  domain: string;
  identity: 'mailfrom' | 'helo';
  /** The reason in words (mailauth's comment). */
  reason: string;
  /** The domain's explanation (exp=, RFC 7208 §6.2) on fail; null when the domain gives none. */
  explanation: string | null;
  /** The SPF record evaluated, if any. */
  record: string | null;
  /** DNS-querying mechanisms/modifiers counted against the limit of 10 (RFC 7208 §4.6.4). */
  lookups: number;
  voidLookups: number;
  /** The Received-SPF header mailauth formats (for reference). */
  receivedSpf: string;
  /** The resinfo for Authentication-Results, e.g. `spf=pass smtp.mailfrom=…`. */
  arInfo: string;
}

export interface SpfInput {
  ip: string;
  helo: string;
  /** Reverse-path without brackets; '' for the null sender. */
  mailFrom: string;
  /** Receiving host name (%{r}, comments). */
  mta: string;
  resolver: ResolveFn;
}

interface MailauthSpfResponse {
  domain: string;
  status: { result: SpfResult; comment?: string };
  explanation?: string;
  rr?: string;
  header: string;
  info: string;
  lookups?: { count: number; void: number };
}

export async function checkSpf(input: SpfInput): Promise<SpfVerdict> {
  const identity = input.mailFrom ? 'mailfrom' : 'helo';
  const res = (await mailauthSpf({
    sender: input.mailFrom || undefined,
    ip: input.ip,
    helo: input.helo,
    mta: input.mta,
    resolver: input.resolver as never,
    strict: true,
  })) as unknown as MailauthSpfResponse;
  return {
    result: res.status.result,
    domain: res.domain,
    identity,
    reason: res.status.comment ?? '',
    explanation: res.explanation ?? null,
    record: res.rr ?? null,
    lookups: res.lookups?.count ?? 0,
    voidLookups: res.lookups?.void ?? 0,
    receivedSpf: res.header,
    arInfo: res.info,
  };
}
