import { readFileSync } from 'node:fs';
import { train, type Labelled } from '../processors/spam/evaluate.ts';
import type { Label } from '../processors/spam/model.ts';
const raw = JSON.parse(readFileSync('/tmp/spam-tokens.json', 'utf8')) as [Label, string, string[]][];
const ex: Labelled[] = raw.map(([label, id, tokens]) => ({ label, id, tokens }));
function hash32(s: string): number { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; }
const arg = (n: string, d: number) => { const i = process.argv.indexOf('--' + n); return i >= 0 ? Number(process.argv[i + 1]) : d; };
const LR0 = arg('lr', 20), EPOCHS = arg('epochs', 10), ADA = arg('ada', 0), L2 = arg('l2', 0), NORM = arg('norm', 0.5), DECAY = arg('decay', 1);
class LR { w = new Map<string, number>(); g2 = new Map<string, number>(); b = 0;
  nrm(t: string[]) { return Math.pow(Math.max(1, t.length), -NORM); }
  margin(t: string[]) { let s = 0; for (const k of t) s += this.w.get(k) ?? 0; return s * this.nrm(t) + this.b; }
  step(t: string[], y: number, lr: number) { const p = 1 / (1 + Math.exp(-this.margin(t))); const g = p - y; const v = this.nrm(t);
    for (const k of t) { const w = this.w.get(k) ?? 0; const gk = g * v + L2 * w;
      if (ADA) { const a = (this.g2.get(k) ?? 0) + gk * gk; this.g2.set(k, a); this.w.set(k, w - lr * gk / Math.sqrt(a + 1e-8)); } else this.w.set(k, w - lr * gk); }
    this.b -= (ADA ? 0.01 : lr * 0.1) * g; } }
export function trainLR(items: Labelled[]) { const m = new LR(); const order = items.map((_, i) => i); for (let e = 0; e < EPOCHS; e++) { order.sort((a, b) => hash32(`${e}:${items[a]!.id}`) - hash32(`${e}:${items[b]!.id}`)); for (const i of order) m.step(items[i]!.tokens, items[i]!.label === 'spam' ? 1 : 0, DECAY ? LR0 / (1 + e) : LR0); } return m; }
const oracle = (s: number[], lab: Label[]) => { const hs = s.filter((_, i) => lab[i] === 'ham').sort((a, b) => b - a); const c = hs[2]!; const sp = s.filter((_, i) => lab[i] === 'spam'); return sp.filter((x) => x > c).length / sp.length * 100; };
const z = (a: number[]) => { const m = a.reduce((x, y) => x + y, 0) / a.length; const sd = Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / a.length); return a.map((x) => (x - m) / sd); };
const res: number[][] = [];
const rots = (process.argv.find((a) => a.startsWith('--rot='))?.slice(6) ?? '0,1,2,3,4').split(',').map(Number);
for (const r of rots) {
  const tr = ex.filter((_, i) => i % 5 !== r), te = ex.filter((_, i) => i % 5 === r);
  const lab = te.map((t) => t.label);
  const lm = trainLR(tr); const ls = te.map((t) => lm.margin(t.tokens));
  const row = [oracle(ls, lab)];
  if (arg('bayes', 0)) { const bm = train(tr); const bp = te.map((t) => bm.score(t.tokens).probability); row.push(oracle(bp, lab)); const bz = z(bp), lz = z(ls); row.push(oracle(bz.map((x, i) => x + lz[i]!), lab)); }
  res.push(row); console.log(`rot ${r}: ${row.map((x) => x.toFixed(2)).join(' ')}`);
}
console.log(`avg: ${res[0]!.map((_, j) => (res.reduce((s, r) => s + r[j]!, 0) / res.length).toFixed(2)).join(' ')}  min: ${res[0]!.map((_, j) => Math.min(...res.map((r) => r[j]!)).toFixed(2)).join(' ')}`);
