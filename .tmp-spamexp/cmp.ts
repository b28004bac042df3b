import { readFileSync } from 'node:fs';
import { fitLinear, train } from '../processors/spam/evaluate.ts';
const raw = JSON.parse(readFileSync('/tmp/spam-tokens.json', 'utf8')) as [any, string, string[]][];
const ex = raw.map(([label, id, tokens]) => ({ label, id, tokens }));
const tr = ex.filter((_, i) => i % 5 !== 0), te = ex.filter((_, i) => i % 5 === 0);
const lin = fitLinear(tr);
const m = train(tr);
console.log(lin.bias, lin.weights.size, te.slice(0, 3).map((t) => [lin.margin(t.tokens), m.score(t.tokens).score]));
console.log(tr.slice(0,3).map(t=>t.id));
