/**
 * The names the spam stage emits (symbols.ts), with what each says: its part of the symbol catalogue
 * (runtime/symbols.ts). A new name goes here, an input that fires it into symbols.test.ts (which
 * fails on a declared name no input fires), and its weight into the policy file.
 */
import { symbolOf, type SymbolInfo } from '../../runtime/symbols.ts';

const spam = symbolOf('spam');

/** The spam stage's evidence beyond the words (derived from the tokenizer's structure tokens; symbols.ts EVIDENCE). */
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

export const SPAM_SYMBOLS = {
  BAYES_SPAM: spam('the spam model says spam (score = the probability)'),
  BAYES_UNSURE: spam('the spam model is unsure (score = the probability)'),
  BAYES_HAM: spam('the spam model says ham (score = the probability)'),
  ...SPAM_EVIDENCE_SYMBOLS,
} as const satisfies Record<string, SymbolInfo>;

export type SpamEvidenceSymbol = keyof typeof SPAM_EVIDENCE_SYMBOLS;
export type SpamSymbolName = keyof typeof SPAM_SYMBOLS;
