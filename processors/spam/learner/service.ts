/**
 * `scop run spam-learner`: learns the labels on spam.feedback as they come and publishes signed
 * model versions to spam.model, which every scorer already hot-swaps.
 *
 * Exactly-once: the learner's position on spam.feedback is part of the published model
 * (SpamModel.learner, core.ts). It starts from the newest model on spam.model and reads feedback
 * from the positions that model carries, never from group offsets (it commits none). A model and
 * its positions are written in one Kafka transaction under a fixed transactional id, which also
 * fences an older learner still running. A crash before a publish re-reads the labels of the
 * unpublished batch into the published model; a crash after it starts past them.
 *
 * Labels are joined with their records by a bounded lookup on the records topic (lookup.ts).
 * Before a version goes out the FP guard measures it on held-back ham; a batch that raises the FP
 * rate by more than SPAM_LEARNER_MAX_FP_INCREASE is not published (the positions move past it all
 * the same, in a republish of the current model) and an alert goes to ops.alerts in the same
 * transaction. A model published by someone else (a rollback, `scop spam publish`) is adopted: the
 * learner continues on top of it, never re-learning the labels it had already taken.
 *
 * Per-recipient-domain models (SPAM_LEARNER_DOMAIN_MODELS, domain-model.ts): each domain's residual
 * is a record of its own on spam.model (key domain:<name>), written in the same transaction as the
 * global record whose positions account for its labels; a restarted learner takes the newest record
 * of every key, which are those of its last committed transaction. Each domain a batch touched has
 * its own FP guard and alert; a refused domain keeps its published residual.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { alertId, alertMessage, newAlert } from '../../../runtime/alerts.ts';
import { ConsumerSupervisor } from '../../../runtime/consumer-supervisor.ts';
import { CompressionTypes, isFencedError, type Batch, type OutRecord, type TransactionalProducer } from '../../../runtime/kafka.ts';
import { counterOn, gaugeOn, histogramOn } from '../../../runtime/metrics.ts';
import { serviceIdentity, type RunningService, type ServiceContext, type ServiceDefinition } from '../../../runtime/service.ts';
import type { SpamDomainModelInfo, SpamFeedback, SpamLearnerState } from '../../../schemas/types.ts';
import { DEFAULT_MODEL_FILE, loadDefaultModel } from '../default-model.ts';
import { spamInputFromRecord } from '../input.ts';
import { BayesModel, type Label, type ModelData } from '../model.ts';
import { encodeSignedModel, followModels, type ModelFollower } from '../model-topic.ts';
import { domainKey, recipientDomains } from '../domain-model.ts';
import { domainHistoryKey, isRollback, MODEL_KEY, modelLine } from '../../../runtime/operator/spam-model.ts';
import { loadModelKeys } from '../../../runtime/model-signature.ts';
import { tokenize, TOKENIZER_VERSION } from '../tokenizer.ts';
import { loadLearnerConfig, type LearnerConfig } from './config.ts';
import { LearnerCore, OUTCOMES, type LabelOutcome } from './core.ts';
import { startFeedbackHook, type FeedbackHook } from './hook.ts';
import { lookupRecords } from './lookup.ts';


interface LearnerMetrics {
  labels: Counter<'outcome'>;
  versions: Counter<'result'>;
  labelToModel: Histogram;
  pending: Gauge;
  holdback: Gauge;
  domainVersions: Counter<'result'>;
  domains: Gauge;
  domainsDropped: Counter<'reason'>;
}

/** Why a domain's residual was deleted from the model topic (scop_spam_learner_domains_dropped_total). */
type DropReason = 'evicted' | 'removed' | 'stale-line' | 'off';
const DROP_REASONS: readonly DropReason[] = ['evicted', 'removed', 'stale-line', 'off'];

function learnerMetrics(svc: ServiceContext): LearnerMetrics {
  const m = {
    labels: counterOn(svc.metrics, { name: 'scop_spam_learner_labels_total', help: 'Labels read from spam.feedback, by what became of them.', labelNames: ['outcome'] as const }),
    versions: counterOn(svc.metrics, { name: 'scop_spam_learner_versions_total', help: 'Model versions the learner made: published, or rejected by the FP guard.', labelNames: ['result'] as const }),
    labelToModel: histogramOn(svc.metrics, { name: 'scop_spam_learner_label_to_model_seconds', help: 'From a label on spam.feedback to the model version that contains it on spam.model.', buckets: [1, 5, 15, 30, 60, 120, 300, 900, 3600] }),
    pending: gaugeOn(svc.metrics, { name: 'scop_spam_learner_pending_labels', help: 'Labels learnt into the working model, not yet published.' }),
    holdback: gaugeOn(svc.metrics, { name: 'scop_spam_learner_holdback', help: 'Held-back ham in the FP guard\'s sample.' }),
    domainVersions: counterOn(svc.metrics, { name: 'scop_spam_learner_domain_versions_total', help: 'Per-recipient-domain model versions: published, or rejected by the domain\'s FP guard.', labelNames: ['result'] as const }),
    domains: gaugeOn(svc.metrics, { name: 'scop_spam_learner_domains', help: 'Recipient domains with a model (SPAM_LEARNER_DOMAIN_MAX at most).' }),
    domainsDropped: counterOn(svc.metrics, { name: 'scop_spam_learner_domains_dropped_total', help: 'Per-recipient-domain models deleted from the model topic: evicted (idle, cap full), removed (by an operator), stale-line (the global model was retrained or rolled back), off (SPAM_LEARNER_DOMAIN_MODELS=false).', labelNames: ['reason'] as const }),
  };
  for (const r of DROP_REASONS) m.domainsDropped.inc({ reason: r }, 0);
  for (const r of ['published', 'rejected']) m.domainVersions.inc({ result: r }, 0);
  for (const o of OUTCOMES) m.labels.inc({ outcome: o }, 0);
  for (const r of ['published', 'rejected']) m.versions.inc({ result: r }, 0);
  return m;
}

export interface RunningLearner extends RunningService {
  /** Publishes what is pending now (tests, shutdown). */
  flush(): Promise<void>;
  core: LearnerCore;
}

export async function startLearner(svc: ServiceContext, config: LearnerConfig = loadLearnerConfig(svc.env, svc.dataDir)): Promise<RunningLearner> {
  const log = svc.log.child({ component: 'spam-learner' });
  const metrics = learnerMetrics(svc);
  const keys = loadModelKeys({ env: svc.env, dataDir: svc.dataDir, needSigning: true });
  const signing = keys.signing!;
  const core = new LearnerCore(config.core, config.feedbackTopic);

  // Everything that touches the core runs one at a time: batches, publishes, adopted models.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };

  // Fencing: from here on an older learner with the same id can no longer publish.
  const producer: TransactionalProducer = await svc.kafka.transactionalProducer({ transactionalId: config.transactionalId });
  let fenced = false;
  // A fenced learner (another took over the transactional id) keeps nothing useful running: /healthz says so.
  const unregister = svc.health?.register('spam-learner publisher', () => (fenced ? { ok: false, reason: `fenced: another learner holds ${config.transactionalId}` } : { ok: true }));
  let previousVersion: string | null = null;
  let lastPublishAt = Date.now();
  /** Versions this process published (a record of one read back is not a foreign model), bounded. */
  const own = new Set<string>();
  /** The positions the last version on spam.model carries (what a rollback must not go behind). */
  let publishedPositions = new Map<number, bigint>();

  let startup: { model: BayesModel; data: ModelData; learner: SpamLearnerState | null; line: string } | null = null;
  /** Domain residuals on the topic at start: the newest record of each key (those of the last committed transaction). */
  const startupDomains = new Map<string, { model: BayesModel; data: ModelData; info: SpamDomainModelInfo }>();
  /** Domain records to delete with the next publish, and why. */
  const retired = new Map<string, DropReason>();
  const retire = (names: Iterable<string>, reason: DropReason) => { for (const n of names) retired.set(n, reason); };
  let started = false;
  let supervisor: ConsumerSupervisor | null = null;
  /** Bumped when a model is adopted: batches of a consumer from before it are dropped. */
  let epoch = 0;

  const positionsOf = (s: SpamLearnerState | null) => new Map<number, bigint>(s && s.feedbackTopic === config.feedbackTopic ? s.positions.map((p) => [p.partition, BigInt(p.offset)]) : []);

  const follower: ModelFollower = await followModels({
    kafka: svc.kafka, codec: svc.codec, log, tokenizerVersion: TOKENIZER_VERSION, trusted: keys.trusted, topic: config.modelTopic,
    alertsTopic: config.alertsTopic, health: svc.health, metrics: svc.metrics, followerName: 'learner-model',
    // After the start only this learner writes domain records, except an operator's domain rollback or
    // removal (scop spam rollback --domain: the rollback header): adopted, and written again after
    // anything this learner wrote before it, so the topic ends with the operator's choice.
    applyDomain: (name, delta, offset, headers) => {
      if (!started) {
        if (delta) startupDomains.set(name, delta);
        else startupDomains.delete(name);
        return;
      }
      if (!isRollback(headers) || !core.domains) return;
      return serial(async () => {
        if (!delta || delta.info.base !== core.line) {
          if (delta) log.warn({ domain: name, base: delta.info.base, line: core.line, offset }, 'a domain model rolled back to another line of the global model: deleted');
          else log.info({ domain: name, offset }, 'a domain model removed by an operator: its next label starts it again');
          core.removeDomain(name);
          retire([name], 'removed');
        } else {
          log.info({ domain: name, modelVersion: delta.data.version, offset }, 'a domain model rolled back by an operator: the learner continues on top of it');
          core.removeDomain(name);
          retired.delete(name);
          const meta = { previousVersion: delta.info.previousVersion ?? null, lastLabelAt: delta.info.lastLabelAt ?? delta.data.trainedAt };
          core.domains!.published.set(name, delta.model, { version: delta.data.version, ...meta });
          core.domains!.republish(name, delta.model, meta);
        }
        await publish();
      });
    },
    apply: (model, data, offset, extra) => {
      const line = modelLine({ version: data.version, learner: extra.learner });
      if (!started) {
        startup = { model, data, learner: extra.learner, line };
        return;
      }
      const rollback = isRollback(extra.headers);
      if (!rollback && own.has(data.version)) return;
      if (!rollback && data.version === core.published.data.version) return;
      return serial(async () => {
        log.info({ modelVersion: data.version, offset, rollback }, 'a model published elsewhere: the learner continues on top of it');
        const stale = core.adopt(model, data, extra.learner, publishedPositions, line);
        if (stale.length) log.info({ domains: stale.length, line }, 'the global model changed line: the domain models learnt on the previous one are deleted');
        retire(stale, 'stale-line');
        publishedPositions = new Map(core.positions);
        previousVersion = extra.learner?.previousVersion ?? null;
        // Batches of the running consumer are past the positions now: ignored until the new consumer reads from them.
        epoch++;
      }).then(() => restartConsumer()).then(() => (retired.size ? serial(publish) : undefined));
    },
  });
  await follower.caughtUp;
  const first = startup as { model: BayesModel; data: ModelData; learner: SpamLearnerState | null; line: string } | null;
  if (first) {
    core.adopt(first.model, first.data, first.learner, new Map(), first.line);
    previousVersion = first.learner?.previousVersion ?? null;
    publishedPositions = positionsOf(first.learner);
  } else {
    // Nothing on the topic yet (the spam stage publishes the default model on a fresh install): learn on top of the file.
    const file = svc.env.SPAM_DEFAULT_MODEL?.trim() || DEFAULT_MODEL_FILE;
    const data = loadDefaultModel(file);
    if (!data) throw new Error(`no spam model on ${config.modelTopic} and no default model file at ${file}`);
    core.adopt(BayesModel.fromData(data), data, null);
  }
  if (core.domains) {
    for (const [name, { model, data, info }] of startupDomains) {
      const meta = { previousVersion: info.previousVersion ?? null, lastLabelAt: info.lastLabelAt ?? data.trainedAt };
      if (info.base === core.line || info.base === null) core.domains.published.set(name, model, { version: data.version, ...meta });
      // Residuals from before lines were recorded were learnt by this learner on its line: stamped with it (republished).
      if (info.base === null) core.domains.republish(name, model, meta);
      // Learnt on another line (the global model was replaced while no learner ran): stale.
      else if (info.base !== core.line) retire([name], 'stale-line');
    }
    metrics.domains.set(core.domains.size);
  } else {
    // Per-domain models turned off: their records are deleted with the next publish, so scorers stop blending them in.
    retire(startupDomains.keys(), 'off');
  }
  startupDomains.clear();
  started = true;
  log.info({ modelVersion: core.published.data.version, positions: Object.fromEntries(core.positions), labelsLearnt: core.labelsLearnt }, 'spam learner starts from this model');

  const count = (o: LabelOutcome) => metrics.labels.inc({ outcome: o });

  const handleBatch = async (batch: Batch) => {
    const p = batch.partition;
    const from = core.positions.get(p) ?? -1n;
    const admitted: { recordId: string; label: Label; source: string; at: number; offset: bigint }[] = [];
    const now = Date.now();
    for (const m of batch.records) {
      const offset = BigInt(m.offset);
      if (offset < from) continue; // read again after a restart of the consumer: already accounted for
      let fb: SpamFeedback | null = null;
      try {
        fb = m.value ? await svc.codec.decodeAs<SpamFeedback>(m.value, 'SpamFeedback') : null;
      } catch (e) {
        log.warn({ partition: p, offset: m.offset, err: (e as Error).message }, 'undecodable label skipped');
      }
      const outcome = fb ? core.admit(fb.recordId, fb.label, fb.source, now) : 'invalid';
      if (outcome) {
        count(outcome);
        log.debug({ recordId: fb?.recordId, outcome }, 'label not learnt');
        continue;
      }
      admitted.push({ recordId: fb!.recordId, label: fb!.label as Label, source: fb!.source, at: Number(m.timestamp), offset });
    }
    const records = admitted.length === 0 ? new Map() : await lookupRecords(svc.kafka, svc.codec, admitted.map((a) => a.recordId), config.lookup, () => batch.heartbeat().catch(() => {}));
    for (const a of admitted) {
      const record = records.get(a.recordId);
      let outcome: LabelOutcome;
      if (!record) outcome = 'record-not-found';
      else if (!record.mime) outcome = 'no-mime';
      else outcome = core.learn(a.recordId, a.label, tokenize(spamInputFromRecord(record)), a.source, a.at, core.domains ? recipientDomains(record.envelope.rcptTo) : []);
      count(outcome);
      log.info({ recordId: a.recordId, label: a.label, source: a.source, outcome }, 'label');
    }
    core.advance(p, batch.nextOffset > from ? batch.nextOffset : from);
    metrics.pending.set(core.pending);
    metrics.holdback.set(core.holdbackSize);
    if (core.pending >= config.publishLabels) await publish();
  };

  /** One transaction: history (new versions), the model with its state, and a rejection's alert. */
  const publish = async () => {
    if (fenced) return;
    const moved = [...core.positions].some(([p, o]) => o !== (publishedPositions.get(p) ?? -1n));
    const domainWrites = (core.domains?.working.size ?? 0) + (core.domains?.evicted.size ?? 0);
    if (core.pending === 0 && !moved && retired.size === 0 && domainWrites === 0) return;
    const now = Date.now();
    const guard = core.pending > 0 ? core.guard() : null;
    const records: OutRecord[] = [];
    let data: ModelData;
    let state: SpamLearnerState;
    let domainRejections = 0;
    let domainPublished = 0;
    /** Evicted by this batch (a new domain took the slot): tombstones in this transaction; a dropped batch restores them. */
    let evicted: string[] = [];
    if (guard && !guard.ok) {
      const sources = Object.fromEntries(core.pendingSources);
      const labels = core.pending;
      core.rejected();
      data = core.published.data;
      state = core.state(now, previousVersion);
      const alert = newAlert({
        id: alertId('spam-learner', 'model-rejected', data.version, ...[...core.positions].flat()), kind: 'spam-model-rejected', severity: 'warning', source: 'spam-learner',
        summary: `spam learner: ${labels} labels would raise the FP rate on ${guard.sample} held-back ham from ${(guard.fpBefore * 100).toFixed(2)} % to ${(guard.fpAfter * 100).toFixed(2)} %; not published`,
        subject: config.modelTopic, details: { fpBefore: String(guard.fpBefore), fpAfter: String(guard.fpAfter), sample: String(guard.sample), labels: String(labels), sources: JSON.stringify(sources) },
      });
      records.push({ topic: config.alertsTopic, ...(await alertMessage(svc.codec, alert, config.alertsTopic)) });
      log.warn({ ...guard, labels, sources }, 'batch rejected by the FP guard; the current model stays');
    } else {
      if (guard?.skipped) log.info({ reason: guard.skipped }, 'FP guard skipped');
      const base = core.published.data;
      for (const g of core.domainGuards()) {
        if (g.ok) {
          if (g.skipped) log.info({ domain: g.domain, reason: g.skipped }, 'domain FP guard skipped');
          continue;
        }
        core.rejectDomain(g.domain);
        domainRejections++;
        const alert = newAlert({
          id: alertId('spam-learner', 'domain-model-rejected', g.domain, ...[...core.positions].flat()), kind: 'spam-model-rejected', severity: 'warning', source: 'spam-learner',
          summary: `spam learner: ${g.labels} labels for ${g.domain} would raise the FP rate on ${g.sample} held-back ham (${g.sampleOf === 'domain' ? 'the domain\'s own' : 'all domains\''}) from ${(g.fpBefore * 100).toFixed(2)} % to ${(g.fpAfter * 100).toFixed(2)} %; that domain's model not published`,
          subject: domainKey(g.domain), details: { domain: g.domain, fpBefore: String(g.fpBefore), fpAfter: String(g.fpAfter), sample: String(g.sample), sampleOf: g.sampleOf, labels: String(g.labels), sources: JSON.stringify(g.sources) },
        });
        records.push({ topic: config.alertsTopic, ...(await alertMessage(svc.codec, alert, config.alertsTopic)) });
        log.warn({ ...g }, 'a domain\'s batch rejected by its FP guard; its current model stays');
      }
      for (const name of core.changedDomains()) {
        const delta = core.domains!.working.get(name)!;
        const meta = core.domains!.workingMeta.get(name)!;
        const d = delta.toData({ source: `spam-learner: residual of ${name} (on ${base.version})`, trainedAt: now });
        const info: SpamDomainModelInfo = { name, inUse: core.domains!.inUse(delta), base: core.line ?? null, previousVersion: meta.previousVersion, lastLabelAt: meta.lastLabelAt };
        // The history too (key domain:<name>@<version>): what `scop spam rollback --domain` goes back to.
        if (config.historyTopic) records.push({ topic: config.historyTopic, key: domainHistoryKey(name, d.version), ...(await encodeSignedModel(svc.codec, config.historyTopic, d, signing, null, info)) });
        records.push({ topic: config.modelTopic, key: domainKey(name), ...(await encodeSignedModel(svc.codec, config.modelTopic, d, signing, null, info)) });
        domainPublished++;
      }
      // Evicted to make room for a new domain (idle longer than SPAM_LEARNER_DOMAIN_IDLE_DAYS, cap full): in this same transaction.
      evicted = core.domains ? [...core.domains.evicted.keys()].filter((name) => !core.domains!.has(name)) : [];
      // Cutoffs and calibration stay those of the trained model; counts and weights are the learnt ones.
      data = core.model.toData({ source: `spam-learner (on ${base.version})`, trainedAt: now });
      const changed = data.version !== base.version;
      state = core.state(now, changed ? base.version : previousVersion);
      if (changed && config.historyTopic) records.push({ topic: config.historyTopic, key: data.version, ...(await encodeSignedModel(svc.codec, config.historyTopic, data, signing, state)) });
    }
    const signed = await encodeSignedModel(svc.codec, config.modelTopic, data, signing, state);
    records.push({ topic: config.modelTopic, key: MODEL_KEY, ...signed });
    for (const name of [...retired.keys(), ...evicted]) records.push({ topic: config.modelTopic, key: domainKey(name), value: null });
    try {
      await producer.send(records, { compression: CompressionTypes.GZIP });
    } catch (e) {
      if (isFencedError(e)) {
        fenced = true;
        log.error('another spam learner took over (same SPAM_LEARNER_TRANSACTIONAL_ID): this one stops publishing');
        return;
      }
      throw e;
    }
    for (const [name, reason] of [...retired, ...evicted.map((n) => [n, 'evicted'] as const)]) {
      metrics.domainsDropped.inc({ reason });
      log.info({ domain: name, reason }, 'a domain model deleted from the model topic');
    }
    retired.clear();
    metrics.domainVersions.inc({ result: 'published' }, domainPublished);
    metrics.domainVersions.inc({ result: 'rejected' }, domainRejections);
    own.add(data.version);
    if (own.size > 1000) own.delete(own.values().next().value!);
    lastPublishAt = now;
    publishedPositions = new Map(core.positions);
    if (guard && !guard.ok) {
      metrics.versions.inc({ result: 'rejected' });
      return;
    }
    const times = core.pendingLabelTimes;
    const changed = data.version !== core.published.data.version;
    // Every label left in the batch is in a published model now: the global one, or its domain's.
    if (changed || domainPublished > 0) for (const t of times) metrics.labelToModel.observe(Math.max(0, now - t) / 1000);
    if (changed) {
      previousVersion = core.published.data.version;
      metrics.versions.inc({ result: 'published' });
      log.info({ modelVersion: data.version, previous: previousVersion, labels: times.length, labelsLearnt: core.labelsLearnt, guard }, 'published a new spam model version');
    }
    if (domainPublished > 0) log.info({ domains: core.changedDomains(), labelsLearnt: core.labelsLearnt }, 'published per-domain spam model versions');
    core.committed(BayesModel.fromData(data), data);
    metrics.pending.set(0);
    if (core.domains) metrics.domains.set(core.domains.size);
  };

  const makeSupervisor = (mine = epoch) => new ConsumerSupervisor({
    name: 'spam-learner feedback', kafka: svc.kafka, log, metrics: svc.metrics, health: svc.health,
    // Its own group, nothing committed: where to read is the published model's business. Every group and
    // the transactional id start with scop-learner: the ACL prefixes of its principal (infra/kafka/acls.ts).
    consumer: { groupId: `scop-learner-feedback-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`, maxWaitTimeMs: 500, sessionTimeoutMs: 10000, heartbeatIntervalMs: 1000 },
    topics: [config.feedbackTopic], fromBeginning: true, stallTimeoutMs: 5 * 60_000,
    startOffsets: () => new Map([[config.feedbackTopic, new Map(core.positions)]]),
    eachBatch: (batch) => serial(async () => {
      if (mine !== epoch) return;
      await handleBatch(batch);
      supervisor?.progress({ topic: batch.topic, partition: batch.partition }, batch.nextOffset);
    }),
  });
  const restartConsumer = async () => {
    const old = supervisor;
    supervisor = null;
    await old?.stop().catch(() => {});
    supervisor = makeSupervisor();
    await supervisor.start();
  };
  supervisor = makeSupervisor();
  await supervisor.start();

  let hook: FeedbackHook | null = null;
  if (config.hook) {
    hook = await startFeedbackHook({ kafka: svc.kafka, codec: svc.codec, log, ...config.hook, feedbackTopic: config.feedbackTopic });
    log.info({ address: hook.address }, 'feedback hook listening');
  }

  const timer = setInterval(() => {
    if (Date.now() - lastPublishAt < config.publishIntervalMs) return;
    void serial(publish).catch((e) => log.error({ err: (e as Error).message }, 'publishing a spam model failed; retried at the next interval'));
  }, Math.min(1000, config.publishIntervalMs));
  timer.unref();

  return {
    endpoints: hook ? { 'spam-feedback-hook': hook.address } : {},
    core,
    flush: () => serial(publish),
    async stop() {
      clearInterval(timer);
      await hook?.close();
      await supervisor?.stop().catch(() => {});
      // What was learnt goes out before the process ends (a SIGKILL instead loses nothing either: it is read again).
      await serial(publish).catch((e) => log.error({ err: (e as Error).message }, 'final publish failed; the labels are learnt again at the next start'));
      await follower.stop();
      await producer.disconnect().catch(() => {});
      unregister?.();
    },
  };
}

export const spamLearnerService: ServiceDefinition = {
  ...serviceIdentity('service', { name: 'spam-learner', description: 'learns the labels on spam.feedback and publishes signed spam model versions (FP guard, rollback)', defaultMetricsPort: 9486 }),
  start: (svc) => startLearner(svc),
};
