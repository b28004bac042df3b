/** Friendly names for the generated record types (schemas/generated/ comes from the .avsc files). */
export type { DevScopMailMailRecord as MailRecord, DevScopMailEnvelope as Envelope, DevScopMailTlsInfo as TlsInfo, DevScopMailListener as Listener, DevScopMailBodyType as BodyType } from './generated/mail-record.ts';
export type { DevScopOpsDeadLetter as DeadLetter } from './generated/dead-letter.ts';
export type { DevScopFirewallBlock as Block } from './generated/block.ts';
export type { DevScopOpsAlert as Alert, DevScopOpsSeverity as AlertSeverity } from './generated/alert.ts';
export type { DevScopAuthAuthSection as AuthSection, DevScopAuthSpfVerdict as SpfVerdictRecord, DevScopAuthDkimSignature as DkimSignature, DevScopAuthDmarcVerdict as DmarcVerdict, DevScopAuthArcVerdict as ArcVerdict, DevScopAuthArcHop as ArcHop, DevScopAuthBimiVerdict as BimiVerdict, DevScopAuthDnsCounts as DnsCounts, DevScopAuthHeloSpfVerdict as HeloSpfVerdict } from './generated/mail-record.ts';
export type { DevScopAuthDmarcEvent as DmarcEvent } from './generated/dmarc-event.ts';
