// Generated from schemas/dead-letter.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopOpsDeadLetter;

export interface DevScopOpsDeadLetter {
    stage: string;
    reason: string;
    error: string;
    recordId: null | string;
    sourceTopic: string;
    sourcePartition: number;
    sourceOffset: number;
    key: null | Buffer;
    value: null | Buffer;
    headers: {
        [index: string]: Buffer;
    };
    failedAt: number;
    stageVersion: string;
}

