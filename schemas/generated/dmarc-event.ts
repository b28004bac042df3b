// Generated from schemas/dmarc-event.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopAuthDmarcEvent;

export interface DevScopAuthDmarcEventSpf {
    domain: string;
    /**
     * mfrom or helo
     */
    scope: string;
    result: string;
}

export interface DevScopAuthDmarcEventDkim {
    domain: string;
    /**
     * Default: null
     */
    selector: null | string;
    result: string;
}

/**
 * One per authenticated message with a single From domain, on dmarc.events keyed by that domain: the row an RFC 7489 aggregate report is built from (policy_evaluated, identifiers, auth_results).
 */
export interface DevScopAuthDmarcEvent {
    recordId: string;
    receivedAt: number;
    /**
     * header_from
     */
    fromDomain: string;
    /**
     * Domain whose record applied (organizational domain).
     *
     * Default: null
     */
    policyDomain: null | string;
    sourceIp: string;
    /**
     * MAIL FROM domain (HELO name for the null sender).
     */
    envelopeFrom: string;
    /**
     * Recipient domains.
     *
     * Default: []
     */
    envelopeTo: string[];
    dmarcResult: string;
    /**
     * none, quarantine, reject
     */
    disposition: string;
    /**
     * pct lowered the disposition (reason type sampled_out).
     *
     * Default: false
     */
    sampledOut: boolean;
    /**
     * Default: null
     */
    policy: null | string;
    /**
     * Default: null
     */
    subdomainPolicy: null | string;
    /**
     * Default: null
     */
    pct: null | number;
    /**
     * Default: null
     */
    adkim: null | string;
    /**
     * Default: null
     */
    aspf: null | string;
    spfAligned: boolean;
    dkimAligned: boolean;
    spf: DevScopAuthDmarcEventSpf;
    /**
     * Default: []
     */
    dkim: DevScopAuthDmarcEventDkim[];
    /**
     * Default: null
     */
    arcResult: null | string;
}

