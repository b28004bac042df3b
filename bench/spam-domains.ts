/**
 * `npm run bench -- spam-domains [domains=100] [tokens=2000] [labels=200]`: the memory and scoring cost
 * of per-recipient-domain models (processors/spam/domain-model.ts) with the shipped default model.
 *
 * Each domain learns `labels` synthetic labels (messages of 150 tokens: 120 drawn from the default
 * model's vocabulary, 30 of the domain's own), so its residual fills up to the SPAM_LEARNER_DOMAIN_MAX_TOKENS
 * cap (`tokens`) and is pruned as in production. Reports the heap of the global model alone, of the
 * residuals live (a batch's working copies: counts + weights + AdaGrad sums), in the learner's
 * serialised published store, and as a scorer holds them (weights only), and the CPU time of a blended
 * score as a ratio to a global-only score measured in the same run.
 */
import { DEFAULT_MODEL_FILE, loadDefaultModel } from '../processors/spam/default-model.ts';
import { blendedScore, emptyDelta, forScoring, learnResidual } from '../processors/spam/domain-model.ts';
import { PublishedResiduals } from '../processors/spam/learner/domains.ts';
import { BayesModel } from '../processors/spam/model.ts';

const [domains = 100, maxTokens = 2000, labels = 200] = process.argv.slice(2).map(Number);
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
// Heap plus ArrayBuffers: the learner's published store is Buffers, outside the JS heap proper.
const heap = () => { global.gc?.(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };

const h0 = heap();
const data = loadDefaultModel(DEFAULT_MODEL_FILE);
if (!data) throw new Error(`no default model at ${DEFAULT_MODEL_FILE}`);
const model = BayesModel.fromData(data);
const hGlobal = heap() - h0;
const vocab = [...model.counts.keys()];

// A deterministic generator (no Math.random: the same figures on every run).
let seed = 42;
const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const message = (domain: number, i: number) => {
  const t = new Set<string>();
  while (t.size < 120) t.add(vocab[rand(vocab.length)]!);
  for (let j = 0; j < 30; j++) t.add(`d${domain}-w${(i * 7 + j) % 2000}`);
  return [...t];
};

const t0 = process.cpuUsage();
const h1 = heap();
let live: BayesModel[] = [];
for (let d = 0; d < domains; d++) {
  const delta = emptyDelta(model);
  for (let i = 0; i < labels; i++) learnResidual(delta, model, message(d, i), i % 3 ? 'ham' : 'spam', maxTokens);
  live.push(delta);
  if ((d + 1) % Math.max(1, Math.floor(domains / 10)) === 0) process.stderr.write(`\rlearning: ${d + 1}/${domains} domains`);
}
process.stderr.write('\n');
const learnMs = process.cpuUsage(t0);
const hLive = heap() - h1;
const weights = live.reduce((s, m) => s + m.linear!.weights.size, 0);

// The learner's published form: serialised (learner/domains.ts); a batch decodes only the domains it touches.
const store = new PublishedResiduals();
live.forEach((m, d) => store.set(`d${d}.example`, m, { version: '', previousVersion: null, lastLabelAt: 0 }));
live = [];

// The scorer's form: decoded, weights only.
let scorerSide = [...store.keys()].map((name) => forScoring(store.get(name)!));

const sample = Array.from({ length: 2000 }, (_, i) => message(i % domains, 10_000 + i));
const cpu = (fn: () => void) => { const c = process.cpuUsage(); fn(); const u = process.cpuUsage(c); return (u.user + u.system) / 1000; };
let sink = 0;
const globalMs = cpu(() => { for (const t of sample) sink += model.score(t).probability; });
const blendMs = cpu(() => { sample.forEach((t, i) => { sink += blendedScore(model, scorerSide[i % domains]!, t).probability; }); });
const decodeMs = cpu(() => { for (let i = 0; i < 100; i++) sink += store.get(`d${i % domains}.example`)!.nham; }) / 100;
// Each form's size by what its release frees (robust to garbage from before).
const storeBytes = store.bytes();
let h = heap();
scorerSide = [];
const hScorer = h - heap();
// The store is Buffers (v8.serialize): their bytes are its size; V8 frees them lazily, so a heap delta says nothing.
const hStore = storeBytes;

console.log(`global model: ${model.counts.size} tokens, ~${mb(hGlobal)} heap`);
console.log(`${domains} domains × ≤ ${maxTokens} tokens (${labels} labels each, ${weights} weights in all; learning ${((learnMs.user + learnMs.system) / 1000 / (domains * labels)).toFixed(3)} CPU-ms per label)`);
console.log(`  live residuals (counts + weights + AdaGrad sums; the learner's working copies; tokens shared with the global model's strings): ~${mb(hLive)} heap, ${(hLive / Math.max(1, weights)).toFixed(0)} bytes per weight`);
console.log(`  learner's published store (serialised): ${mb(hStore)}, ${(hStore / Math.max(1, weights)).toFixed(0)} bytes per weight; decoding one domain ${decodeMs.toFixed(2)} CPU-ms`);
console.log(`  scorer (weights only): ~${mb(hScorer)} heap, ${(hScorer / Math.max(1, weights)).toFixed(0)} bytes per weight`);
console.log(`  global + domains: learner ~${mb(2 * hGlobal + hStore)} (with its working copy of the global model), scorer ~${mb(hGlobal + hScorer)} — goal < 200 MB`);
console.log(`scoring ${sample.length} messages: blended / global-only CPU time = ${(blendMs / globalMs).toFixed(2)} (${(blendMs / sample.length).toFixed(4)} vs ${(globalMs / sample.length).toFixed(4)} CPU-ms per message)${global.gc ? '' : ' (run with --expose-gc for exact heap figures)'}`);
if (Number.isNaN(sink)) console.log('');
