import { readFileSync } from 'node:fs';
import { train, type Labelled } from '../processors/spam/evaluate.ts';
import type { Label } from '../processors/spam/model.ts';
const raw = JSON.parse(readFileSync('/tmp/spam-tokens.json', 'utf8')) as [Label, string, string[]][];
const ex: Labelled[] = raw.map(([label, id, tokens]) => ({ label, id, tokens }));
function hash32(s: string): number { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; }
const LAMBDA = 1e-6, LR0 = 20, EPOCHS = 10;
class LR { w = new Map<string, number>(); b = 0;
  margin(t: string[]) { let s = 0; for (const k of t) s += this.w.get(k) ?? 0; return s / Math.sqrt(Math.max(1, t.length)) + this.b; }
  step(t: string[], y: number, lr: number) { const p = 1 / (1 + Math.exp(-this.margin(t))); const g = p - y; const d = lr * g / Math.sqrt(Math.max(1, t.length)); for (const k of t) this.w.set(k, (this.w.get(k) ?? 0) - d); this.b -= lr * g * 0.1; } }
function trainLR(items: Labelled[]) { const m = new LR(); const order = items.map((_, i) => i); for (let e = 0; e < EPOCHS; e++) { order.sort((a, b) => hash32(`${e}:${items[a]!.id}`) - hash32(`${e}:${items[b]!.id}`)); for (const i of order) m.step(items[i]!.tokens, items[i]!.label === 'spam' ? 1 : 0, LR0 / (1 + e)); } return m; }
const rots = (process.argv[2] ?? '0,2').split(',').map(Number);
const oracle = (s: number[], lab: Label[]) => { const hs = s.filter((_, i) => lab[i] === 'ham').sort((a, b) => b - a); const c = hs[2]!; const sp = s.filter((_, i) => lab[i] === 'spam'); return (sp.filter((x) => x > c).length / sp.length * 100).toFixed(2); };
for (const r of rots) {
  const tr = ex.filter((_, i) => i % 5 !== r), te = ex.filter((_, i) => i % 5 === r);
  const lab = te.map((t) => t.label);
  const bm = train(tr); const lm = trainLR(tr);
  const bs = te.map((t) => bm.score(t.tokens)); const ls = te.map((t) => lm.margin(t.tokens));
  const bp = bs.map((s) => s.probability), bsc = bs.map((s) => s.score);
  const z = (a: number[]) => { const m = a.reduce((x, y) => x + y, 0) / a.length; const sd = Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / a.length); return a.map((x) => (x - m) / sd); };
  const bz = z(bp), lz = z(ls), scz = z(bsc);
  const rank = (a: number[]) => { const o = a.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]); const out = new Array<number>(a.length); o.forEach(([, i], k) => (out[i] = k)); return out; };
  const br = rank(bp), lrk = rank(ls);
  console.log(`rot ${r}: bayesP ${oracle(bp, lab)} bayesScore ${oracle(bsc, lab)} LR ${oracle(ls, lab)} z(bp)+z(lr) ${oracle(bz.map((x, i) => x + lz[i]!), lab)} z(sc)+z(lr) ${oracle(scz.map((x, i) => x + lz[i]!), lab)} rank ${oracle(br.map((x, i) => x + lrk[i]!), lab)} min-rank ${oracle(br.map((x, i) => Math.min(x, lrk[i]!)), lab)} max-rank ${oracle(br.map((x, i) => Math.max(x, lrk[i]!)), lab)}`);
  // the missed spam by both
  const hs = bp.filter((_, i) => lab[i] === 'ham').sort((a, b) => b - a);
  const missed = te.map((t, i) => ({ id: t.id, bp: bp[i]!, l: ls[i]!, lab: lab[i] })).filter((x) => x.lab === 'spam' && x.bp < 0.5);
  if (process.argv[3]) for (const m of missed) console.log(`  missed ${m.id} bayes ${m.bp.toFixed(3)} lr ${m.l.toFixed(2)}`);
}
