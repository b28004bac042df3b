/**
 * Leave-one-corpus-out: the headline evaluation of the spam model (issue 17). Each fold holds out
 * one group of corpora, trains on every other shippable corpus (thresholds and calibration from the
 * training corpora only), and scores the held-out group. A group has both classes: the corpora with
 * one class are paired (modern list ham with the phishing honeypot; Enron's ham with a Gmail user's
 * spam). Corpora from the same origin leave together (Enron's raw inboxes and Enron-Spam's ham are
 * the same company's mail).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ALL_CORPORA, corporaAvailable, corpusOrigin, SHARED_CORPORA, SPAMASSASSIN_CORPUS } from '../corpus/shared-corpora.ts';
import { ConfigError } from '../runtime/config.ts';
import { auc, crossValidatedScores, metrics, recallAtFp, type Metrics, type SourcedLabelled } from '../processors/spam/evaluate.ts';
import type { BayesModel, Label } from '../processors/spam/model.ts';
import { trainGeneral, type GeneralTrainOptions } from '../processors/spam/general.ts';
import { tokenize, TOKENIZER_VERSION } from '../processors/spam/tokenizer.ts';
import { CORPUS_CACHE_DIR, corpusExamples, type CorpusExample } from './spam-corpus.ts';

export const SHIPPABLE = new Set([SPAMASSASSIN_CORPUS, ...SHARED_CORPORA.filter((c) => c.shippable).map((c) => c.name)]);

export interface Fold {
  name: string;
  /** Held-out corpora. */
  test: string[];
}

export const LOCO_FOLDS: Fold[] = [
  { name: 'spamassassin', test: ['spamassassin'] },
  { name: 'foff', test: ['foff'] },
  { name: 'enron-spam', test: ['enron-spam'] },
  { name: 'lists + phishing', test: ['lists', 'phishing'] },
  { name: 'enron + glitchy', test: ['enron', 'glitchy'] },
];

export interface LocoExample extends SourcedLabelled {
  corpus: string;
  id: string;
}

export { ALL_CORPORA, corporaAvailable };

/** The tokenizer's own source: a token cache is valid only for the code that made it. */
function tokenizerHash(): string {
  const h = createHash('sha256');
  for (const f of ['tokenizer.ts', 'html.ts', 'obfuscation.ts', 'bounds.ts']) h.update(readFileSync(fileURLToPath(new URL(`../processors/spam/${f}`, import.meta.url))));
  return h.digest('hex').slice(0, 12);
}

/**
 * A corpus's token cache: one JSON line per example, gzipped. `origin` is not stored: it follows from
 * the corpus (corpusOrigin) and is set on reading, so a regrouping of the corpora needs no rebuild;
 * files written when it was stored read the same (the stored one is replaced).
 */
export function writeTokenCache(file: string, examples: readonly LocoExample[]): void {
  writeFileSync(`${file}.tmp`, gzipSync(examples.map(({ origin: _, ...e }) => JSON.stringify(e)).join('\n'), { level: 1 }));
  renameSync(`${file}.tmp`, file);
}

export function readTokenCache(file: string, origin: string): LocoExample[] {
  const examples: LocoExample[] = [];
  for (const l of gunzipSync(readFileSync(file)).toString('utf8').split('\n')) if (l) examples.push({ ...(JSON.parse(l) as LocoExample), origin });
  return examples;
}

/** Every corpus parsed (cached) and tokenized with today's tokenizer (tokens cached too, keyed by the tokenizer's source). */
export async function locoExamples(corpora: readonly string[] = ALL_CORPORA, onProgress?: (what: string, done: number, total: number) => void): Promise<LocoExample[]> {
  const examples: LocoExample[] = [];
  const hash = tokenizerHash();
  for (const name of corpora) {
    const origin = corpusOrigin(name);
    const file = join(CORPUS_CACHE_DIR, `${name}.tokens-${TOKENIZER_VERSION}-${hash}.jsonl.gz`);
    if (existsSync(file)) {
      examples.push(...readTokenCache(file, origin));
      onProgress?.(`tokens ${name} (cached)`, 1, 1);
      continue;
    }
    const parsed = await corpusExamples(name, (d, t) => onProgress?.(`parse ${name}`, d, t));
    const mine: LocoExample[] = [];
    parsed.forEach((e, i) => {
      mine.push({ id: e.id, corpus: e.corpus, source: e.source, origin, label: e.label, tokens: tokenize(e.input) });
      if ((i + 1) % 1000 === 0 || i + 1 === parsed.length) onProgress?.(`tokenize ${name}`, i + 1, parsed.length);
    });
    writeTokenCache(file, mine);
    examples.push(...mine);
  }
  return examples;
}

export interface HeldOutResult {
  fold: string;
  test: string[];
  ham: number;
  spam: number;
  metrics: Metrics;
  auc: number;
  /** Recall with the best cutoff for ham FP ≤ 0.25 % / = 0 (chosen on the held-out set: an upper bound). */
  recallAt025: number;
  recallAt0: number;
  /** The probabilities given to the held-out messages, in test order. */
  scores: number[];
  labels: Label[];
  ids: string[];
  thresholds: { ham: number; spam: number };
  trainSeconds: number;
  /** With `topHam`: the held-out ham that scored highest (recall at a low FP is decided by them), and why. */
  topHam?: TopHam[];
}

/** A held-out ham message near the top of the scores, and the tokens that pushed it there. */
export interface TopHam {
  id: string;
  probability: number;
  /** Share of the held-out spam that scored below it. */
  spamBelow: number;
  /** Its tokens with the largest positive (spam-side) contributions to the margin, largest first: [token, weight × n^-lengthNorm]. */
  strongest: [string, number][];
}

/**
 * The `n` highest-scoring ham of `items` under `model`, each with its `k` strongest spam-side tokens.
 * A token's contribution is what it adds to the margin (its weight × known^-lengthNorm, model.ts),
 * so the contributions of one message add up to its margin minus the bias. Token names only: no
 * message text leaves this function.
 */
export function topHamOf(model: BayesModel, items: readonly SourcedLabelled[], ids: readonly string[], n: number, k = 12): TopHam[] {
  const lin = model.linear;
  if (!lin || n <= 0) return [];
  const probs = items.map((e) => model.score(e.tokens).probability);
  const spam = probs.filter((_, i) => items[i]!.label === 'spam').sort((a, b) => a - b);
  const below = (p: number) => { let lo = 0, hi = spam.length; while (lo < hi) { const mid = (lo + hi) >> 1; if (spam[mid]! < p) lo = mid + 1; else hi = mid; } return lo; };
  const order = items.map((_, i) => i).filter((i) => items[i]!.label === 'ham').sort((a, b) => probs[b]! - probs[a]! || (ids[a]! < ids[b]! ? -1 : 1)).slice(0, n);
  return order.map((i) => {
    const known = items[i]!.tokens.filter((t) => lin.weights.has(t));
    const scale = Math.pow(Math.max(1, known.length), -lin.options.lengthNorm);
    const strongest = known.map((t) => [t, lin.weights.get(t)![0] * scale] as [string, number]).filter(([, c]) => c > 0)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, k);
    return { id: ids[i]!, probability: probs[i]!, spamBelow: spam.length ? below(probs[i]!) / spam.length : 0, strongest };
  });
}

/** One fold: train on every shippable corpus whose source the held-out group does not share, score the group. */
export function runFold(all: readonly LocoExample[], fold: Fold, options?: Partial<GeneralTrainOptions>, trainCorpora: ReadonlySet<string> = SHIPPABLE, topHam = 0): HeldOutResult {
  const testSet = all.filter((e) => fold.test.includes(e.corpus));
  const heldSources = new Set(testSet.map((e) => e.source));
  const trainSet = all.filter((e) => trainCorpora.has(e.corpus) && !fold.test.includes(e.corpus) && !heldSources.has(e.source));
  const t0 = performance.now();
  const model = trainGeneral(trainSet, options);
  const trainSeconds = (performance.now() - t0) / 1000;
  const scores = testSet.map((e) => model.score(e.tokens).probability);
  const labels = testSet.map((e) => e.label);
  return {
    fold: fold.name, test: fold.test, ham: labels.filter((l) => l === 'ham').length, spam: labels.filter((l) => l === 'spam').length,
    metrics: metrics(labels, scores.map((s) => model.verdictFor(s))), auc: auc(scores, labels),
    recallAt025: recallAtFp(scores, labels, 0.0025), recallAt0: recallAtFp(scores, labels, 0),
    scores, labels, ids: testSet.map((e) => e.id), thresholds: { ...model.thresholds }, trainSeconds,
    ...(topHam > 0 ? { topHam: topHamOf(model, testSet, testSet.map((e) => `${e.corpus}/${e.id}`), topHam) } : {}),
  };
}

/** `--top-ham <n>`: a whole number 1–1000. */
export function topHamCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new ConfigError('--top-ham', `"${value}" is not a count`, 'give a whole number from 1 to 1000, e.g. --top-ham 20');
  return n;
}

/** One held-out group's top ham, one line each, and the tokens most often among their strongest (how many of them, summed contribution). */
export function topHamReport(fold: string, top: readonly TopHam[]): string {
  const shared = new Map<string, [number, number]>();
  for (const h of top) for (const [t, c] of h.strongest) { const e = shared.get(t) ?? [0, 0]; e[0]++; e[1] += c; shared.set(t, e); }
  const common = [...shared].sort((a, b) => b[1][1] - a[1][1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
  return [
    `highest-scoring held-out ham, ${fold} (probability, share of the held-out spam below it, strongest spam-side tokens):`,
    ...top.map((h) => `  ${h.id} ${h.probability.toFixed(3)} ${(h.spamBelow * 100).toFixed(0)} % | ${h.strongest.map(([t, c]) => `${t} ${c.toFixed(2)}`).join(', ')}`),
    `  most shared: ${common.map(([t, [n, c]]) => `${t} (${n}, ${c.toFixed(1)})`).join(', ')}`,
  ].join('\n');
}

export { crossValidatedScores };

const pct = (x: number, d = 1) => (Number.isNaN(x) ? '–' : `${(x * 100).toFixed(d)} %`);

/** The headline table: one row per held-out group, and the mean. */
export function locoTable(rows: readonly HeldOutResult[]): string {
  const line = (name: string, r: { acc: number; rec: number; fp: number; hamUnsure: number; spamUnsure: number; auc: number; r025: number; r0: number }) =>
    `| ${name} | ${pct(r.acc)} | ${pct(r.rec)} | ${pct(r.fp, 2)} | ${pct(r.hamUnsure)} / ${pct(r.spamUnsure)} | ${Number.isNaN(r.auc) ? '–' : r.auc.toFixed(4)} | ${pct(r.r025)} | ${pct(r.r0)} |`;
  const vals = rows.map((r) => ({
    acc: r.metrics.accuracy, rec: r.metrics.spamRecall, fp: r.metrics.hamFpRate, hamUnsure: r.metrics.hamUnsureRate,
    spamUnsure: r.metrics.confusion.spam.unsure / Math.max(1, r.metrics.spam), auc: r.auc, r025: r.recallAt025, r0: r.recallAt0,
  }));
  const mean = (k: keyof (typeof vals)[number]) => vals.reduce((s, v) => s + v[k], 0) / Math.max(1, vals.length);
  return [
    '| held out (ham / spam) | accuracy | spam recall | ham FP | unsure ham / spam | AUC | recall at FP ≤ 0.25 % | recall at FP = 0 |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r, i) => line(`${r.fold} (${r.ham} / ${r.spam})`, vals[i]!)),
    line('**mean**', { acc: mean('acc'), rec: mean('rec'), fp: mean('fp'), hamUnsure: mean('hamUnsure'), spamUnsure: mean('spamUnsure'), auc: mean('auc'), r025: mean('r025'), r0: mean('r0') }),
  ].join('\n');
}

export interface SideBySide {
  fold: string;
  ham: number;
  spam: number;
  sa: { auc: number; recallAt025: number; recallAt0: number; recall5: number; fp5: number };
  ours: { auc: number; recallAt025: number; recallAt0: number; recall: number; fp: number };
}

/** SpamAssassin (default threshold 5.0) and scop (shipped cutoffs) on the same sample of each held-out group. */
export function sideBySideTable(rows: readonly SideBySide[]): string {
  return [
    '| held out (sample ham / spam) | SA AUC | scop AUC | SA recall at FP ≤ 0.25 % | scop recall at FP ≤ 0.25 % | SA recall / FP at 5.0 | scop recall / FP at its cutoff | SA recall at FP = 0 | scop recall at FP = 0 |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.fold} (${r.ham} / ${r.spam}) | ${r.sa.auc.toFixed(4)} | ${r.ours.auc.toFixed(4)} | ${pct(r.sa.recallAt025)} | ${pct(r.ours.recallAt025)} | ${pct(r.sa.recall5)} / ${pct(r.sa.fp5, 2)} | ${pct(r.ours.recall)} / ${pct(r.ours.fp, 2)} | ${pct(r.sa.recallAt0)} | ${pct(r.ours.recallAt0)} |`),
  ].join('\n');
}

/** SMTP-form bytes of a corpus message for SpamAssassin (Enron-Spam's text gets a Subject header and nothing else). */
export function rawForSpamAssassin(e: CorpusExample, sharedRaw: Map<string, Buffer>, saRaw: Map<string, Buffer>): Buffer {
  if (e.input.headerless) return Buffer.from(`Subject: ${e.input.subject ?? ''}\r\n\r\n${(e.input.text ?? '').replace(/\r?\n/g, '\r\n')}`, 'latin1');
  const raw = e.corpus === SPAMASSASSIN_CORPUS ? saRaw.get(e.id) : sharedRaw.get(e.id);
  if (!raw) throw new Error(`no raw message for ${e.id}`);
  return raw;
}
