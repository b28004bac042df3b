import { readFileSync } from 'node:fs';
import { evaluateRotation, rotationTable } from '../cli/spam.ts';
import type { Labelled } from '../processors/spam/evaluate.ts';
const raw = JSON.parse(readFileSync('/tmp/spam-tokens.json', 'utf8')) as [any, string, string[]][];
const ex: Labelled[] = raw.map(([label, id, tokens]) => ({ label, id, tokens }));
const rs = [0, 1, 2, 3, 4].map((k) => { const r = evaluateRotation(ex, k); console.error(k, r.trainSeconds.toFixed(1), r.metrics.accuracy, r.metrics.spamRecall, r.metrics.confusion.ham.spam); return r; });
console.log(rotationTable(rs));
process.exit(0);
