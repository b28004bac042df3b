// Generated from schemas/smtp-refusal.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopIngressSmtpRefusal;

export type DevScopMailListener = "MX" | "SUBMISSION" | "SUBMISSIONS";

export type DevScopIngressSmtpStage = "CONNECT" | "AUTH" | "MAIL" | "RCPT" | "DATA" | "OTHER";

export type DevScopIngressRefusalCheck = "RECIPIENT_UNKNOWN" | "RELAY_DENIED" | "DNSBL" | "SPF_FAIL" | "GREYLIST" | "BLOCKLIST" | "AUTH_FAILURES" | "RATE_LIMIT" | "OTHER";

export interface DevScopIngressDnsblHit {
    /**
     * The list, e.g. zen.spamhaus.org.
     */
    zone: string;
    /**
     * The A records it returned, comma-separated (e.g. 127.0.0.2).
     */
    answer: string;
    weight: number;
}

/**
 * One refusal the SMTP ingress gave before accepting a message (pre-queue policy: unknown recipient, relay, DNSBL, SPF, greylisting, blocklist, AUTH and rate limits), keyed by the client prefix on smtp.refusals, for the firewall and dashboards. A refused message is never written to the mail topics.
 */
export interface DevScopIngressSmtpRefusal {
    /**
     * When the refusal was sent.
     */
    at: number;
    /**
     * Host name of the ingress that refused.
     */
    ingressHost: string;
    listener: DevScopMailListener;
    clientIp: string;
    /**
     * The client's prefix as the ingress counts it (e.g. 203.0.113.0/24, 2001:db8:1:2::/64); also the record key.
     */
    clientPrefix: string;
    /**
     * Default: null
     */
    helo: null | string;
    /**
     * Reverse-path of the transaction, when there was one ('' for <>).
     *
     * Default: null
     */
    mailFrom: null | string;
    /**
     * The recipient refused (RCPT stage).
     *
     * Default: null
     */
    rcptTo: null | string;
    /**
     * The SMTP AUTH identity, or the name tried when AUTH was refused.
     *
     * Default: null
     */
    authUser: null | string;
    /**
     * Default: "OTHER"
     */
    stage: DevScopIngressSmtpStage;
    /**
     * Which check refused.
     *
     * Default: "OTHER"
     */
    check: DevScopIngressRefusalCheck;
    /**
     * SMTP reply code, e.g. 550.
     */
    code: number;
    /**
     * Enhanced status code, e.g. 5.1.1.
     */
    enhancedCode: string;
    /**
     * The reply text sent to the client.
     */
    reason: string;
    /**
     * The lists that matched (DNSBL refusals).
     *
     * Default: []
     */
    dnsbl: DevScopIngressDnsblHit[];
    /**
     * Refusals of this prefix not written since its previous record (the per-prefix record rate limit).
     *
     * Default: 0
     */
    suppressed: number;
}

