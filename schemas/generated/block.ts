// Generated from schemas/block.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopFirewallBlock;

export interface DevScopFirewallBlock {
    prefix: string;
    reason: string;
    createdAt: number;
    expiresAt: null | number;
    source: string;
}

