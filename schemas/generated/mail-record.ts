// Generated from schemas/mail-record.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopMailMailRecord;

export type DevScopMailListener = "MX" | "SUBMISSION" | "SUBMISSIONS";

export interface DevScopMailTlsInfo {
    /**
     * e.g. TLSv1.3
     */
    protocol: string;
    cipher: string;
    /**
     * true for implicit TLS (465 role), false for STARTTLS.
     *
     * Default: false
     */
    implicit: boolean;
}

export type DevScopMailBodyType = "SEVEN_BIT" | "EIGHT_BIT_MIME" | "BINARY_MIME";

/**
 * What the SMTP ingress knew when it accepted a message. Written once by the ingress; no stage rewrites it.
 */
export interface DevScopMailEnvelope {
    /**
     * Record id (UUIDv7): the message's id through every stage, in logs and in the 250 reply.
     */
    id: string;
    /**
     * When the ingress accepted the message.
     */
    receivedAt: number;
    /**
     * Which listener took it: MX (inbound, port 25 role), SUBMISSION (587, STARTTLS+AUTH), SUBMISSIONS (465, implicit TLS).
     */
    listener: DevScopMailListener;
    /**
     * Peer address as text (IPv4 dotted or IPv6 compressed).
     */
    clientIp: string;
    clientPort: number;
    /**
     * Reverse DNS name of the peer, when resolved.
     *
     * Default: null
     */
    clientHostname: null | string;
    /**
     * The HELO/EHLO argument (lower-cased by the SMTP library).
     */
    helo: string;
    /**
     * Default: null
     */
    tls: null | DevScopMailTlsInfo;
    /**
     * SMTP AUTH identity (submission only).
     *
     * Default: null
     */
    authUser: null | string;
    /**
     * Reverse-path without brackets; empty string for the null sender <>.
     */
    mailFrom: string;
    /**
     * Forward-paths in the order given (domains in A-label form unless the transaction used SMTPUTF8).
     */
    rcptTo: string[];
    /**
     * Default: false
     */
    smtpUtf8: boolean;
    /**
     * Default: "SEVEN_BIT"
     */
    bodyType: DevScopMailBodyType;
    /**
     * Bytes of raw.
     */
    size: number;
    /**
     * Host name of the ingress that accepted it (used in its Received line).
     */
    ingressHost: string;
    /**
     * The message exactly as received, with the ingress's Received/trace header prepended. Never altered downstream.
     */
    raw: Buffer;
    /**
     * Bytes at the start of raw that the ingress prepended (its Received header): raw[traceLength..] is the DATA exactly as the client sent it (dot-unstuffed).
     *
     * Default: 0
     */
    traceLength: number;
    /**
     * Hex SHA-256 of raw[traceLength..]. A client that retries after a 451 whose record did land in the rare ambiguous case (request already on the wire at the deadline) produces a second record with the same digest; consumers may deduplicate on it.
     *
     * Default: null
     */
    messageSha256: null | string;
}

/**
 * RFC 7208 check_host() for one identity.
 */
export interface DevScopAuthSpfVerdict {
    result: string;
    /**
     * Domain evaluated (MAIL FROM domain, or the HELO name).
     */
    domain: string;
    /**
     * mailfrom or helo.
     */
    identity: string;
    reason: string;
    /**
     * The domain's exp= text on fail (RFC 7208 §6.2).
     *
     * Default: null
     */
    explanation: null | string;
    /**
     * Default: null
     */
    record: null | string;
    /**
     * DNS-querying terms counted against the limit of 10.
     *
     * Default: 0
     */
    lookups: number;
    /**
     * Lookups that returned nothing, counted against the limit of 2.
     *
     * Default: 0
     */
    voidLookups: number;
}

/**
 * Same fields as SpfVerdict (a separate name because the TypeScript generator cannot refer back to a named type).
 */
export interface DevScopAuthHeloSpfVerdict {
    result: string;
    /**
     * Domain evaluated (MAIL FROM domain, or the HELO name).
     */
    domain: string;
    /**
     * mailfrom or helo.
     */
    identity: string;
    reason: string;
    /**
     * The domain's exp= text on fail (RFC 7208 §6.2).
     *
     * Default: null
     */
    explanation: null | string;
    /**
     * Default: null
     */
    record: null | string;
    /**
     * DNS-querying terms counted against the limit of 10.
     *
     * Default: 0
     */
    lookups: number;
    /**
     * Lookups that returned nothing, counted against the limit of 2.
     *
     * Default: 0
     */
    voidLookups: number;
}

/**
 * One DKIM-Signature (RFC 6376; RSA and Ed25519 per RFC 8463).
 */
export interface DevScopAuthDkimSignature {
    result: string;
    reason: string;
    /**
     * d=
     *
     * Default: null
     */
    domain: null | string;
    /**
     * s=
     *
     * Default: null
     */
    selector: null | string;
    /**
     * a=
     *
     * Default: null
     */
    algorithm: null | string;
    /**
     * c=
     *
     * Default: null
     */
    canonicalization: null | string;
    /**
     * Default: false
     */
    bodyHashMatched: boolean;
    /**
     * Default: null
     */
    keyBits: null | number;
    /**
     * d= aligned (relaxed) with the From domain.
     *
     * Default: false
     */
    aligned: boolean;
    /**
     * Default: null
     */
    signedHeaders: null | string;
    /**
     * t= in ms
     *
     * Default: null
     */
    signedAt: null | number;
    /**
     * x= in ms
     *
     * Default: null
     */
    expiresAt: null | number;
}

/**
 * RFC 7489 evaluation and the disposition this stage derives (policy incl. sp and pct).
 */
export interface DevScopAuthDmarcVerdict {
    /**
     * pass, fail, none, temperror, permerror.
     */
    result: string;
    reason: string;
    /**
     * RFC5322.From domain (null when there is not exactly one).
     *
     * Default: null
     */
    fromDomain: null | string;
    /**
     * Organizational domain (public suffix list).
     *
     * Default: null
     */
    policyDomain: null | string;
    /**
     * The DMARC TXT record used.
     *
     * Default: null
     */
    record: null | string;
    /**
     * p=
     *
     * Default: null
     */
    policy: null | string;
    /**
     * sp= (p= when absent).
     *
     * Default: null
     */
    subdomainPolicy: null | string;
    /**
     * The policy that applies to this From domain (sp= for a subdomain whose record came from the organizational domain).
     *
     * Default: null
     */
    appliedPolicy: null | string;
    /**
     * Default: null
     */
    pct: null | number;
    /**
     * r or s
     *
     * Default: null
     */
    adkim: null | string;
    /**
     * r or s
     *
     * Default: null
     */
    aspf: null | string;
    /**
     * Default: false
     */
    spfAligned: boolean;
    /**
     * Default: false
     */
    dkimAligned: boolean;
    /**
     * Default: null
     */
    alignedSpfDomain: null | string;
    /**
     * Default: null
     */
    alignedDkimDomain: null | string;
    /**
     * none, quarantine or reject: what the receiver should do (RFC 7489 §6.6.4, pct applied).
     *
     * Default: "none"
     */
    disposition: string;
    /**
     * true when pct sampling lowered the disposition.
     *
     * Default: false
     */
    sampledOut: boolean;
}

export interface DevScopAuthArcHop {
    instance: number;
    cv: string;
    /**
     * Default: null
     */
    domain: null | string;
    /**
     * Default: null
     */
    selector: null | string;
    /**
     * Default: null
     */
    algorithm: null | string;
    /**
     * Default: null
     */
    authservId: null | string;
}

/**
 * RFC 8617 chain validation of the message as received.
 */
export interface DevScopAuthArcVerdict {
    /**
     * pass, fail, none (cv of the chain), or temperror when a key lookup failed temporarily.
     */
    result: string;
    reason: string;
    /**
     * Default: []
     */
    chain: DevScopAuthArcHop[];
}

/**
 * BIMI record lookup (only where DMARC passes with an enforcing policy); the logo is not fetched here.
 */
export interface DevScopAuthBimiVerdict {
    result: string;
    reason: string;
    /**
     * Default: null
     */
    location: null | string;
    /**
     * Default: null
     */
    authority: null | string;
}

/**
 * DNS work done for this message.
 */
export interface DevScopAuthDnsCounts {
    /**
     * Lookups asked of the resolver.
     */
    lookups: number;
    cacheHits: number;
    /**
     * Queries sent to servers (retries included).
     */
    queries: number;
    timeouts: number;
}

/**
 * The auth stage's verdicts (processors/auth): SPF, DKIM, DMARC, ARC, BIMI against DNS, and the Authentication-Results value for the egress to add. Result words are strings as in RFC 8601 (pass, fail, softfail, neutral, none, temperror, permerror, policy, skipped) so new words need no schema change.
 */
export interface DevScopAuthAuthSection {
    stageVersion: string;
    /**
     * authserv-id written into Authentication-Results (AUTH_SERVID).
     */
    authservId: string;
    verifiedAt: number;
    spf: DevScopAuthSpfVerdict;
    /**
     * HELO identity check (RFC 7208 §2.3); null when MAIL FROM was null (spf is then the HELO check).
     *
     * Default: null
     */
    heloSpf: null | DevScopAuthHeloSpfVerdict;
    /**
     * Every signature, in header order; empty when the message is unsigned.
     */
    dkim: DevScopAuthDkimSignature[];
    dmarc: DevScopAuthDmarcVerdict;
    arc: DevScopAuthArcVerdict;
    bimi: DevScopAuthBimiVerdict;
    dns: DevScopAuthDnsCounts;
    /**
     * Value of the Authentication-Results header (RFC 8601) for the egress to add: authserv-id; resinfo; ... (folded with CRLF SP).
     */
    authenticationResults: string;
    /**
     * The Received-SPF header line (RFC 7208 §9.1).
     */
    receivedSpf: string;
    /**
     * Short words for routing and metrics, e.g. spf-fail, dkim-pass, dmarc-reject, dns-timeout.
     *
     * Default: []
     */
    tags: string[];
}

/**
 * The one record per message that travels the chain. The ingress writes the envelope; each stage adds its own verdict section (a nullable field added here, with default null, so every version stays BACKWARD compatible) and never rewrites another's.
 */
export interface DevScopMailMailRecord {
    envelope: DevScopMailEnvelope;
    /**
     * SPF/DKIM/DMARC/ARC/BIMI verdicts and the Authentication-Results value, added by the auth stage (processors/auth).
     *
     * Default: null
     */
    auth: null | DevScopAuthAuthSection;
}

