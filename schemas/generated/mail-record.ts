// Generated from schemas/mail-record.avsc by schemas/codegen.ts. Do not edit.
export type AvroType = DevScopMailMailRecord;

export type DevScopMailListener = "MX" | "SUBMISSION" | "SUBMISSIONS";

export interface DevScopMailTlsInfo {
    protocol: string;
    cipher: string;
    implicit: boolean;
}

export type DevScopMailBodyType = "SEVEN_BIT" | "EIGHT_BIT_MIME" | "BINARY_MIME";

export interface DevScopMailEnvelope {
    id: string;
    receivedAt: number;
    listener: DevScopMailListener;
    clientIp: string;
    clientPort: number;
    clientHostname: null | string;
    helo: string;
    tls: null | DevScopMailTlsInfo;
    authUser: null | string;
    mailFrom: string;
    rcptTo: string[];
    smtpUtf8: boolean;
    bodyType: DevScopMailBodyType;
    size: number;
    ingressHost: string;
    raw: Buffer;
}

export interface DevScopMailMailRecord {
    envelope: DevScopMailEnvelope;
}

