// Generated from schemas/audit-event.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopOpsAuditEvent;

/**
 * One operator write (console or CLI): who did what to which records, from where, and how it ended. Keyed by the actor on ops.audit.
 */
export interface DevScopOpsAuditEvent {
    /**
     * Unique id of this event (UUID).
     */
    id: string;
    at: number;
    /**
     * The operator's login name.
     */
    actor: string;
    /**
     * console, cli, …
     */
    origin: string;
    /**
     * Client address of the console request.
     *
     * Default: null
     */
    remoteAddress: null | string;
    /**
     * login, login-failed, logout, quarantine-release, quarantine-delete, quarantine-mark, spam-mark, dead-letter-redrive, firewall-block, firewall-unblock, …
     */
    action: string;
    /**
     * Record ids, prefixes, dead-letter coordinates the action applied to.
     *
     * Default: []
     */
    targets: string[];
    /**
     * Parameters of the action (label, reason, expiry), as text.
     *
     * Default: ""
     */
    detail: string;
    /**
     * ok, or error: <message>.
     */
    outcome: string;
}

