/**
 * One message in, every verdict out: SPF (RFC 7208), DKIM (RFC 6376 / RFC 8463), ARC (RFC 8617),
 * DMARC (RFC 7489, with our disposition incl. sp/pct), BIMI (lookup only) and the
 * Authentication-Results value (RFC 8601). mailauth does the protocol work (patched, see
 * patches/); this module wires the pieces like mailauth's authenticate() does, with our
 * resolver, and turns the results into the stage's section.
 */
import { createHash } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { arc as mailauthArc } from 'mailauth/lib/arc/index.js';
import { dmarc as mailauthDmarc } from 'mailauth/lib/dmarc/index.js';
import { bimi as mailauthBimi } from 'mailauth/lib/bimi/index.js';
import type { AuthSection, ArcHop, DkimSignature } from '../../schemas/types.ts';
import { emptyStats, type DnsResolver, type DnsStats } from './dns.ts';
import { checkSpf, type SpfVerdict } from './spf.ts';

export const STAGE_VERSION = '1.0.0';

export interface VerifyInput {
  raw: Buffer;
  clientIp: string;
  helo: string;
  mailFrom: string;
  /** Stable per message (the record id): pct sampling uses it, so a retry decides the same way. */
  messageId: string;
}

export interface VerifyOptions {
  dns: DnsResolver;
  /** authserv-id of the Authentication-Results header, and %{r} for SPF. */
  authservId: string;
  /** RSA keys shorter than this fail (RFC 8301: at least 1024). */
  minKeyBits: number;
  /** Verification clock (tests); default now. */
  now?: Date;
  signal?: AbortSignal;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** "fail" for results that are failures; the word written into tags. */
const tag = (method: string, result: string) => `${method}-${result}`;

function dkimSignature(r: Any): DkimSignature {
  const st = r.status ?? {};
  return {
    result: st.result ?? 'none',
    reason: st.comment ?? (st.policy?.['dkim-rules'] ? `policy: ${st.policy['dkim-rules']}` : ''),
    domain: r.signingDomain ?? null,
    selector: r.selector ?? null,
    algorithm: r.algo ?? null,
    canonicalization: r.format ?? null,
    bodyHashMatched: r.bodyHash !== undefined && r.bodyHash === r.bodyHashExpecting,
    keyBits: typeof r.modulusLength === 'number' ? r.modulusLength : null,
    aligned: typeof st.aligned === 'string' && st.aligned.length > 0,
    signedHeaders: r.signingHeaders?.keys ?? null,
    signedAt: r.signTime ? Date.parse(r.signTime) : null,
    expiresAt: r.expiresAfter ? Date.parse(r.expiresAfter) : null,
  };
}

/** RFC 7489 §6.6.4: a failing message outside the pct sample gets the next less strict policy. */
export function inSample(messageId: string, pct: number): boolean {
  if (pct >= 100) return true;
  if (pct <= 0) return false;
  return createHash('sha256').update(messageId).digest().readUInt32BE(0) % 100 < pct;
}

const POLICIES = ['none', 'quarantine', 'reject'];

export async function verifyMessage(input: VerifyInput, opts: VerifyOptions): Promise<{ section: AuthSection; stats: DnsStats }> {
  const stats = emptyStats();
  const resolve = opts.dns.forMessage(stats, opts.signal);
  // mailauth's typings omit the MX shape its code uses; the function is node:dns-compatible.
  const resolver = resolve as never;
  const { authservId } = opts;
  const tags: string[] = [];

  const dkim: Any = await dkimVerify(input.raw, {
    resolver, sender: input.mailFrom || undefined, minBitLength: opts.minKeyBits, curTime: opts.now,
  });

  const spf: SpfVerdict = await checkSpf({ ip: input.clientIp, helo: input.helo, mailFrom: input.mailFrom, mta: authservId, resolver: resolve });
  // HELO identity as well (RFC 7208 §2.3 recommends it); free when the MAIL FROM is null.
  const helo: SpfVerdict | null = input.mailFrom && input.helo
    ? await checkSpf({ ip: input.clientIp, helo: input.helo, mailFrom: '', mta: authservId, resolver: resolve })
    : null;

  const arcRes: Any = await mailauthArc(dkim.arc, { resolver, minBitLength: opts.minKeyBits });

  const fromAddrs: string[] = dkim.headerFrom ?? [];
  const fromDomains = [...new Set(fromAddrs.map((a) => a.split('@').pop()!.toLowerCase()))];
  let dmarcRes: Any = false;
  if (fromDomains.length === 1) {
    dmarcRes = await mailauthDmarc({
      headerFrom: fromAddrs[0]!,
      spfDomains: spf.result === 'pass' ? [spf.domain] : [],
      dkimDomains: (dkim.results ?? []).filter((r: Any) => r.status?.result === 'pass').map((r: Any) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized })),
      arcResult: arcRes,
      resolver,
    });
  }
  const bimiRes: Any = dmarcRes ? await mailauthBimi({ dmarc: dmarcRes, headers: dkim.headers, resolver }) : false;

  // --- DMARC disposition (ours: mailauth reports the policy but not what to do) ---
  const dmarcResult: string = fromDomains.length > 1 ? 'permerror' : dmarcRes ? dmarcRes.status.result : 'none';
  const record = dmarcRes?.rr ?? null;
  const parsedPolicy = typeof dmarcRes?.policy === 'string' ? dmarcRes.policy.toLowerCase().trim() : null;
  const appliedPolicy = parsedPolicy && POLICIES.includes(parsedPolicy) ? parsedPolicy : record ? 'none' : null;
  const pctRaw = dmarcRes?.pct;
  const pct = typeof pctRaw === 'number' && pctRaw >= 0 && pctRaw <= 100 ? pctRaw : 100;
  let disposition = 'none';
  let sampledOut = false;
  if (dmarcResult === 'fail' && appliedPolicy && appliedPolicy !== 'none') {
    if (inSample(input.messageId, pct)) disposition = appliedPolicy;
    else {
      sampledOut = true;
      disposition = appliedPolicy === 'reject' ? 'quarantine' : 'none';
    }
  }
  const alignedDkim = dmarcRes?.alignment?.dkim?.result || null;
  const alignedSpf = dmarcRes?.alignment?.spf?.result || null;

  // --- ARC chain (RFC 8617) ---
  const chain: ArcHop[] = ((arcRes as Any)?.chain || []).map((link: Any) => ({
    instance: Number(link.i),
    cv: String(link['arc-seal']?.parsed?.cv?.value ?? '').toLowerCase(),
    domain: link['arc-seal']?.parsed?.d?.value ?? null,
    selector: link['arc-seal']?.parsed?.s?.value ?? null,
    algorithm: link['arc-seal']?.parsed?.a?.value ?? null,
    authservId: link['arc-authentication-results']?.parsed?.value ?? null,
  }));
  let arcResult: string = arcRes?.status?.result ?? 'none';
  const arcReason: string = arcRes?.status?.comment ?? '';
  if (arcResult === 'fail' && arcRes?.dnsTemporary) arcResult = 'temperror';

  const dkimSigs = (dkim.results ?? []).filter((r: Any) => r.signingDomain || r.status?.result !== 'none').map(dkimSignature);

  // --- Authentication-Results (RFC 8601), in mailauth's order: dkim, spf, arc, dmarc, bimi ---
  const resinfo: string[] = [];
  for (const r of dkim.results ?? []) resinfo.push(r.info);
  resinfo.push(spf.arInfo);
  if (arcRes?.info) resinfo.push(arcResult === 'temperror' ? arcRes.info.replace(/^arc=fail/, 'arc=fail (temporary DNS failure)') : arcRes.info);
  if (dmarcRes?.info) resinfo.push(dmarcRes.info);
  else if (fromDomains.length > 1) resinfo.push('dmarc=permerror (multiple From domains)');
  if (bimiRes?.info) resinfo.push(bimiRes.info);
  const authenticationResults = `${authservId};\r\n ${resinfo.map((l) => l.replace(/\r?\n/g, ' ')).join(';\r\n ')}`;

  tags.push(tag('spf', spf.result), tag('dmarc', dmarcResult), tag('arc', arcResult));
  for (const s of dkimSigs) tags.push(tag('dkim', s.result));
  if (dkimSigs.length === 0) tags.push('dkim-none');
  if (disposition !== 'none') tags.push(`dmarc-${disposition}`);
  if (stats.timeouts > 0) tags.push('dns-timeout');

  const section: AuthSection = {
    stageVersion: STAGE_VERSION,
    authservId,
    verifiedAt: (opts.now ?? new Date()).getTime(),
    spf: spfSection(spf),
    heloSpf: helo ? spfSection(helo) : null,
    dkim: dkimSigs,
    dmarc: {
      result: dmarcResult,
      reason: dmarcRes?.status?.comment || (fromDomains.length > 1 ? 'multiple From domains' : fromDomains.length === 0 ? 'no From domain' : dmarcRes?.error ?? ''),
      fromDomain: fromDomains.length === 1 ? fromDomains[0]! : null,
      policyDomain: dmarcRes?.domain ?? null,
      record,
      policy: dmarcRes?.p ?? null,
      subdomainPolicy: dmarcRes?.sp ?? null,
      appliedPolicy,
      pct: record ? pct : null,
      adkim: record ? (/;\s*adkim\s*=\s*s/i.test(record) ? 's' : 'r') : null,
      aspf: record ? (/;\s*aspf\s*=\s*s/i.test(record) ? 's' : 'r') : null,
      spfAligned: !!alignedSpf,
      dkimAligned: !!alignedDkim,
      alignedSpfDomain: alignedSpf,
      alignedDkimDomain: alignedDkim,
      disposition,
      sampledOut,
    },
    arc: { result: arcResult, reason: arcReason, chain },
    bimi: {
      result: bimiRes ? bimiRes.status?.result ?? 'none' : 'skipped',
      reason: bimiRes ? bimiRes.status?.comment ?? '' : 'DMARC not evaluated',
      location: bimiRes?.location ?? null,
      authority: bimiRes?.authority ?? null,
    },
    dns: { lookups: stats.lookups, cacheHits: stats.cacheHits, queries: stats.queries, timeouts: stats.timeouts },
    authenticationResults,
    receivedSpf: spf.receivedSpf,
    tags,
  };
  return { section, stats };
}

function spfSection(v: SpfVerdict): AuthSection['spf'] {
  return {
    result: v.result, domain: v.domain, identity: v.identity, reason: v.reason, explanation: v.explanation,
    record: v.record, lookups: v.lookups, voidLookups: v.voidLookups,
  };
}
