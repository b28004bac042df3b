/** Text reports of a tally: one line per (pass, class, documented difference), with the smallest examples. */
import type { Row, Tally } from './tally.ts';

const show = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));

export function rowsTable(rows: Row[], withExamples = true): string {
  const lines: string[] = [];
  const sorted = [...rows].sort((a, b) => (a.known === null ? 0 : 1) - (b.known === null ? 0 : 1) || b.messages - a.messages);
  for (const r of sorted) {
    lines.push(`  ${String(r.messages).padStart(8)}  ${r.pass.padEnd(8)}  ${r.cls.padEnd(30)}  ${r.known ? `documented: ${r.known}` : 'MISMATCH'}`);
    if (withExamples) for (const e of r.examples) lines.push(`            e.g. ${e.id} (${e.size} B) at "${e.path}" ${e.detail}: expected ${show(e.expected)}, got ${show(e.actual)}`);
  }
  return lines.join('\n');
}

export function summary(t: Tally): string {
  return `${t.messages} messages: ${t.mismatched} with mismatches, ${t.documentedOnly} with documented differences only`;
}
