// Generated from schemas/spam-feedback.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopSpamSpamFeedback;

/**
 * A label for one message (e.g. a user moved it to Junk, or out of it), keyed by record id on spam.feedback; `scop spam train --from-topics` joins these with the records.
 */
export interface DevScopSpamSpamFeedback {
    /**
     * envelope.id of the message.
     */
    recordId: string;
    /**
     * ham or spam.
     */
    label: string;
    at: number;
    /**
     * Who said so (user, mail client, analyst).
     *
     * Default: ""
     */
    source: string;
    /**
     * The Message-ID header, for people reading the topic.
     *
     * Default: null
     */
    messageId: null | string;
}

