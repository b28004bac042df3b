/** Friendly names for the generated record types (schemas/generated/ comes from the .avsc files). */
export type { DevScopMailMailRecord as MailRecord, DevScopMailEnvelope as Envelope, DevScopMailTlsInfo as TlsInfo, DevScopMailListener as Listener, DevScopMailBodyType as BodyType } from './generated/mail-record.ts';
export type { DevScopOpsDeadLetter as DeadLetter } from './generated/dead-letter.ts';
export type { DevScopFirewallBlock as Block } from './generated/block.ts';
export type { DevScopOpsAlert as Alert, DevScopOpsSeverity as AlertSeverity } from './generated/alert.ts';
export type { DevScopAuthAuthSection as AuthSection, DevScopAuthSpfVerdict as SpfVerdictRecord, DevScopAuthDkimSignature as DkimSignature, DevScopAuthDmarcVerdict as DmarcVerdict, DevScopAuthArcVerdict as ArcVerdict, DevScopAuthArcHop as ArcHop, DevScopAuthBimiVerdict as BimiVerdict, DevScopAuthDnsCounts as DnsCounts, DevScopAuthHeloSpfVerdict as HeloSpfVerdict } from './generated/mail-record.ts';
export type { DevScopAuthDmarcEvent as DmarcEvent } from './generated/dmarc-event.ts';
export type { DevScopMimeMimeSection as MimeSection, DevScopMimeMimeHeaders as MimeHeaders, DevScopMimeMailAddress as MailAddress, DevScopMimeMimeDefect as MimeDefect, DevScopMimeMimeAttachment as MimeAttachment, DevScopMimeVirusScan as VirusScan } from './generated/mail-record.ts';
export type { DevScopFirewallFirewallSection as FirewallSection, DevScopDecisionDecisionSection as DecisionSection, DevScopDecisionAction as DecisionAction } from './generated/mail-record.ts';
export type { DevScopFirewallReputation as Reputation } from './generated/reputation.ts';
export type { DevScopFirewallReputationEvent as ReputationEvent } from './generated/reputation-event.ts';
export type { DevScopEgressDeliveryJob as DeliveryJob } from './generated/delivery.ts';
export type { DevScopEgressDeliveryStatus as DeliveryStatus, DevScopEgressDeliveryState as DeliveryState } from './generated/delivery-status.ts';
export type { DevScopSpamSpamSection as SpamSection, DevScopSpamSpamClue as SpamClue } from './generated/mail-record.ts';
export type { DevScopSpamSpamModel as SpamModelRecord, DevScopSpamSpamModelOptions as SpamModelOptions, DevScopSpamSpamLearnerState as SpamLearnerState } from './generated/spam-model.ts';
export type { DevScopSpamSpamFeedback as SpamFeedback } from './generated/spam-feedback.ts';
export type { DevScopDkimDkimSignSection as DkimSignSection, DevScopDkimDkimSigningSignature as DkimSigningSignature } from './generated/mail-record.ts';
export type { DevScopOpsAuditEvent as AuditEvent } from './generated/audit-event.ts';
