/** Reputation arithmetic: client prefixes, exponential decay, one message's weight, one event applied. */
import ipaddr from 'ipaddr.js';
import type { MailRecord, Reputation, ReputationEvent } from '../../schemas/types.ts';
import type { FirewallConfig } from './config.ts';

/** The /24 (IPv4) or /64 (IPv6) holding `ip`, as CIDR; IPv4-mapped IPv6 counts as IPv4. */
export function prefixOf(ip: string): string {
  let a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  const bits = a.kind() === 'ipv4' ? 24 : 64;
  const bytes = a.toByteArray();
  const keep = bits / 8;
  for (let i = keep; i < bytes.length; i++) bytes[i] = 0;
  return `${ipaddr.fromByteArray(bytes).toString()}/${bits}`;
}

/** The score `from` ms later, halving every halfLifeMs. */
export function decayed(score: number, from: number, to: number, halfLifeMs: number): number {
  if (to <= from) return score;
  return score * 2 ** (-(to - from) / halfLifeMs);
}

/** The domain the message is authenticated for: DMARC-pass From domain, else a passing DKIM d=, else the SPF-pass domain. */
export function senderDomain(record: MailRecord): string | null {
  const a = record.auth;
  if (!a) return null;
  if (a.dmarc.result === 'pass' && a.dmarc.fromDomain) return a.dmarc.fromDomain.toLowerCase();
  const dkim = a.dkim.find((s) => s.result === 'pass' && s.domain);
  if (dkim?.domain) return dkim.domain.toLowerCase();
  if (a.spf.result === 'pass' && a.spf.domain) return a.spf.domain.toLowerCase();
  return null;
}

export function authFailed(record: MailRecord): boolean {
  const a = record.auth;
  if (!a) return false;
  if (a.dmarc.result === 'fail') return true;
  return a.dmarc.result === 'none' && a.spf.result === 'fail';
}

/** What one message adds to its subjects' scores. */
export function messageEvent(record: MailRecord, subject: string, cfg: FirewallConfig): ReputationEvent {
  const verdict = record.spam?.verdict;
  const authFailure = authFailed(record);
  let weight = verdict === 'spam' ? cfg.weights.spam : verdict === 'unsure' ? cfg.weights.unsure : verdict === 'ham' ? cfg.weights.ham : 0;
  if (authFailure) weight += cfg.weights.authFailure;
  return {
    subject, recordId: record.envelope.id, at: record.envelope.receivedAt, spam: verdict === 'spam',
    spamScore: record.spam?.probability ?? null, authFailure, weight, clientIp: record.envelope.clientIp,
  };
}

export function emptyReputation(subject: string): Reputation {
  return { subject, score: 0, updatedAt: 0, messages: 0, spam: 0, authFailures: 0, blockedUntil: null, lastEventOffset: -1, blockEventOffset: -1 };
}

/** Applies one event (its offset in firewall.events) and says whether it newly blocks the prefix. */
export function applyEvent(cur: Reputation | undefined, ev: ReputationEvent, offset: number, cfg: FirewallConfig, now: number): { next: Reputation; block: boolean } {
  const r = cur ?? emptyReputation(ev.subject);
  const at = Math.max(r.updatedAt, ev.at);
  const score = Math.max(0, decayed(r.score, r.updatedAt, at, cfg.halfLifeMs) + ev.weight);
  const next: Reputation = {
    ...r, score, updatedAt: at, messages: r.messages + 1, spam: r.spam + (ev.spam ? 1 : 0),
    authFailures: r.authFailures + (ev.authFailure ? 1 : 0), lastEventOffset: offset,
  };
  const isPrefix = ev.subject.startsWith('ip:');
  const alreadyBlocked = r.blockedUntil !== null && r.blockedUntil > now;
  const block = isPrefix && !alreadyBlocked && score >= cfg.blockScore && next.messages >= cfg.blockMinMessages;
  if (block) {
    next.blockedUntil = now + cfg.blockMs;
    next.blockEventOffset = offset;
  }
  return { next, block };
}
