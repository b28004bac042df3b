// Generated from schemas/delivery-status.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopEgressDeliveryStatus;

export type DevScopEgressDeliveryState = "delivered" | "bounced" | "dead";

/**
 * The outcome for one recipient of one message, keyed by '<recordId>|<recipient>' on the compacted mail.delivery.log. The egress writes it before committing the input offset and skips recipients already logged as final, so a replay after a crash does not deliver twice.
 */
export interface DevScopEgressDeliveryStatus {
    recordId: string;
    recipient: string;
    /**
     * delivered; bounced: permanent failure (the remote reply is in reply); dead: temporary failures until retries ran out.
     */
    status: DevScopEgressDeliveryState;
    at: number;
    attempts: number;
    /**
     * smtp://host:port, lmtp://host:port or maildir:<path>.
     */
    nextHop: string;
    /**
     * The remote server's reply (or the error) for this recipient.
     *
     * Default: null
     */
    reply: null | string;
    /**
     * When the ingress accepted the message (accept → delivery latency).
     *
     * Default: null
     */
    receivedAt: null | number;
    /**
     * SHA-256 (base64) of the envelope sender, Message-ID and raw bytes, for delivered messages that have a Message-ID: a sender's retransmission after a lost 250 (a new record id, the same content) is recognised by every relay from the log (egress/relay/retransmissions.ts).
     *
     * Default: null
     */
    contentKey: null | string;
}

