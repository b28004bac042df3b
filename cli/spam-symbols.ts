/**
 * `scop spam eval --symbols`: how often each of the spam stage's evidence symbols fires per corpus
 * and class (from the cached corpus tokens: the symbols derive from the tokens, so this is exactly
 * what the stage would emit for the stored message), and — with `--loco` — what the default policy's
 * weights for them change: every held-out message of each leave-one-corpus-out fold is decided by the
 * decision stage's own `decide()` with its fold's Bayes symbol, once without and once with the
 * evidence symbols. This is how the weights in default-policy.yaml were chosen (processors/spam/README.md).
 */
import { decide } from '../processors/decision/decide.ts';
import type { Policy } from '../processors/decision/policy.ts';
import { EVIDENCE, spamSymbols } from '../processors/spam/symbols.ts';
import { SEVERITY } from '../processors/decision/policy.ts';
import { templateMailRecord } from '../runtime/record-template.ts';
import type { MailRecord, MailSymbol } from '../schemas/types.ts';
import type { HeldOutResult, LocoExample } from './spam-loco.ts';

const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(1)} %` : '–');

/** Per (corpus, class): messages and, per evidence symbol, how many fire it. */
export function symbolHits(examples: readonly LocoExample[]): { group: string; n: number; hits: Map<string, number> }[] {
  const groups = new Map<string, { group: string; n: number; hits: Map<string, number> }>();
  for (const e of examples) {
    const key = `${e.corpus} ${e.label}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { group: key, n: 0, hits: new Map() }));
    g.n++;
    const present = new Set(e.tokens);
    for (const ev of EVIDENCE) if (ev.tokens.some((t) => present.has(t))) g.hits.set(ev.symbol, (g.hits.get(ev.symbol) ?? 0) + 1);
  }
  return [...groups.values()].sort((a, b) => a.group.localeCompare(b.group));
}

/** Markdown: one row per symbol, one column per (corpus, class), the share of its messages that fire it. */
export function symbolHitTable(rows: ReturnType<typeof symbolHits>): string {
  const head = `| symbol | ${rows.map((r) => `${r.group} (${r.n})`).join(' | ')} |`;
  const sep = `|---|${rows.map(() => '---').join('|')}|`;
  const body = EVIDENCE.map((e) => `| \`${e.symbol}\` | ${rows.map((r) => pct(r.hits.get(e.symbol) ?? 0, r.n)).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}

export interface EffectRow {
  fold: string;
  ham: number;
  spam: number;
  /** Messages at junk or above (caught) / at quarantine or above, without and with the evidence symbols. */
  hamJunk: [number, number];
  spamJunk: [number, number];
  hamQuarantine: [number, number];
  spamQuarantine: [number, number];
  /** Mean weight the evidence added, per class. */
  hamAdded: number;
  spamAdded: number;
}

/** Each held-out message decided by `decide()` with its fold's verdict symbol, without and with the evidence symbols. */
export function policyEffect(results: readonly HeldOutResult[], examples: readonly LocoExample[], policy: Policy): EffectRow[] {
  const byId = new Map(examples.map((e) => [`${e.corpus}\u0000${e.id}`, e]));
  const template = templateMailRecord('Subject: x\r\n\r\nx');
  const decided = (symbols: MailSymbol[]) => decide({ ...template, symbols } as MailRecord, policy).section;
  return results.map((r) => {
    const row: EffectRow = { fold: r.fold, ham: 0, spam: 0, hamJunk: [0, 0], spamJunk: [0, 0], hamQuarantine: [0, 0], spamQuarantine: [0, 0], hamAdded: 0, spamAdded: 0 };
    r.ids.forEach((id, i) => {
      const e = r.test.map((c) => byId.get(`${c}\u0000${id}`)).find((x) => x !== undefined);
      if (!e) throw new Error(`held-out message ${id} of ${r.fold} is not among the examples`);
      const p = r.scores[i]!;
      const verdict = p >= r.thresholds.spam ? 'spam' : p < r.thresholds.ham ? 'ham' : 'unsure';
      const all = spamSymbols({ verdict, probability: p }, e.tokens).map((s) => ({ ...s, stage: 'spam' as const }));
      const before = decided(all.slice(0, 1));
      const after = decided(all);
      const cls = e.label;
      row[cls]++;
      const junk = cls === 'ham' ? row.hamJunk : row.spamJunk;
      const quar = cls === 'ham' ? row.hamQuarantine : row.spamQuarantine;
      if (SEVERITY[before.action] >= SEVERITY.junk) junk[0]++;
      if (SEVERITY[after.action] >= SEVERITY.junk) junk[1]++;
      if (SEVERITY[before.action] >= SEVERITY.quarantine) quar[0]++;
      if (SEVERITY[after.action] >= SEVERITY.quarantine) quar[1]++;
      const added = (after.score ?? 0) - (before.score ?? 0);
      if (cls === 'ham') row.hamAdded += added; else row.spamAdded += added;
    });
    row.hamAdded /= row.ham || 1;
    row.spamAdded /= row.spam || 1;
    return row;
  });
}

export function policyEffectTable(rows: readonly EffectRow[]): string {
  const arrow = ([a, b]: [number, number], n: number) => `${pct(a, n)} → ${pct(b, n)}`;
  return [
    '| held out (ham / spam) | ham junk or worse (FP) | spam junk or worse (caught) | ham quarantined | spam quarantined | mean weight added ham / spam |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.fold} (${r.ham} / ${r.spam}) | ${arrow(r.hamJunk, r.ham)} | ${arrow(r.spamJunk, r.spam)} | ${arrow(r.hamQuarantine, r.ham)} | ${arrow(r.spamQuarantine, r.spam)} | ${r.hamAdded.toFixed(2)} / ${r.spamAdded.toFixed(2)} |`),
  ].join('\n');
}
