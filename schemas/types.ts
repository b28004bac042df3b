/** Friendly names for the generated record types (schemas/generated/ comes from the .avsc files). */
export type { DevScopMailMailRecord as MailRecord, DevScopMailEnvelope as Envelope, DevScopMailTlsInfo as TlsInfo, DevScopMailListener as Listener, DevScopMailBodyType as BodyType } from './generated/mail-record.ts';
export type { DevScopOpsDeadLetter as DeadLetter } from './generated/dead-letter.ts';
export type { DevScopFirewallBlock as Block } from './generated/block.ts';
