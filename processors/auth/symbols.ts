/**
 * The auth stage's verdicts as symbols (issue 16), from its section: SPF_<RESULT>{domain} (and
 * SPF_HELO_<RESULT>), DKIM by result with the signing domains (DKIM_VALID{d=example.org},
 * DKIM_INVALID, DKIM_TEMPFAIL, …; DKIM_NONE when unsigned), DMARC (DMARC_POLICY_ALLOW on a pass;
 * on a failure the disposition: DMARC_POLICY_REJECT / _QUARANTINE / _SOFTFAIL; DMARC_NA,
 * DMARC_DNSFAIL, DMARC_BAD_POLICY, DMARC_FROM_TOO_LONG, DMARC_FROM_MULTIPLE, DMARC_FROM_UNREADABLE) and ARC (ARC_ALLOW, ARC_REJECT, ARC_NA, ARC_DNSFAIL).
 */
import { symbolWord as word, type StageSymbol } from '../../runtime/stage.ts';
import type { AuthSection } from '../../schemas/types.ts';

/** Signing domains listed per DKIM symbol. */
const MAX_DOMAINS = 8;


const DKIM: Record<string, string> = { pass: 'DKIM_VALID', fail: 'DKIM_INVALID', neutral: 'DKIM_NEUTRAL', temperror: 'DKIM_TEMPFAIL', permerror: 'DKIM_PERMFAIL', policy: 'DKIM_NOT_CHECKED' };
const DMARC: Record<string, string> = { pass: 'DMARC_POLICY_ALLOW', none: 'DMARC_NA', temperror: 'DMARC_DNSFAIL', permerror: 'DMARC_BAD_POLICY' };
const DMARC_FAIL: Record<string, string> = { reject: 'DMARC_POLICY_REJECT', quarantine: 'DMARC_POLICY_QUARANTINE', none: 'DMARC_POLICY_SOFTFAIL' };
/** The section's tag for From fields too long to be read (verify.ts): DMARC_FROM_TOO_LONG, not DMARC_BAD_POLICY. */
export const FROM_TOO_LONG_TAG = 'from-too-long';
/** The section's tag for From fields naming more than one domain (verify.ts): DMARC_FROM_MULTIPLE, not DMARC_BAD_POLICY. */
export const FROM_MULTIPLE_TAG = 'from-multiple-domains';
const ARC: Record<string, string> = { pass: 'ARC_ALLOW', fail: 'ARC_REJECT', none: 'ARC_NA', temperror: 'ARC_DNSFAIL' };

export function authSymbols(a: AuthSection): StageSymbol[] {
  const out: StageSymbol[] = [];
  const add = (symbol: string, options: string[] = []) => out.push({ symbol, score: null, options });

  add(`SPF_${word(a.spf.result)}`, [a.spf.domain]);
  if (a.heloSpf) add(`SPF_HELO_${word(a.heloSpf.result)}`, [a.heloSpf.domain]);

  const byResult = new Map<string, string[]>();
  for (const s of a.dkim) {
    const symbol = DKIM[s.result] ?? `DKIM_${word(s.result)}`;
    const list = byResult.get(symbol) ?? [];
    if (s.domain && !list.includes(`d=${s.domain}`) && list.length < MAX_DOMAINS) list.push(`d=${s.domain}`);
    byResult.set(symbol, list);
  }
  if (a.dkim.length === 0) add('DKIM_NONE');
  for (const [symbol, domains] of byResult) add(symbol, domains);

  const d = a.dmarc;
  const from = d.fromDomain ? [d.fromDomain] : [];
  if (a.tags.includes(FROM_TOO_LONG_TAG)) add('DMARC_FROM_TOO_LONG');
  // `From: ceo@bank.test, me@evil.test`: whose policy applies is undefined, so the permerror is the From's, not a
  // broken DMARC record's (DMARC_BAD_POLICY, weight 0) — else a second address would get around p=reject.
  else if (a.tags.includes(FROM_MULTIPLE_TAG)) add('DMARC_FROM_MULTIPLE');
  else if (d.result === 'fail') add(DMARC_FAIL[d.disposition] ?? `DMARC_POLICY_${word(d.disposition)}`, d.sampledOut ? [...from, 'sampled-out'] : from);
  // No Author Domain (no From, a group, `ceo@bank.test:`): DMARC has nothing to look up, and a mail client may
  // still show the address, so this is not "the domain has no policy" (DMARC_NA): a forged From must not
  // get around its domain's p=reject by being malformed (RFC 7489 §6.6.1: such mail is typically rejected).
  else if (d.result === 'none' && !d.fromDomain) add('DMARC_FROM_UNREADABLE');
  else add(DMARC[d.result] ?? `DMARC_${word(d.result)}`, from);

  add(ARC[a.arc.result] ?? `ARC_${word(a.arc.result)}`);
  return out;
}
