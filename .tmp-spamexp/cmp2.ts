import { readFileSync } from 'node:fs';
import { fitLinear } from '../processors/spam/evaluate.ts';
const raw = JSON.parse(readFileSync('/tmp/spam-tokens.json', 'utf8')) as [any, string, string[]][];
const ex = raw.map(([label, id, tokens]) => ({ label, id, tokens }));
const tr = ex.filter((_, i) => i % 5 !== 0);
for (const ep of [10]) { const lin = fitLinear(tr, { learningRate: 2, lengthNorm: 0.5, epochs: ep }); console.log(ep, lin.bias); }
function hash32(s: string): number { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return h >>> 0; }
for (const EP of [10]) {
const w = new Map<string, number>(), g2 = new Map<string, number>(); let b = 0, bg = 0;
const order = tr.map((_, i) => i);
for (let e = 0; e < EP; e++) { order.sort((a, c) => hash32(`${e}:${tr[a]!.id}`) - hash32(`${e}:${tr[c]!.id}`)); const lr = 2 / Math.sqrt(1 + e);
  for (const i of order) { const t = tr[i]!.tokens; const nrm = Math.pow(t.length, -0.5); let s = 0; for (const k of t) s += w.get(k) ?? 0; const g = 1 / (1 + Math.exp(-(s * nrm + b))) - (tr[i]!.label === 'spam' ? 1 : 0); const gk = g * nrm;
    for (const k of t) { const a = (g2.get(k) ?? 0) + gk * gk; g2.set(k, a); w.set(k, (w.get(k) ?? 0) - lr * gk / Math.sqrt(a)); } bg += g * g; b -= lr * g / Math.sqrt(bg); } }
console.log('ref', EP, b); }
