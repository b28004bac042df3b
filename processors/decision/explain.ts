/**
 * What `scop explain <record id>` prints (issue 16), like `rspamc symbols`: every symbol the
 * decision weighed with its weight, group, score and options, the total, the thresholds that
 * applied, the action, the rule that forced it and the policy version that decided. From the
 * record's decision section as written (what happened), or — with a policy given — weighed again
 * now (what that policy would do). Pure: the caller finds the record and prints.
 */
import type { DecisionSection, MailRecord } from '../../schemas/types.ts';
import { decide } from './decide.ts';
import type { Policy } from './policy.ts';

export interface Explanation {
  id: string;
  receivedAt: number;
  from: string;
  to: string[];
  /** 'recorded': the decision on the record; 'reweighed': decided again with `policySource`. */
  mode: 'recorded' | 'reweighed';
  policySource: string | null;
  decision: DecisionSection;
  /** The record's symbols as the stages emitted them (the decision may also have derived some: `weighed[].derived`). */
  symbols: MailRecord['symbols'];
}

/** The explanation of a record's decision; with `policy`, the decision that policy makes now. */
export function explain(record: MailRecord, policy?: Policy): Explanation | null {
  const e = record.envelope;
  const decision = policy ? decide(record, policy).section : record.decision;
  if (!decision) return null;
  return { id: e.id, receivedAt: e.receivedAt, from: e.mailFrom, to: e.rcptTo, mode: policy ? 'reweighed' : 'recorded', policySource: policy?.source ?? null, decision, symbols: record.symbols ?? [] };
}

const num = (n: number) => (Math.round(n * 100) / 100).toFixed(2);
const signed = (n: number) => `${n >= 0 ? '+' : ''}${num(n)}`;

/**
 * The text form, one fact per line. Every value that came with the message (addresses, options,
 * reasons) goes through `clean` (the CLI passes its terminal escaper).
 */
export function explainText(x: Explanation, clean: (s: string) => string = (s) => s): string {
  const d = x.decision;
  const lines = [
    `record:     ${clean(x.id)}  received ${new Date(x.receivedAt).toISOString()}`,
    `envelope:   <${clean(x.from)}> → ${x.to.map((t) => `<${clean(t)}>`).join(', ')}`,
    `action:     ${d.action}${d.forcedBy ? `  (forced by ${clean(d.forcedBy)})` : ''}`,
  ];
  if (d.score === null) {
    // Decided before the policy file: only prose reasons were written.
    lines.push('score:      - (decided before the policy file: no symbols were weighed; --policy weighs it now)');
    lines.push(`decided:    ${new Date(d.decidedAt).toISOString()} by decision ${clean(d.stageVersion)}`);
    for (const r of d.reasons) lines.push(`  reason:   ${clean(r)}`);
    return `${lines.join('\n')}\n`;
  }
  const thresholds = d.thresholds.length ? d.thresholds.map((t) => `${t.action} ${num(t.score)}`).join(', ') : '(none: only forced rules decide)';
  lines.push(
    `score:      ${num(d.score)}   thresholds: ${thresholds}`,
    `policy:     ${clean(d.policyVersion ?? '-')}${d.policyDomain ? ` (the policy of ${clean(d.policyDomain)})` : ''}${x.mode === 'reweighed' ? `  weighed now with ${clean(x.policySource ?? '')}` : ''}`,
    `decided:    ${new Date(d.decidedAt).toISOString()} by decision ${clean(d.stageVersion)}`,
    // decide() writes a deciding line first unless nothing applied (deliver, no rule, below every threshold).
    `deciding:   ${d.action === 'deliver' && d.forcedBy === null ? 'deliver: below every threshold' : clean(d.reasons[0] ?? '-')}`,
    `symbols (${d.weighed.length}):`,
  );
  const width = Math.min(48, Math.max(8, ...d.weighed.map((w) => w.symbol.length)));
  for (const w of d.weighed) {
    const opts = w.options.length ? `{${w.options.map(clean).join(',')}}` : '';
    const extra = [
      w.score !== null ? `score=${Math.round(w.score * 1e4) / 1e4}` : null,
      w.group ? `group=${clean(w.group)}` : null,
      w.derived ? 'derived from the section' : null,
    ].filter((s) => s !== null).join(' ');
    lines.push(`  ${signed(w.weight).padStart(7)}  ${clean(w.symbol).padEnd(width)}  ${w.stage.padEnd(8)}  ${opts}${extra ? `  ${extra}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

