// Generated from schemas/greylist-entry.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopIngressGreylistEntry;

/**
 * Greylisting state (RFC 6647) of one triplet, keyed by '<client prefix>|<sender>|<recipient>' on the compacted smtp.greylist topic, so every ingress instance agrees.
 */
export interface DevScopIngressGreylistEntry {
    /**
     * First attempt (answered 450).
     */
    firstSeen: number;
    /**
     * When a retry after the delay was accepted; from then on the triplet passes at once.
     *
     * Default: null
     */
    passedAt: null | number;
    /**
     * Last accepted attempt (refreshed at most daily); a passed triplet expires this long after it.
     */
    lastSeen: number;
}

