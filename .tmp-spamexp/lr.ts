import { readFileSync } from 'node:fs';
import { chooseThresholds, metrics, trainWithThresholds, type Labelled } from '../processors/spam/evaluate.ts';
import type { Label, Verdict } from '../processors/spam/model.ts';
const raw = JSON.parse(readFileSync('/tmp/spam-tokens.json', 'utf8')) as [Label, string, string[]][];
const ex: Labelled[] = raw.map(([label, id, tokens]) => ({ label, id, tokens }));
const arg = (n: string, d: number) => { const i = process.argv.indexOf('--' + n); return i >= 0 ? Number(process.argv[i + 1]) : d; };
const EPOCHS = arg('epochs', 5), LAMBDA = arg('lambda', 1e-4), LR0 = arg('lr', 0.5), NORM = arg('norm', 1), BAYES = arg('bayes', 0), UNS = arg('uns', 0.003), FP = arg('fp', 0.002);
const rots = (process.argv.find((a) => a.startsWith('--rot='))?.slice(6) ?? '0,2').split(',').map(Number);

function hash32(s: string): number { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; }
class LR {
  w = new Map<string, number>(); b = 0; scale = 1; t = 0;
  feats(tokens: string[]) { return { v: NORM ? 1 / Math.sqrt(Math.max(1, tokens.length)) : 1 }; }
  margin(tokens: string[]) { const { v } = this.feats(tokens); let s = 0; for (const t of tokens) { const x = this.w.get(t); if (x !== undefined) s += x; } return s * this.scale * v + this.b; }
  prob(tokens: string[]) { return 1 / (1 + Math.exp(-this.margin(tokens))); }
  step(tokens: string[], y: number, lr: number) {
    const p = this.prob(tokens); const g = p - y; const { v } = this.feats(tokens);
    this.scale *= 1 - lr * LAMBDA;
    if (this.scale < 1e-6) { for (const [k, x] of this.w) this.w.set(k, x * this.scale); this.scale = 1; }
    const d = (lr * g * v) / this.scale;
    for (const t of tokens) this.w.set(t, (this.w.get(t) ?? 0) - d);
    this.b -= lr * g * 0.1;
  }
}
function trainLR(items: Labelled[]): LR {
  const m = new LR();
  const order = items.map((_, i) => i);
  for (let e = 0; e < EPOCHS; e++) {
    order.sort((a, b) => hash32(`${e}:${items[a]!.id}`) - hash32(`${e}:${items[b]!.id}`));
    const lr = LR0 / (1 + e);
    for (const i of order) m.step(items[i]!.tokens, items[i]!.label === 'spam' ? 1 : 0, lr);
  }
  return m;
}
function oof(items: Labelled[], k = 5) { const out = new Array<number>(items.length); for (let f = 0; f < k; f++) { const m = trainLR(items.filter((_, i) => i % k !== f)); for (let i = f; i < items.length; i += k) out[i] = m.prob(items[i]!.tokens); } return out; }
const all: any[] = [];
for (const r of rots) {
  const t0 = performance.now();
  const tr = ex.filter((_, i) => i % 5 !== r), te = ex.filter((_, i) => i % 5 === r);
  const o = oof(tr);
  const th = chooseThresholds(o, tr.map((t) => t.label), { maxHamFpRate: FP, maxHamUnsureRate: UNS, minSpamCutoff: 0.01 });
  const m = trainLR(tr);
  const s = te.map((t) => m.prob(t.tokens));
  const v: Verdict[] = s.map((p) => (p >= th.spam ? 'spam' : p < th.ham ? 'ham' : 'unsure'));
  const mt = metrics(te.map((t) => t.label), v);
  // oracle: recall at ≤2 FP
  const hs = s.filter((_, i) => te[i]!.label === 'ham').sort((a, b) => b - a); const cut = hs[2]!;
  const orc = s.filter((p, i) => te[i]!.label === 'spam' && p > cut).length / mt.spam;
  console.log(`rot ${r}: acc ${(mt.accuracy * 100).toFixed(2)} rec ${(mt.spamRecall * 100).toFixed(2)} FP ${mt.confusion.ham.spam} hamUns ${mt.confusion.ham.unsure} spamUns ${mt.confusion.spam.unsure} spam→ham ${mt.confusion.spam.ham} th ${th.ham.toFixed(3)}/${th.spam.toFixed(3)} oracleRec@2FP ${(orc * 100).toFixed(2)} ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  all.push(mt);
}
const avg = (f: (m: any) => number) => (all.reduce((s, m) => s + f(m), 0) / all.length);
console.log(`avg acc ${(avg((m) => m.accuracy) * 100).toFixed(2)} rec ${(avg((m) => m.spamRecall) * 100).toFixed(2)} FP ${avg((m) => m.confusion.ham.spam).toFixed(1)}`);
