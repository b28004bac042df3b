// Generated from schemas/reputation-event.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopFirewallReputationEvent;

/**
 * One message's contribution to one subject's reputation, keyed by the subject on firewall.events, so that each subject's state is owned by one partition (and one firewall instance).
 */
export interface DevScopFirewallReputationEvent {
    /**
     * ip:<prefix> or domain:<domain>.
     */
    subject: string;
    recordId: string;
    /**
     * When the ingress accepted the message (event time: replays decay the same way).
     */
    at: number;
    /**
     * The spam stage called it spam.
     */
    spam: boolean;
    /**
     * Default: null
     */
    spamScore: null | number;
    /**
     * DMARC failed (or SPF failed hard without DMARC).
     */
    authFailure: boolean;
    /**
     * What the message adds to the score (negative for good mail).
     */
    weight: number;
    /**
     * Default: null
     */
    clientIp: null | string;
}

