/**
 * CPU per message of the corpus round trip, step by step, against a baseline measured in the same
 * run: mailparser (simpleParser, the stage's options) on SpamAssassin messages, interleaved with
 * the round trip so that whatever else loads the machine weighs on both alike.
 *
 * `npm run bench -- corpus-roundtrip [--count N] [--rounds R]`
 * Prints each step's CPU ms per message, the round trip / baseline ratio, and the time 1 M
 * messages take on W cores at that ratio given a baseline rate (--baseline-rate, messages/s of the
 * SpamAssassin parse on the target machine; bench/mime-parsers.ts measures it).
 */
import { simpleParser } from 'mailparser';
import { loadSpamAssassin } from '../corpus/spam-assassin/index.ts';
import { generateMessage } from '../corpus/src/generate.ts';
import { expectedTexts, expectedTree } from '../corpus/src/expected.ts';
import { compareEntity } from '../corpus/src/compare.ts';
import { encodeMessage } from '../corpus/src/encode.ts';
import { MAILPARSER_CAPS, mailparserTree } from '../corpus/harness/mailparser.ts';
import { modelFromParse } from '../corpus/harness/reencode.ts';
import { compareSection } from '../corpus/harness/section.ts';
import { analyseMime } from '../processors/mime/parse.ts';
import { MAILPARSER_OPTIONS, parseMail } from '../processors/mime/mailparser.ts';
import { StepCpu } from './lib/step-cpu.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const count = arg('count', 1000);
const rounds = arg('rounds', 3);
const workers = arg('workers', 2);
const sa = loadSpamAssassin(count);
const steps = new StepCpu();
const baseline = new StepCpu();
const cpu = <T>(key: string, f: () => T | Promise<T>): Promise<T> => steps.time(key, f);
const pass2 = { ...MAILPARSER_OPTIONS, skipHtmlToText: true };

for (let round = 0; round <= rounds; round++) {
  // Round 0 warms the JIT and is not counted: the sums restart once, after it, and add up over the
  // counted rounds, which the figures below divide by.
  if (round === 1) {
    steps.restart();
    baseline.restart();
  }
  for (let i = 0; i < count; i++) {
    await baseline.time('simpleParser', () => simpleParser(sa[i]!.raw, MAILPARSER_OPTIONS));
    const g = await cpu('generate + encode', () => generateMessage('bench', i));
    const exp = await cpu('expected tree', () => expectedTree(g));
    const a = await cpu('parse 1 (analyseMime)', () => analyseMime(g.encoded.bytes, { guessLanguage: false, contentChecks: false }));
    await cpu('compare 1 + section', () => { compareEntity(exp.root, mailparserTree(a.parsed!), MAILPARSER_CAPS); compareSection(exp, a.section, expectedTexts(g.generated.root)); });
    const again = await cpu('re-encode', () => encodeMessage(modelFromParse(a.parsed!)).bytes);
    const p = await cpu('parse 2 (parseMail)', () => parseMail(again, undefined, pass2));
    await cpu('compare 2', () => compareEntity(exp.root, mailparserTree(p), MAILPARSER_CAPS));
  }
}
let rt = 0;
console.log(`corpus round trip, ${count} messages × ${rounds} rounds, node ${process.version}; CPU ms per message:`);
for (const [k, ms] of steps.perMessageMs(count, rounds)) {
  rt += ms;
  console.log(`  ${k.padEnd(24)} ${ms.toFixed(3)}`);
}
const base = baseline.perMessageMs(count, rounds).get('simpleParser')!;
console.log(`  ${'round trip'.padEnd(24)} ${rt.toFixed(3)}`);
console.log(`  baseline: simpleParser on SpamAssassin ${base.toFixed(3)} ms per message`);
console.log(`ratio round trip / baseline: ${(rt / base).toFixed(2)}`);
const rate = arg('baseline-rate', 1365); // processors/mime/README.md, quiet 2-core box, one process
const projected = (1e6 * (rt / base)) / rate / workers / 60;
console.log(`1 M messages on ${workers} cores at a baseline of ${rate} messages/s: ${projected.toFixed(1)} min (CPU-bound, ${workers} workers)`);
