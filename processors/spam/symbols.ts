/**
 * The spam stage's findings as symbols (issues 16, 17):
 * - BAYES_SPAM, BAYES_UNSURE or BAYES_HAM by the verdict, with the probability as its score (what a
 *   policy's min_score reads) and as option;
 * - the evidence beyond the words (RDNS_NONE, RDNS_DYNAMIC, RDNS_NOT_FCRDNS, HELO_*, RCVD_DIRECT_TO_MX, MIME_HTML_ONLY,
 *   HTML_HIDDEN_TEXT, URL_*, FROM_NAME_*, TO_EQ_FROM): each fires when the tokenizer produced one of
 *   its structure tokens. Derived from the message's tokens, not from a second parse, so the symbol
 *   and the model's feature can never disagree; the option names the token that fired it.
 * How the stage scores is not changed by them: the model already weighs the tokens; the policy file
 * gives the symbols their (small) weights.
 */
import { symbolWord, type StageSymbol } from '../../runtime/stage.ts';
import type { SpamEvidenceSymbol } from './symbol-names.ts';
import type { SpamSection } from '../../schemas/types.ts';

/** Each evidence symbol and the tokens (tokenizer.ts) any one of which fires it. */
export const EVIDENCE: readonly { symbol: SpamEvidenceSymbol; tokens: readonly string[] }[] = [
  { symbol: 'RDNS_NONE', tokens: ['relay:rdns:none'] },
  { symbol: 'RDNS_DYNAMIC', tokens: ['relay:rdns:dynamic'] },
  { symbol: 'RDNS_NOT_FCRDNS', tokens: ['relay:rdns:unconfirmed'] },
  { symbol: 'HELO_IP_LITERAL', tokens: ['relay:helo-ip-literal'] },
  { symbol: 'HELO_BARE', tokens: ['relay:helo-bare'] },
  { symbol: 'HELO_NOT_RDNS', tokens: ['relay:helo-not-rdns-domain'] },
  { symbol: 'RCVD_DIRECT_TO_MX', tokens: ['received:sender-hops:le0'] },
  { symbol: 'MIME_HTML_ONLY', tokens: ['html:only', 'mime:alt-ratio:text-short'] },
  { symbol: 'HTML_HIDDEN_TEXT', tokens: ['html:hidden-share:much', 'html:hidden-share:most'] },
  { symbol: 'URL_ANCHOR_MISMATCH', tokens: ['url:anchor-mismatch'] },
  { symbol: 'URL_SHORTENER', tokens: ['url:shortener'] },
  { symbol: 'FROM_NAME_ADDR_OTHER', tokens: ['from:name-address-other'] },
  { symbol: 'FROM_NAME_DOMAIN_OTHER', tokens: ['from:name-domain-other'] },
  { symbol: 'TO_EQ_FROM', tokens: ['to:is-from'] },
];

/** Token → its evidence symbol's index in EVIDENCE: one pass over a message's tokens, no set built per message. */
const BY_TOKEN = new Map(EVIDENCE.flatMap((e, i) => e.tokens.map((t) => [t, i] as const)));

/** The evidence symbols a message's tokens fire, in EVIDENCE order; options = the tokens that fired each, in EVIDENCE's order. */
export function evidenceSymbols(tokens: readonly string[]): StageSymbol[] {
  const fired: (Set<string> | undefined)[] = [];
  for (const t of tokens) {
    const i = BY_TOKEN.get(t);
    if (i !== undefined) (fired[i] ??= new Set()).add(t);
  }
  const out: StageSymbol[] = [];
  EVIDENCE.forEach((e, i) => {
    const f = fired[i];
    if (f) out.push({ symbol: e.symbol, score: null, options: e.tokens.filter((t) => f.has(t)) });
  });
  return out;
}

/** The verdict symbol, then the evidence. */
export function spamSymbols(s: Pick<SpamSection, 'verdict' | 'probability'>, tokens: readonly string[]): StageSymbol[] {
  return [{ symbol: `BAYES_${symbolWord(s.verdict)}`, score: s.probability, options: [s.probability.toFixed(3)] }, ...evidenceSymbols(tokens)];
}
