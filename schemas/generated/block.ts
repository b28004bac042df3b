// Generated from schemas/block.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopFirewallBlock;

/**
 * A blocked client IP prefix, keyed by the prefix in a compacted topic. A tombstone (null value) lifts the block; so does expiresAt passing.
 */
export interface DevScopFirewallBlock {
    /**
     * CIDR, e.g. 203.0.113.0/24 or 2001:db8::/64.
     */
    prefix: string;
    /**
     * Shown to the client in the 554 reply; no secrets.
     */
    reason: string;
    createdAt: number;
    /**
     * null: until lifted.
     *
     * Default: null
     */
    expiresAt: null | number;
    /**
     * Who set it: firewall, operator:<name>, …
     */
    source: string;
}

