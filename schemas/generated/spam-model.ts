// Generated from schemas/spam-model.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopSpamSpamModel;

export interface DevScopSpamSpamModelOptions {
    unknownWordStrength: number;
    unknownWordProb: number;
    minimumProbStrength: number;
    maxDiscriminators: number;
}

export interface DevScopSpamSpamModelNbScale {
    prior: number;
    base: number;
}

export interface DevScopSpamSpamModelMaxWeight {
    word: number;
    structure: number;
}

export interface DevScopSpamSpamModelLinear {
    learningRate: number;
    lengthNorm: number;
    epochs: number;
    /**
     * NB-weighted features: a present token's value is base + |smoothed ln(spam rate / ham rate)| from the counts (prior = the smoothing). Null: every present token is 1 (models before it).
     *
     * Default: null
     */
    nbScale: null | DevScopSpamSpamModelNbScale;
    /**
     * Per-token influence cap: no token's effective weight leaves ±word (word tokens) or ±structure (structure tokens), in training and in every feedback step. Null: no cap (models before it).
     *
     * Default: null
     */
    maxWeight: null | DevScopSpamSpamModelMaxWeight;
    bias: number;
    /**
     * AdaGrad sum of squared gradients of the bias.
     */
    biasAccum: number;
    weights: number[];
    /**
     * AdaGrad sums of squared gradients (incremental learning continues from them).
     */
    accums: number[];
}

export interface DevScopSpamSpamModelCalibration {
    a: number;
    b: number;
}

export interface DevScopSpamSpamLearnerPosition {
    partition: number;
    offset: number;
}

export interface DevScopSpamSpamLearnerLabel {
    recordId: string;
    label: string;
}

export interface DevScopSpamSpamLearnerSample {
    recordId: string;
    tokens: string[];
    /**
     * The recipient domain of the held-back message when it had exactly one and per-domain models are on: the domain's own FP sample. Null: none (or models before it).
     *
     * Default: null
     */
    domain: null | string;
}

export interface DevScopSpamSpamLearnerBucket {
    source: string;
    tokens: number;
    at: number;
}

export interface DevScopSpamSpamLearnerState {
    /**
     * The topic the positions refer to.
     */
    feedbackTopic: string;
    /**
     * Per partition of feedbackTopic: the offset of the next label to learn (every label before it is accounted for in this model).
     */
    positions: DevScopSpamSpamLearnerPosition[];
    /**
     * The model version this one replaced (where `scop spam rollback` goes back to).
     *
     * Default: null
     */
    previousVersion: null | string;
    /**
     * Labels the learner has learnt on this model's line.
     */
    labelsLearnt: number;
    publishedAt: number;
    /**
     * The most recent labels learnt (bounded): a repeated label is skipped, a changed one corrected.
     */
    recent: DevScopSpamSpamLearnerLabel[];
    /**
     * Held-back ham, never learnt: the sample on which a batch's effect on the false-positive rate is measured before it is published.
     */
    holdback: DevScopSpamSpamLearnerSample[];
    /**
     * Per-source token buckets of the label rate limit.
     */
    rateBuckets: DevScopSpamSpamLearnerBucket[];
    /**
     * The line this model belongs to: the version of the model the learner last adopted from elsewhere (trained or published by hand, the default model, a rollback target); every version the learner makes on top of it keeps it. Per-recipient-domain residuals name the line they were learnt on (SpamDomainModel.base). Null: models before it (their line is their own version).
     *
     * Default: null
     */
    line: null | string;
}

export interface DevScopSpamSpamDomainModel {
    /**
     * The recipient domain, lower-case A-label form.
     */
    name: string;
    /**
     * Whether scorers blend it in: the domain has at least SPAM_LEARNER_DOMAIN_MIN_LABELS labels (the learner decides, so scorers need no setting).
     */
    inUse: boolean;
    /**
     * The line of the global model this residual was learnt against (SpamLearnerState.line of the global record then): scorers blend it in only on top of a global model of the same line, so after a retrain, a hand-published model or a rollback of the global model no stale residual is applied. Null: residuals before it (never applied until the learner stamps them).
     *
     * Default: null
     */
    base: null | string;
    /**
     * The version of this domain's residual this one replaced (where `scop spam rollback --domain` goes back to).
     *
     * Default: null
     */
    previousVersion: null | string;
    /**
     * Kafka timestamp (ms) of the newest label learnt into it: a domain idle longer than SPAM_LEARNER_DOMAIN_IDLE_DAYS may be evicted when the cap is full. Null: residuals before it (their trainedAt counts).
     *
     * Default: null
     */
    lastLabelAt: null | number;
}

/**
 * A trained spam model as published on the compacted spam.model topic (key: the model name, e.g. default). Every scorer follows the topic and switches to the newest record without a restart.
 */
export interface DevScopSpamSpamModel {
    /**
     * scop-spam-bayes
     */
    format: string;
    formatVersion: number;
    /**
     * Content hash of counts, options, thresholds and tokenizer version: the same training gives the same version.
     */
    version: string;
    /**
     * A scorer only uses a model trained with its own tokenizer version.
     */
    tokenizerVersion: string;
    trainedAt: number;
    /**
     * What it was trained on (free text).
     */
    source: string;
    nham: number;
    nspam: number;
    hamCutoff: number;
    spamCutoff: number;
    options: DevScopSpamSpamModelOptions;
    /**
     * Sorted tokens; hamCounts[i] / spamCounts[i] are token i's counts (parallel arrays: smaller than an array of records).
     */
    tokens: string[];
    hamCounts: number[];
    spamCounts: number[];
    /**
     * formatVersion 2: the logistic-regression part that decides the score; weights[i] / accums[i] belong to tokens[i] (effective weights: weight × the token's feature value at training). Null: Bayes only (formatVersion 1).
     *
     * Default: null
     */
    linear: null | DevScopSpamSpamModelLinear;
    /**
     * Platt scaling of the linear margin, fitted on out-of-corpus scores: probability = 1 / (1 + exp(-(a * margin + b))). Null: probability = 1 / (1 + exp(-margin)) (models before it).
     *
     * Default: null
     */
    calibration: null | DevScopSpamSpamModelCalibration;
    /**
     * Set by the spam learner (processors/spam/learner/): what it learnt into this model and up to where, so a restarted learner neither loses nor learns a label twice. Null: a model trained or published by other means.
     *
     * Default: null
     */
    learner: null | DevScopSpamSpamLearnerState;
    /**
     * Set on a per-recipient-domain model (key domain:<name> on spam.model, written by the spam learner in the same transaction as the global model whose learner state accounts for its labels): then the record is not a model of its own but a residual on top of the global one. Its linear part holds the domain's weights and bias, added to the global margin for messages whose recipients all have this domain; nham / nspam are the domain's labels; tokens carry zero counts. Null: a whole model.
     *
     * Default: null
     */
    domain: null | DevScopSpamSpamDomainModel;
}

