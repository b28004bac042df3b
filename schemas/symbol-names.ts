/**
 * Every symbol name the shipped stages emit, with the stage and what it says: the names half of the
 * contract between the stages and the decision (symbol.avsc is the shape, and keeps names an open
 * set on the wire). The policy file may weigh only these, or a name it declares `custom: true` (a DNS
 * list's own symbol, AUTH_URI_LISTS …), so a typo in a weight is refused at start instead of silently
 * weighing nothing. A stage that adds a symbol adds it here; a stage whose names are all listed can
 * type what it emits with `SymbolName` (processors/spam/symbols.ts does).
 */
import type { SymbolStage } from './types.ts';

export interface SymbolInfo {
  stage: SymbolStage;
  description: string;
}

const of = (stage: SymbolStage) => (description: string): SymbolInfo => ({ stage, description });
const auth = of('auth');
const mime = of('mime');
const spam = of('spam');
const firewall = of('firewall');
const decision = of('decision');
const SPF_RESULTS = { PASS: 'pass', FAIL: 'fail', SOFTFAIL: 'softfail', NEUTRAL: 'neutral', NONE: 'no SPF record', TEMPERROR: 'DNS failed temporarily', PERMERROR: 'the record is broken' } as const;
/** SPF_<RESULT> / SPF_HELO_<RESULT>, with literal names (so SymbolName stays a union of literals). */
function spf<P extends string>(prefix: P, what: string): Record<`${P}_${keyof typeof SPF_RESULTS}`, SymbolInfo> {
  return Object.fromEntries(Object.entries(SPF_RESULTS).map(([r, d]) => [`${prefix}_${r}`, auth(`${what}: ${d}`)])) as Record<`${P}_${keyof typeof SPF_RESULTS}`, SymbolInfo>;
}

/** The spam stage's evidence beyond the words (derived from the tokenizer's structure tokens; processors/spam/symbols.ts). */
export const SPAM_EVIDENCE_SYMBOLS = {
  RDNS_NONE: spam('the relay that handed the message over has no reverse DNS'),
  RDNS_DYNAMIC: spam("that relay's reverse name looks like a dynamic or residential pool"),
  RDNS_NOT_FCRDNS: spam("that relay's reverse name does not resolve back to its address (live traffic: the ingress's forward check)"),
  HELO_IP_LITERAL: spam('that relay greeted with an IP literal'),
  HELO_BARE: spam('that relay greeted with a bare name (no dot)'),
  HELO_NOT_RDNS: spam("that relay's HELO names another domain than its reverse DNS"),
  RCVD_DIRECT_TO_MX: spam("no relay on the sender's side: the client sent straight to the receiver"),
  MIME_HTML_ONLY: spam('an HTML body without a text body (any container), or with a text part under half its length'),
  HTML_HIDDEN_TEXT: spam("as much hidden HTML text as a tenth of the visible text or more"),
  URL_ANCHOR_MISMATCH: spam('a link whose text names another site than its target'),
  URL_SHORTENER: spam('a link through a URL shortener'),
  FROM_NAME_ADDR_OTHER: spam("the From display name holds an address of another domain than the sender's"),
  FROM_NAME_DOMAIN_OTHER: spam("the From display name holds a domain other than the sender's"),
  TO_EQ_FROM: spam('the first To address is the From address'),
} as const satisfies Record<string, SymbolInfo>;

export const SYMBOLS = {
  // auth (processors/auth/symbols.ts)
  ...spf('SPF', 'SPF of the MAIL FROM domain'),
  ...spf('SPF_HELO', 'SPF of the HELO name'),
  DKIM_VALID: auth('a DKIM signature verifies'), DKIM_INVALID: auth('a DKIM signature does not verify'),
  DKIM_NEUTRAL: auth('a DKIM signature could not be judged'), DKIM_TEMPFAIL: auth('a DKIM key lookup failed temporarily'),
  DKIM_PERMFAIL: auth('a DKIM signature or key is broken'), DKIM_NOT_CHECKED: auth('a DKIM signature was not checked (policy)'),
  DKIM_NONE: auth('no DKIM signature'),
  DMARC_POLICY_ALLOW: auth('DMARC passes'), DMARC_POLICY_REJECT: auth('DMARC fails and the domain asks to reject'),
  DMARC_POLICY_QUARANTINE: auth('DMARC fails and the domain asks to quarantine'), DMARC_POLICY_SOFTFAIL: auth('DMARC fails, the domain asks for nothing (p=none)'),
  DMARC_NA: auth('the From domain has no DMARC policy'), DMARC_DNSFAIL: auth('the DMARC lookup failed temporarily'), DMARC_BAD_POLICY: auth('the DMARC record is broken'),
  ARC_ALLOW: auth('the ARC chain validates'), ARC_REJECT: auth('the ARC chain fails'), ARC_NA: auth('no ARC chain'), ARC_DNSFAIL: auth('an ARC key lookup failed temporarily'),
  // spam (processors/spam/symbols.ts)
  BAYES_SPAM: spam('the spam model says spam (score = the probability)'),
  BAYES_UNSURE: spam('the spam model is unsure (score = the probability)'),
  BAYES_HAM: spam('the spam model says ham (score = the probability)'),
  ...SPAM_EVIDENCE_SYMBOLS,
  // mime (processors/mime/symbols.ts): one per attachment flag, and the scan and parse outcomes
  MIME_EXECUTABLE: mime('an executable attachment'),
  MIME_SCRIPT: mime('a script attachment'),
  MIME_DOUBLE_EXTENSION: mime('an attachment named like invoice.pdf.exe'),
  MIME_TYPE_MISMATCH: mime("an attachment whose content is not its declared type"),
  MIME_MACRO_OFFICE: mime('an Office document with macros'),
  MIME_ARCHIVE: mime('an archive attachment'),
  MIME_ENCRYPTED_ARCHIVE: mime('a password-protected archive'),
  MIME_HTML: mime('an HTML attachment'),
  MIME_VIRUS: mime('ClamAV found a virus'),
  MIME_SCAN_FAILED: mime('the virus scan could not run'),
  MIME_PARSE_FAILED: mime('the message could not be parsed'),
  MIME_LIMITS_EXCEEDED: mime('parsing stopped at a limit'),
  // firewall (processors/firewall/symbols.ts)
  REPUTATION_BAD_NET: firewall("the client's prefix sent spam lately (score = its reputation score)"),
  REPUTATION_BAD_DOMAIN: firewall('the authenticated sender domain sent spam lately (score = its reputation score)'),
  REPUTATION_BLOCKED_NET: firewall("the client's prefix is blocked"),
  // decision (processors/decision/lists.ts): the policy's own lists
  ALLOWLIST_SENDER: decision('the sender is on the allow list (DMARC passes)'),
  ALLOWLIST_SENDER_UNVERIFIED: decision('the sender is on the allow list but DMARC does not pass: ignored'),
  ALLOWLIST_IP: decision('the client IP is on the allow list'),
  ALLOWLIST_RCPT: decision('every recipient is on the allow list'),
  BLOCKLIST_SENDER: decision('the sender is on the block list'),
  BLOCKLIST_IP: decision('the client IP is on the block list'),
  BLOCKLIST_RCPT: decision('every recipient is on the block list'),
} as const satisfies Record<string, SymbolInfo>;

export type SymbolName = keyof typeof SYMBOLS;
export type SpamEvidenceSymbol = keyof typeof SPAM_EVIDENCE_SYMBOLS;

export const isKnownSymbol = (name: string): name is SymbolName => Object.hasOwn(SYMBOLS, name);

/** Edit distance, bounded: symbol names are at most 64 characters (the policy's name rule). */
function distance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known name nearest a misspelt one (at most 2 edits or a quarter of its length away), for "did you mean". */
export function nearestSymbol(name: string): SymbolName | null {
  let best: SymbolName | null = null;
  let bestD = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const known of Object.keys(SYMBOLS) as SymbolName[]) {
    const d = distance(name, known);
    if (d < bestD) { best = known; bestD = d; }
  }
  return best;
}
