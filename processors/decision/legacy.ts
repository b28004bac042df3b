/**
 * Records written before the stages emitted symbols (or by a stage not yet upgraded, during a
 * rolling upgrade) still decide: for each stage section that is present while that stage left no
 * symbol, the decision derives the symbols the previous decision rules looked at, under the names
 * the stages use now. They are marked `derived` in the decision and are not added to the record's
 * symbols (those are the stages' own).
 *
 * Kept apart from the stages' symbol modules on purpose: processors never import each other, and
 * this mapping reads the old sections only, so it need not follow the stages' later symbols. A stage
 * that found nothing leaves no symbol either; deriving from its section then finds nothing too.
 */
import { symbolWord as upper } from '../../runtime/stage.ts';
import type { MailRecord, MailSymbol, SymbolStage } from '../../schemas/types.ts';


type Derive = (r: MailRecord) => Omit<MailSymbol, 'stage'>[];

const DERIVE: [SymbolStage, Derive][] = [
  ['auth', (r) => {
    const d = r.auth!.dmarc;
    return d.disposition === 'reject' || d.disposition === 'quarantine' ? [{ symbol: `DMARC_POLICY_${upper(d.disposition)}`, score: null, options: d.fromDomain ? [d.fromDomain] : [] }] : [];
  }],
  ['spam', (r) => [{ symbol: `BAYES_${upper(r.spam!.verdict)}`, score: r.spam!.probability, options: [r.spam!.probability.toFixed(3)] }]],
  ['mime', (r) => {
    const byFlag = new Map<string, string[]>();
    for (const a of r.mime!.attachments) {
      for (const f of a.flags) byFlag.set(f, [...(byFlag.get(f) ?? []), a.virus && f === 'virus' ? a.virus : a.filename ?? '(unnamed)']);
    }
    if (r.mime!.tags.includes('virus') && !byFlag.has('virus')) byFlag.set('virus', ['found']);
    return [...byFlag].map(([f, options]) => ({ symbol: `MIME_${upper(f)}`, score: null, options: [...new Set(options)].slice(0, 8) }));
  }],
  ['firewall', (r) => {
    const f = r.firewall!;
    return [
      ...(f.prefixScore > 0 ? [{ symbol: 'REPUTATION_BAD_NET', score: f.prefixScore, options: [f.clientPrefix] }] : []),
      ...(f.prefixBlocked ? [{ symbol: 'REPUTATION_BLOCKED_NET', score: null, options: [f.clientPrefix] }] : []),
      ...(f.domainScore ? [{ symbol: 'REPUTATION_BAD_DOMAIN', score: f.domainScore, options: [f.senderDomain ?? ''] }] : []),
    ];
  }],
];

/** Symbols for the sections whose stage left none on the record, stamped with that stage. */
export function derivedSymbols(record: MailRecord): MailSymbol[] {
  const present = new Set((record.symbols ?? []).map((s) => s.stage));
  const out: MailSymbol[] = [];
  for (const [stage, derive] of DERIVE) {
    if (record[stage as 'auth' | 'spam' | 'mime' | 'firewall'] && !present.has(stage)) out.push(...derive(record).map((s) => ({ ...s, stage })));
  }
  return out;
}
