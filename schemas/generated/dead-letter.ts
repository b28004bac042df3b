// Generated from schemas/dead-letter.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopOpsDeadLetter;

/**
 * A record a stage could not decode or process. Carries the original bytes unchanged, so it can be inspected and replayed once the cause is fixed.
 */
export interface DevScopOpsDeadLetter {
    stage: string;
    /**
     * Short machine-friendly reason, e.g. decode-error, process-error, oversize.
     */
    reason: string;
    /**
     * Human-readable error message.
     */
    error: string;
    /**
     * Envelope id, when it could be decoded.
     *
     * Default: null
     */
    recordId: null | string;
    sourceTopic: string;
    sourcePartition: number;
    sourceOffset: number;
    /**
     * Default: null
     */
    key: null | Buffer;
    /**
     * The original record value, byte for byte.
     *
     * Default: null
     */
    value: null | Buffer;
    /**
     * Default: {}
     */
    headers: {
        [index: string]: Buffer;
    };
    failedAt: number;
    stageVersion: string;
}

