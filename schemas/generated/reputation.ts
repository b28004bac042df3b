// Generated from schemas/reputation.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopFirewallReputation;

/**
 * The reputation of one subject (a client prefix or a sender domain), keyed by 'ip:<prefix>' or 'domain:<domain>' in the compacted firewall.reputation topic; the firewall rebuilds its state from it on start.
 */
export interface DevScopFirewallReputation {
    /**
     * The key: ip:203.0.113.0/24, ip:2001:db8::/64 or domain:example.com.
     */
    subject: string;
    /**
     * Badness at updatedAt; it decays with the configured half-life.
     */
    score: number;
    /**
     * Event time of the last message counted.
     */
    updatedAt: number;
    /**
     * Default: 0
     */
    messages: number;
    /**
     * Messages counted as spam.
     *
     * Default: 0
     */
    spam: number;
    /**
     * Default: 0
     */
    authFailures: number;
    /**
     * Expiry of the last block the firewall set for this prefix.
     *
     * Default: null
     */
    blockedUntil: null | number;
    /**
     * Offset (in its firewall.events partition) of the last event applied: a replayed event is not counted twice.
     *
     * Default: -1
     */
    lastEventOffset: number;
    /**
     * Offset of the event that set the last block (a retried transaction re-publishes it).
     *
     * Default: -1
     */
    blockEventOffset: number;
}

