/** Counts of findings by pass and class, with the smallest examples of each (mergeable across workers). */
import type { Checked, Pass } from './check.ts';

export interface Example {
  id: string;
  index: number;
  size: number;
  path: string;
  detail: string;
  expected: unknown;
  actual: unknown;
}

export interface Row {
  /** The round trip's pass, or the implementation in a differential run. */
  pass: Pass | 'error' | (string & {});
  cls: string;
  known: string | null;
  /** Messages with at least one such finding. */
  messages: number;
  examples: Example[];
}

const EXAMPLES = 3;

export class Tally {
  messages = 0;
  /** Messages with at least one finding that is not a documented difference. */
  mismatched = 0;
  documentedOnly = 0;
  rows = new Map<string, Row>();

  private row(pass: Row['pass'], cls: string, known: string | null): Row {
    const k = `${pass}\u0000${cls}\u0000${known ?? ''}`;
    let r = this.rows.get(k);
    if (!r) this.rows.set(k, (r = { pass, cls, known, messages: 0, examples: [] }));
    return r;
  }

  private example(r: Row, e: Example): void {
    r.examples.push(e);
    r.examples.sort((a, b) => a.size - b.size || a.index - b.index);
    if (r.examples.length > EXAMPLES) r.examples.length = EXAMPLES;
  }

  add(c: Pick<Checked, 'id' | 'index' | 'size' | 'findings'>): void {
    this.messages++;
    const seen = new Set<Row>();
    for (const f of c.findings) {
      const r = this.row(f.pass, f.d.class, f.known);
      if (seen.has(r)) continue;
      seen.add(r);
      r.messages++;
      const trim = (v: unknown) => (typeof v === 'string' && v.length > 200 ? v.slice(0, 200) + '…' : v);
      this.example(r, { id: c.id, index: c.index, size: c.size, path: f.d.path, detail: f.d.detail, expected: trim(f.d.expected), actual: trim(f.d.actual) });
    }
    if (c.findings.some((f) => f.known === null)) this.mismatched++;
    else if (c.findings.length) this.documentedOnly++;
  }

  error(index: number, e: Error, pass = 'error'): void {
    this.messages++;
    this.mismatched++;
    const r = this.row(pass, e.message.slice(0, 80), null);
    r.messages++;
    this.example(r, { id: String(index), index, size: 0, path: '', detail: (e.stack ?? e.message).slice(0, 500), expected: null, actual: null });
  }

  merge(o: ReturnType<Tally['toJSON']>): void {
    this.messages += o.messages;
    this.mismatched += o.mismatched;
    this.documentedOnly += o.documentedOnly;
    for (const r of o.rows) {
      const mine = this.row(r.pass, r.cls, r.known);
      mine.messages += r.messages;
      for (const e of r.examples) this.example(mine, e);
    }
  }

  toJSON() {
    return { messages: this.messages, mismatched: this.mismatched, documentedOnly: this.documentedOnly, rows: [...this.rows.values()] };
  }
}
