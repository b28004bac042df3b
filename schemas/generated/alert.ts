// Generated from schemas/alert.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopOpsAlert;

export type DevScopOpsSeverity = "info" | "warning" | "critical";

/**
 * Something an operator should hear about (a block, a DMARC failure for one of our domains, a virus, a delivery given up, a stage error). Published to the alerts topic by any stage; the Matrix notifier fans them out to rooms.
 */
export interface DevScopOpsAlert {
    /**
     * Stable and unique per alert: publishing the same alert twice (a retried transaction) must give the same id. The notifier derives the Matrix transaction id from it, so it also de-duplicates the post.
     */
    id: string;
    /**
     * What happened, lower-case with dashes: block, dmarc-failure, virus, delivery-dead-letter, stage-error, … (a string, not an enum, so new kinds need no schema change).
     */
    kind: string;
    /**
     * critical alerts are never held back for a digest.
     */
    severity: DevScopOpsSeverity;
    createdAt: number;
    /**
     * The stage or service that raised it, e.g. firewall, egress.
     */
    source: string;
    /**
     * One line for humans, e.g. 'connection refused from 203.0.113.7'. Plain text; the notifier escapes it.
     */
    summary: string;
    /**
     * What the alert is about, for digesting bursts: alerts with the same kind and subject within the digest window are posted as one message (e.g. the prefix 203.0.113.0/24 or a domain). null: never digested.
     *
     * Default: null
     */
    subject: null | string;
    /**
     * How many events this alert stands for (e.g. connections refused since the last alert); digests add them up.
     *
     * Default: 1
     */
    count: number;
    /**
     * The mail record (envelope id) it concerns, if any.
     *
     * Default: null
     */
    recordId: null | string;
    /**
     * Extra key/value facts shown under the summary (reason, expiry, remote reply, …).
     *
     * Default: {}
     */
    details: {
        [index: string]: string;
    };
}

