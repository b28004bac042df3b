// Generated from schemas/spam-model.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopSpamSpamModel;

export interface DevScopSpamSpamModelOptions {
    unknownWordStrength: number;
    unknownWordProb: number;
    minimumProbStrength: number;
    maxDiscriminators: number;
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
}

