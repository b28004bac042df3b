import { readFileSync } from 'node:fs';
import { chooseThresholds, metrics, train, type Labelled } from '../processors/spam/evaluate.ts';
import type { Label, Verdict } from '../processors/spam/model.ts';
const raw = JSON.parse(readFileSync(process.env.TOK ?? '/tmp/spam-tokens.json', 'utf8')) as [Label, string, string[]][];
const vocab = new Map<string, number>();
const ex = raw.map(([label, id, tokens]) => ({ label, id, tokens, ids: Int32Array.from(tokens, (t) => { let v = vocab.get(t); if (v === undefined) { v = vocab.size; vocab.set(t, v); } return v; }) }));
type Ex = (typeof ex)[number];
function hash32(s: string): number { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; }
const arg = (n: string, d: number) => { const i = process.argv.indexOf('--' + n); return i >= 0 ? Number(process.argv[i + 1]) : d; };
const LR0 = arg('lr', 1), EPOCHS = arg('epochs', 20), NORM = arg('norm', 0.5), DECAY = arg('decay', 1), FP = arg('fp', 0.002), UNS = arg('uns', 0), PROTO = arg('proto', 1), BAYES = arg('bayes', 0);
const V = vocab.size; const EPS = arg('eps', 1e-12);
class LR { w = new Float64Array(V); g2 = new Float64Array(V); b = 0; bg = 0;
  nrm(n: number) { return Math.pow(Math.max(1, n), -NORM); }
  margin(t: Int32Array) { let s = 0; for (let i = 0; i < t.length; i++) s += this.w[t[i]!]!; return s * this.nrm(t.length) + this.b; }
  step(t: Int32Array, y: number, lr: number) { const p = 1 / (1 + Math.exp(-this.margin(t))); const g = p - y; const gk = g * this.nrm(t.length); const gg = gk * gk;
    for (let i = 0; i < t.length; i++) { const k = t[i]!; const a = this.g2[k]! + gg; this.g2[k] = a; this.w[k] -= lr * gk / Math.sqrt(a + EPS); }
    this.bg += g * g; this.b -= lr * g / Math.sqrt(this.bg + EPS); } }
function trainLR1(items: Ex[], seed: number) { const m = new LR(); const order = items.map((_, i) => i); for (let e = 0; e < EPOCHS; e++) { order.sort((a, b) => hash32(`${seed}${e}:${items[a]!.id}`) - hash32(`${seed}${e}:${items[b]!.id}`)); for (const i of order) m.step(items[i]!.ids, items[i]!.label === 'spam' ? 1 : 0, DECAY ? LR0 / Math.sqrt(1 + e) : LR0); } return m; }
const BAG = arg('bag', 1);
function trainLR(items: Ex[]) { const ms = Array.from({ length: BAG }, (_, k) => trainLR1(items, k ? k : ('' as any))); return { b: 0, margin: (t: Int32Array) => ms.reduce((s, m) => s + m.margin(t), 0) / BAG }; }
const sig = (x: number) => 1 / (1 + Math.exp(-x));
const oracle = (s: number[], lab: Label[]) => { const hs = s.filter((_, i) => lab[i] === 'ham').sort((a, b) => b - a); const c = hs[2]!; const sp = s.filter((_, i) => lab[i] === 'spam'); return sp.filter((x) => x > c).length / sp.length * 100; };
const rots = (process.argv.find((a) => a.startsWith('--rot='))?.slice(6) ?? '0,1,2,3,4').split(',').map(Number);
const all: any[] = [];
for (const r of rots) {
  const t0 = performance.now();
  const tr = ex.filter((_, i) => i % 5 !== r), te = ex.filter((_, i) => i % 5 === r);
  const lab = te.map((t) => t.label);
  const m = trainLR(tr); const s = te.map((t) => sig(m.margin(t.ids))); if (process.env.DBG) console.log(m.b, te.slice(0,3).map((t) => m.margin(t.ids)));
  let line = `rot ${r}: oracle ${oracle(s, lab).toFixed(2)}`;
  if (PROTO) {
    const o = new Array<number>(tr.length); for (let f = 0; f < 5; f++) { const mm = trainLR(tr.filter((_, i) => i % 5 !== f)); for (let i = f; i < tr.length; i += 5) o[i] = sig(mm.margin(tr[i]!.ids)); }
    const th = chooseThresholds(o, tr.map((t) => t.label), { maxHamFpRate: FP, maxHamUnsureRate: UNS, minSpamCutoff: 0.01 });
    const v: Verdict[] = s.map((p) => (p >= th.spam ? 'spam' : p < th.ham ? 'ham' : 'unsure'));
    const mt = metrics(lab, v); all.push(mt);
    line += ` acc ${(mt.accuracy * 100).toFixed(2)} rec ${(mt.spamRecall * 100).toFixed(2)} FP ${mt.confusion.ham.spam} hamUns ${mt.confusion.ham.unsure} spamUns ${mt.confusion.spam.unsure} spam→ham ${mt.confusion.spam.ham} th ${th.ham.toFixed(4)}/${th.spam.toFixed(4)}`;
  }
  console.log(line + ` ${((performance.now() - t0) / 1000).toFixed(1)}s`);
}
if (all.length) { const avg = (f: (m: any) => number) => (all.reduce((s, m) => s + f(m), 0) / all.length); console.log(`avg acc ${(avg((m) => m.accuracy) * 100).toFixed(2)} rec ${(avg((m) => m.spamRecall) * 100).toFixed(2)} FP ${avg((m) => m.confusion.ham.spam).toFixed(1)} hamUns ${avg((m) => m.confusion.ham.unsure).toFixed(1)}`); }
