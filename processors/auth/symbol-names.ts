/**
 * The names the auth stage emits (symbols.ts), with what each says: its part of the symbol catalogue
 * (runtime/symbols.ts). A new name goes here, an input that fires it into symbols.test.ts (which
 * fails on a declared name no input fires), and its weight into the policy file.
 */
import { symbolOf, type SymbolInfo } from '../../runtime/symbols.ts';

const auth = symbolOf('auth');
const SPF_RESULTS = { PASS: 'pass', FAIL: 'fail', SOFTFAIL: 'softfail', NEUTRAL: 'neutral', NONE: 'no SPF record', TEMPERROR: 'DNS failed temporarily', PERMERROR: 'the record is broken' } as const;
/** SPF_<RESULT> / SPF_HELO_<RESULT>, with literal names (so AuthSymbolName stays a union of literals). */
function spf<P extends string>(prefix: P, what: string): Record<`${P}_${keyof typeof SPF_RESULTS}`, SymbolInfo> {
  return Object.fromEntries(Object.entries(SPF_RESULTS).map(([r, d]) => [`${prefix}_${r}`, auth(`${what}: ${d}`)])) as Record<`${P}_${keyof typeof SPF_RESULTS}`, SymbolInfo>;
}

export const AUTH_SYMBOLS = {
  ...spf('SPF', 'SPF of the MAIL FROM domain'),
  ...spf('SPF_HELO', 'SPF of the HELO name'),
  DKIM_VALID: auth('a DKIM signature verifies'), DKIM_INVALID: auth('a DKIM signature does not verify'),
  DKIM_NEUTRAL: auth('a DKIM signature could not be judged'), DKIM_TEMPFAIL: auth('a DKIM key lookup failed temporarily'),
  DKIM_PERMFAIL: auth('a DKIM signature or key is broken'), DKIM_NOT_CHECKED: auth('a DKIM signature was not checked (policy)'),
  DKIM_NONE: auth('no DKIM signature'),
  DMARC_POLICY_ALLOW: auth('DMARC passes'), DMARC_POLICY_REJECT: auth('DMARC fails and the domain asks to reject'),
  DMARC_POLICY_QUARANTINE: auth('DMARC fails and the domain asks to quarantine'), DMARC_POLICY_SOFTFAIL: auth('DMARC fails, the domain asks for nothing (p=none)'),
  DMARC_NA: auth('the From domain has no DMARC policy'), DMARC_DNSFAIL: auth('the DMARC lookup failed temporarily'), DMARC_BAD_POLICY: auth('the DMARC record is broken'),
  DMARC_FROM_TOO_LONG: auth('the From field is too long to be read, so DMARC could not be evaluated (permerror)'),
  DMARC_FROM_MULTIPLE: auth('the From field names more than one domain, so no single DMARC policy applies (permerror)'),
  DMARC_FROM_UNREADABLE: auth('no From address with a domain could be read (missing, a group, or malformed), so no DMARC policy can apply'),
  ARC_ALLOW: auth('the ARC chain validates'), ARC_REJECT: auth('the ARC chain fails'), ARC_NA: auth('no ARC chain'), ARC_DNSFAIL: auth('an ARC key lookup failed temporarily'),
} as const satisfies Record<string, SymbolInfo>;

export type AuthSymbolName = keyof typeof AUTH_SYMBOLS;
