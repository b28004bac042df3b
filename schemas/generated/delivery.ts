// Generated from schemas/delivery.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopEgressDeliveryJob;

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
     * The message exactly as received, with the ingress's Received/trace header prepended. Never altered downstream. Empty on records that carry MailRecord.rawRef instead (every topic after the ingress's but mail.quarantine): read it with runtime/raw-ref.ts.
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
    /**
     * Submission records (an SMTP AUTH user): hex HMAC-SHA256, with a key only the ingress and the DKIM signer hold, over the id, authUser, mailFrom, rcptTo, traceLength and the SHA-256 of raw's trace and message parts (runtime/submission-mac.ts). The signer recomputes it and dead-letters a record that does not match. Null otherwise.
     *
     * Default: null
     */
    submissionMac: null | string;
    /**
     * Forward confirmation of clientHostname (FCrDNS): true when the name's A (IPv4 client) or AAAA (IPv6 client) records include clientIp; false when they do not, or the name does not exist or has none (Postfix's 'unknown' client); null when not checked (no reverse name, INGRESS_REVERSE_DNS=false, a submission listener, records written before the check existed) or when DNS failed temporarily (timeout, SERVFAIL).
     *
     * Default: null
     */
    clientHostnameConfirmed: null | boolean;
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
    /**
     * false when the signature was not verified because the message has more than AUTH_DKIM_MAX_SIGNATURES (result policy, reason says why); DMARC does not count it.
     *
     * Default: true
     */
    checked: boolean;
}

/**
 * RFC 9989 evaluation (tree walk, p/sp/np, t=y) and the disposition this stage derives (plus the legacy pct of RFC 7489 records).
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
     * Organizational domain (RFC 9989 tree walk; the From domain when no record was found).
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
     * The policy that applies to this From domain (sp= or np= for a subdomain whose record came from the organizational domain; one step milder with t=y).
     *
     * Default: null
     */
    appliedPolicy: null | string;
    /**
     * pct= of a record written for RFC 7489 (100 when absent, and for RFC 9989 records with t=).
     *
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
     * none, quarantine or reject: what the receiver should do (applied policy; a legacy pct applied as RFC 7489 §6.6.4).
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

export interface DevScopMimeMailAddress {
    /**
     * Decoded display name, empty when absent.
     *
     * Default: ""
     */
    name: string;
    /**
     * addr-spec as written (may be empty for a malformed or group-only value).
     */
    address: string;
    /**
     * RFC 5322 group name when the address came from a group.
     *
     * Default: null
     */
    group: null | string;
}

export interface DevScopMimeMimeHeaders {
    /**
     * Default: []
     */
    from: DevScopMimeMailAddress[];
    /**
     * Default: []
     */
    sender: DevScopMimeMailAddress[];
    /**
     * Default: []
     */
    replyTo: DevScopMimeMailAddress[];
    /**
     * Default: []
     */
    to: DevScopMimeMailAddress[];
    /**
     * Default: []
     */
    cc: DevScopMimeMailAddress[];
    /**
     * Decoded (RFC 2047 / RFC 6532).
     *
     * Default: null
     */
    subject: null | string;
    /**
     * The Date header as written.
     *
     * Default: null
     */
    date: null | string;
    /**
     * null when absent or unparseable.
     *
     * Default: null
     */
    dateParsed: null | number;
    /**
     * Default: null
     */
    messageId: null | string;
    /**
     * Default: null
     */
    inReplyTo: null | string;
    /**
     * Default: null
     */
    returnPath: null | string;
    /**
     * List-* headers (RFC 2369/2919/8058), lower-case name to unfolded value.
     *
     * Default: {}
     */
    list: {
        [index: string]: string;
    };
    /**
     * Received header values, unfolded, top (newest) first.
     *
     * Default: []
     */
    received: string[];
    /**
     * Authentication-Results values already present on arrival (added by others: not trusted as ours).
     *
     * Default: []
     */
    authenticationResults: string[];
    /**
     * Header fields in the top-level header.
     *
     * Default: 0
     */
    count: number;
    /**
     * Bytes of the top-level header block.
     *
     * Default: 0
     */
    bytes: number;
}

export interface DevScopMimeMimeDefect {
    /**
     * e.g. missing-boundary, unknown-charset, nesting-too-deep (README lists them).
     */
    code: string;
    /**
     * Part path (1.2.1), empty for the top-level header.
     *
     * Default: ""
     */
    part: string;
    /**
     * Default: ""
     */
    detail: string;
}

export interface DevScopMimeMimeAttachment {
    /**
     * Decoded file name as given (RFC 2231/2047).
     *
     * Default: null
     */
    filename: null | string;
    /**
     * Content-Type of the part, lower-case.
     */
    declaredType: string;
    /**
     * MIME type from the bytes' magic numbers (file-type), null when unknown.
     *
     * Default: null
     */
    sniffedType: null | string;
    /**
     * Default: null
     */
    disposition: null | string;
    size: number;
    /**
     * Hex SHA-256 of the decoded content.
     */
    sha256: string;
    /**
     * Attachment policy: executable, double-extension, type-mismatch, macro-office, archive, encrypted-archive, html, script, virus.
     *
     * Default: []
     */
    flags: string[];
    /**
     * Signature name when ClamAV found one.
     *
     * Default: null
     */
    virus: null | string;
}

export interface DevScopMimeVirusScan {
    /**
     * clamd
     */
    engine: string;
    /**
     * clean, infected, or error (the scan could not run; the record still flows).
     */
    result: string;
    /**
     * Default: ""
     */
    detail: string;
}

/**
 * The MIME stage's view of the message (processors/mime): headers later stages need, bodies as bounded text, URLs, charsets, parse defects and attachments with the attachment policy's flags. Word lists (tags, defect codes, flags) are strings so new words need no schema change; processors/mime/README.md lists them.
 */
export interface DevScopMimeMimeSection {
    stageVersion: string;
    parsedAt: number;
    /**
     * Summary words: has-text, has-html, has-attachments, has-defects, utf8-headers, encoded-headers, dangerous-attachment, virus, parse-failed, limits-exceeded, truncated.
     *
     * Default: []
     */
    tags: string[];
    headers: DevScopMimeMimeHeaders;
    /**
     * The plain-text body (or the HTML rendered as text when there is no text part), cut at the text limit.
     *
     * Default: null
     */
    text: null | string;
    /**
     * The HTML body source, cut at the HTML limit.
     *
     * Default: null
     */
    html: null | string;
    /**
     * Default: false
     */
    textTruncated: boolean;
    /**
     * Default: false
     */
    htmlTruncated: boolean;
    /**
     * Distinct http(s)/ftp URLs and www. links from the text and HTML (href/src), in order of appearance, bounded.
     *
     * Default: []
     */
    urls: string[];
    /**
     * Content-Language values, then the detected language of the text (ISO 639-3, franc) when confident.
     *
     * Default: []
     */
    languages: string[];
    /**
     * Charsets declared by the parts and encoded words, lower-case, distinct.
     *
     * Default: []
     */
    charsets: string[];
    /**
     * MIME parts seen (leaves and containers).
     *
     * Default: 0
     */
    parts: number;
    /**
     * Deepest nesting seen (0: a single-part message).
     *
     * Default: 0
     */
    depth: number;
    /**
     * Default: []
     */
    defects: DevScopMimeMimeDefect[];
    /**
     * Default: []
     */
    attachments: DevScopMimeMimeAttachment[];
    /**
     * Union of the attachments' flags.
     *
     * Default: []
     */
    attachmentFlags: string[];
    /**
     * null when no scanner is configured (CLAMD_ADDRESS unset).
     *
     * Default: null
     */
    scan: null | DevScopMimeVirusScan;
}

export interface DevScopSpamSpamClue {
    token: string;
    /**
     * The token's spam probability in the model (for linear models the logistic of its weight).
     */
    probability: number;
}

/**
 * The spam stage's verdict (processors/spam): a model over the message's tokens — logistic regression on the tokens with a Platt-calibrated probability (the shipped models), or Robinson token probabilities with chi-square combining (counts-only models). The stage also emits BAYES_SPAM / BAYES_UNSURE / BAYES_HAM with the probability as symbol.
 */
export interface DevScopSpamSpamSection {
    stageVersion: string;
    scoredAt: number;
    /**
     * Spam probability, 0 (ham) to 1 (spam): calibrated for linear models, chi-square combined for counts-only ones.
     */
    probability: number;
    /**
     * Unbounded, keeps the order where the probability saturates at 0 or 1: the linear margin (sum of the token weights, length-normalised, plus bias) for linear models; the sum of the used tokens' log-odds ln(p/(1-p)) for counts-only ones.
     */
    score: number;
    /**
     * ham (probability < hamCutoff), unsure (between; the default policy junks it), spam (>= spamCutoff).
     */
    verdict: string;
    /**
     * The model's thresholds used for the verdict.
     */
    hamCutoff: number;
    spamCutoff: number;
    /**
     * The strongest contributing tokens, strongest first (at most 15).
     *
     * Default: []
     */
    topTokens: DevScopSpamSpamClue[];
    /**
     * Distinct tokens the message produced.
     *
     * Default: 0
     */
    tokenCount: number;
    /**
     * Version of the model that scored this message (content hash, see spam.model).
     */
    modelVersion: string;
    tokenizerVersion: string;
}

/**
 * Reputation of the message's client prefix and authenticated sender domain as the firewall stage (processors/firewall) knew it when the message passed (before this message was counted).
 */
export interface DevScopFirewallFirewallSection {
    /**
     * The client's /24 (IPv4) or /64 (IPv6), CIDR.
     */
    clientPrefix: string;
    /**
     * Decayed badness score of the prefix (0 = nothing known; each spam message adds about 1).
     */
    prefixScore: number;
    /**
     * Messages counted for the prefix so far.
     *
     * Default: 0
     */
    prefixMessages: number;
    /**
     * The prefix is on the blocklist (the message got in before the block took effect).
     *
     * Default: false
     */
    prefixBlocked: boolean;
    /**
     * The authenticated sender domain (DMARC-pass From domain, else the aligned DKIM or SPF-pass domain); null when none.
     *
     * Default: null
     */
    senderDomain: null | string;
    /**
     * Default: null
     */
    domainScore: null | number;
    checkedAt: number;
    stageVersion: string;
}

export type DevScopDecisionAction = "deliver" | "add_header" | "junk" | "quarantine" | "reject";

export interface DevScopDecisionActionThreshold {
    action: DevScopDecisionAction;
    /**
     * From this total on, the action applies (the most severe one reached wins).
     */
    score: number;
}

/**
 * The MailRecord section of the stage that emitted the symbol (a stage owns one section).
 */
export type DevScopSymbolsStage = "mime" | "auth" | "spam" | "firewall" | "decision" | "dkimSign" | "other";

export interface DevScopDecisionWeighedSymbol {
    symbol: string;
    stage: DevScopSymbolsStage;
    /**
     * What it added to the total (0: no weight in the policy, below its min_score, or its group was full).
     */
    weight: number;
    /**
     * The stage's own measure (Symbol.score).
     *
     * Default: null
     */
    score: null | number;
    /**
     * Default: []
     */
    options: string[];
    /**
     * Default: null
     */
    group: null | string;
    /**
     * Derived by the decision from the stage's section, for records written before that stage emitted symbols.
     *
     * Default: false
     */
    derived: boolean;
}

/**
 * What happens to the message, added by the decision stage (processors/decision): the symbols of every stage weighed with the policy file, the total against the thresholds, forced actions and allow/block lists.
 */
export interface DevScopDecisionDecisionSection {
    /**
     * deliver; add_header: deliver to the inbox with X-Spam: Yes; junk: deliver with X-Spam-Flag: YES (Maildir: into .Junk); quarantine: held for an operator; reject: refused after acceptance — not delivered, no bounce (the sender of such mail is usually forged), kept in quarantine with the reason so an operator can still release it. Readers that do not know a newer action read deliver.
     */
    action: DevScopDecisionAction;
    /**
     * The deciding rule first, then every symbol that added to the score, e.g. 'quarantine: score 20.0 >= 20 (quarantine)', 'reject: forced by dmarc-reject (DMARC_POLICY_REJECT{bank.test})', 'BAYES_SPAM{0.991} +20'. Decisions made before the policy file wrote prose, e.g. 'reject: dmarc=fail (policy reject for bank.test)'.
     *
     * Default: []
     */
    reasons: string[];
    /**
     * The spam section's score the decision saw (null: no spam section).
     *
     * Default: null
     */
    spamScore: null | number;
    /**
     * The client prefix's reputation score the decision saw (null: no firewall section).
     *
     * Default: null
     */
    reputation: null | number;
    decidedAt: number;
    stageVersion: string;
    /**
     * Total of the weighed symbols (group caps applied); null for decisions made before the policy file.
     *
     * Default: null
     */
    score: null | number;
    /**
     * The thresholds that applied (the recipient domain's when it has its own); actions switched off are absent.
     *
     * Default: []
     */
    thresholds: DevScopDecisionActionThreshold[];
    /**
     * The rule that set the action instead of the score: a forced-action rule's name, 'allowlist' or 'blocklist'; null when the score decided.
     *
     * Default: null
     */
    forcedBy: null | string;
    /**
     * Every symbol the decision considered, with its weight: what `scop explain` prints.
     *
     * Default: []
     */
    weighed: DevScopDecisionWeighedSymbol[];
    /**
     * SHA-256 (first 16 hex digits) of the effective policy: which policy decided.
     *
     * Default: null
     */
    policyVersion: null | string;
    /**
     * The recipient domain whose own policy decided; null: the base policy.
     *
     * Default: null
     */
    policyDomain: null | string;
}

export interface DevScopDkimDkimSigningSignature {
    /**
     * d=
     */
    domain: string;
    /**
     * s=
     */
    selector: string;
    /**
     * a=: rsa-sha256 or ed25519-sha256
     */
    algorithm: string;
    /**
     * i= when emitted
     *
     * Default: null
     */
    identity: null | string;
    /**
     * h= in order, oversigned names included
     */
    signedHeaders: string[];
    /**
     * bh=
     */
    bodyHash: string;
    /**
     * RSA modulus length; null for Ed25519
     *
     * Default: null
     */
    keyBits: null | number;
}

/**
 * The DKIM signing stage's section (processors/dkim-sign) on mail.outbound.signed. envelope.raw stays untouched: the message to send is `headers` followed by envelope.raw (the egress prepends them).
 */
export interface DevScopDkimDkimSignSection {
    stageVersion: string;
    signedAt: number;
    /**
     * The DKIM-Signature header fields, folded, each ending in CRLF, in the order to prepend them to envelope.raw (US-ASCII).
     */
    headers: string;
    /**
     * The RFC5322.From domain (A-label, lower case) the signatures are for.
     */
    fromDomain: string;
    /**
     * The SMTP AUTH identity that was allowed to send as the From address.
     *
     * Default: null
     */
    authUser: null | string;
    signatures: DevScopDkimDkimSigningSignature[];
}

/**
 * One finding of one stage: the contract between the stages and the decision (processors/decision weighs it with the policy file). A stage returns only its own symbols; the runtime (runtime/stage.ts) stamps `stage` and replaces that stage's earlier symbols on a replay, never another stage's.
 */
export interface DevScopSymbolsSymbol {
    /**
     * Upper-case name, letters, digits and _ (e.g. SPF_FAIL, DKIM_VALID, DMARC_POLICY_REJECT, BAYES_SPAM, MIME_DOUBLE_EXTENSION, REPUTATION_BAD_NET). An open set: a new check adds symbols without a schema change; the policy file gives them weights.
     */
    symbol: string;
    /**
     * Who emitted it; set by the runtime, not by the stage.
     */
    stage: DevScopSymbolsStage;
    /**
     * The stage's own measure when it has one: a probability (BAYES_*), a reputation score (REPUTATION_*). The policy's min_score conditions read it; the weight comes from the policy file, not from here.
     *
     * Default: null
     */
    score: null | number;
    /**
     * What the finding is about: a domain, a file name, a list's answer (e.g. ["invoice.pdf.exe"], ["d=example.org"], ["127.0.0.2"]); bounded by the stage.
     *
     * Default: []
     */
    options: string[];
}

/**
 * Where the raw message is kept: the record the ingress wrote (mail.inbound.raw or mail.outbound.raw). Stages write it instead of copying the raw bytes into every topic; read the bytes with runtime/raw-ref.ts, which checks sha256.
 */
export interface DevScopMailRawRef {
    topic: string;
    partition: number;
    offset: number;
    /**
     * Hex SHA-256 of the referenced record's envelope.raw.
     */
    sha256: string;
}

/**
 * The one record per message that travels the chain. The ingress writes the envelope; each stage adds its own verdict section (a nullable field added here, with default null, so every version stays BACKWARD compatible) and its symbols, and never rewrites another's.
 */
export interface DevScopMailMailRecord {
    envelope: DevScopMailEnvelope;
    /**
     * SPF/DKIM/DMARC/ARC/BIMI verdicts and the Authentication-Results value, added by the auth stage (processors/auth).
     *
     * Default: null
     */
    auth: null | DevScopAuthAuthSection;
    /**
     * Headers, bodies as text, URLs, charsets, parse defects and attachments with policy flags, added by the MIME stage (processors/mime).
     *
     * Default: null
     */
    mime: null | DevScopMimeMimeSection;
    /**
     * Bayes spam probability, score, verdict (ham/unsure/spam), top tokens and the model version that scored it, added by the spam stage (processors/spam).
     *
     * Default: null
     */
    spam: null | DevScopSpamSpamSection;
    /**
     * Reputation of the client prefix and the authenticated sender domain, added by the firewall stage (processors/firewall).
     *
     * Default: null
     */
    firewall: null | DevScopFirewallFirewallSection;
    /**
     * The action (deliver, junk, quarantine, reject) and its reasons, added by the decision stage (processors/decision).
     *
     * Default: null
     */
    decision: null | DevScopDecisionDecisionSection;
    /**
     * DKIM signatures of an outbound message (the header fields to prepend to envelope.raw), added by the DKIM signing stage (processors/dkim-sign).
     *
     * Default: null
     */
    dkimSign: null | DevScopDkimDkimSignSection;
    /**
     * Every stage's findings as symbols, in stage order (schemas/symbol.avsc). Each stage returns its own next to its section and the runtime merges them; empty in records written before stages emitted symbols (the decision then derives them from the sections, processors/decision/legacy.ts).
     *
     * Default: []
     */
    symbols: DevScopSymbolsSymbol[];
    /**
     * Set when envelope.raw is not carried (then it is empty): the raw message is the envelope.raw of the record at this reference. Null when envelope.raw is inline (the ingress's records, held mail on mail.quarantine, records written before references existed).
     *
     * Default: null
     */
    rawRef: null | DevScopMailRawRef;
}

/**
 * A message the egress relay has still to deliver to some recipients: on mail.delivery.requests (released from quarantine, or later from the outbound path), on the retry topics after a temporary failure (with notBefore), and on mail.delivery.dead when retries are exhausted.
 */
export interface DevScopEgressDeliveryJob {
    record: DevScopMailMailRecord;
    /**
     * The recipients still to deliver (a subset of envelope.rcptTo).
     */
    recipients: string[];
    /**
     * Delivery attempts made so far.
     *
     * Default: 0
     */
    attempt: number;
    /**
     * Do not try before this time.
     */
    notBefore: number;
    /**
     * The last temporary failure (remote reply or connection error).
     *
     * Default: null
     */
    lastError: null | string;
    /**
     * inbound, release:<operator>, outbound, …
     *
     * Default: "inbound"
     */
    origin: string;
    /**
     * Deliver as junk (X-Spam-Flag: YES).
     *
     * Default: false
     */
    junk: boolean;
}

