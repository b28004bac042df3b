/**
 * The decision rules: each verdict that applies proposes an action with a reason; the most severe
 * action wins (reject > quarantine > junk > deliver) and every reason is kept, the deciding one first.
 */
import type { DecisionAction, DecisionSection, MailRecord } from '../../schemas/types.ts';
import type { DecisionConfig } from './config.ts';

export const STAGE_VERSION = '1.0.0';
const SEVERITY: Record<DecisionAction, number> = { deliver: 0, junk: 1, quarantine: 2, reject: 3 };
/** Attachment policy flags (processors/mime) that make an attachment dangerous. */
const DANGEROUS = new Set(['executable', 'double-extension', 'script', 'macro-office', 'encrypted-archive']);

export function decide(record: MailRecord, cfg: DecisionConfig, now = Date.now()): DecisionSection {
  const proposals: { action: DecisionAction; reason: string }[] = [];
  const propose = (action: DecisionAction, reason: string) => { if (action !== 'deliver') proposals.push({ action, reason }); };

  const dmarc = record.auth?.dmarc;
  if (dmarc?.disposition === 'reject') propose(cfg.dmarc.reject, `dmarc=${dmarc.result} (policy reject for ${dmarc.fromDomain ?? '?'})`);
  else if (dmarc?.disposition === 'quarantine') propose(cfg.dmarc.quarantine, `dmarc=${dmarc.result} (policy quarantine for ${dmarc.fromDomain ?? '?'})`);

  const spam = record.spam;
  const score = spam?.score ?? null;
  if (spam) {
    const p = `spam probability ${spam.probability.toFixed(3)}`;
    if (spam.probability >= cfg.spam.rejectProbability) propose('reject', `${p} >= ${cfg.spam.rejectProbability}`);
    else if (spam.verdict === 'spam') propose(cfg.spam.spam, `spam verdict (${p}, model ${spam.modelVersion})`);
    else if (spam.verdict === 'unsure') propose(cfg.spam.unsure, `unsure spam verdict (${p})`);
  }

  const mime = record.mime;
  if (mime) {
    const viruses = mime.attachments.filter((a) => a.virus || a.flags.includes('virus'));
    if (viruses.length > 0 || mime.tags.includes('virus')) propose(cfg.virus, `virus ${viruses.map((a) => `${a.virus ?? 'found'} in ${a.filename ?? 'attachment'}`).join(', ') || 'found'}`);
    const dangerous = mime.attachments.filter((a) => a.flags.some((f) => DANGEROUS.has(f)));
    if (dangerous.length > 0) propose(cfg.dangerousAttachment, `dangerous attachment ${dangerous.map((a) => `${a.filename ?? '(unnamed)'} [${a.flags.filter((f) => DANGEROUS.has(f)).join(',')}]`).join(', ')}`);
    else if (mime.tags.includes('dangerous-attachment')) propose(cfg.dangerousAttachment, 'dangerous attachment');
  }

  const fw = record.firewall;
  if (fw) {
    if (fw.prefixScore >= cfg.reputation.quarantine) propose('quarantine', `client prefix ${fw.clientPrefix} reputation ${fw.prefixScore.toFixed(1)} >= ${cfg.reputation.quarantine}`);
    else if (fw.prefixScore >= cfg.reputation.junk) propose('junk', `client prefix ${fw.clientPrefix} reputation ${fw.prefixScore.toFixed(1)} >= ${cfg.reputation.junk}`);
    if (fw.prefixBlocked) propose('quarantine', `client prefix ${fw.clientPrefix} is blocked`);
    if (fw.domainScore !== null && fw.domainScore >= cfg.reputation.domainJunk) propose('junk', `sender domain ${fw.senderDomain} reputation ${fw.domainScore.toFixed(1)} >= ${cfg.reputation.domainJunk}`);
  }

  // Stable: equal severities keep their rule order.
  proposals.sort((a, b) => SEVERITY[b.action] - SEVERITY[a.action]);
  return {
    action: proposals[0]?.action ?? 'deliver',
    reasons: proposals.map((p) => `${p.action}: ${p.reason}`),
    spamScore: score,
    reputation: fw?.prefixScore ?? null,
    decidedAt: now,
    stageVersion: STAGE_VERSION,
  };
}
