/**
 * One message in, every verdict out: SPF (RFC 7208), DKIM (RFC 6376 / RFC 8463), ARC (RFC 8617),
 * DMARC (RFC 9989, with our disposition incl. the legacy pct of RFC 7489), BIMI (lookup only) and
 * the Authentication-Results value (RFC 8601). mailauth does the protocol work, in its strict
 * mode (every check exactly as its RFC says; README "mailauth"); this module wires the pieces like
 * mailauth's authenticate() does, with our resolver, and turns the results into the stage's section.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { arc as mailauthArc } from 'mailauth/lib/arc/index.js';
import { evaluateDmarc } from 'mailauth/lib/dmarc/index.js';
import { bimi as mailauthBimi } from 'mailauth/lib/bimi/index.js';
// @ts-expect-error: mailauth ships no types for lib/tools.js
import tools from 'mailauth/lib/tools.js';
import { MAX_ADDRESS_FIELD_LENGTH } from '../../runtime/header-fields.ts';
import type { AuthSection, ArcHop, DkimSignature } from '../../schemas/types.ts';
import { emptyStats, type DnsResolver, type DnsStats, type ResolveFn } from './dns.ts';
import { checkSpf, type SpfVerdict } from './spf.ts';
import { FROM_MULTIPLE_TAG, FROM_TOO_LONG_TAG } from './symbols.ts';

const { formatDomain, getAlignment } = tools as { formatDomain(d: string): string; getAlignment(from: string, list: string[], strict?: boolean): { domain: string } | false };

export const STAGE_VERSION = '1.1.0';

/** AUTH_DKIM_MAX_SIGNATURES' default: real mail carries one to three signatures. */
export const DEFAULT_MAX_DKIM_SIGNATURES = 5;

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
  /** DKIM signatures verified at most (RFC 6376 §6.1 allows a limit); the rest are reported as not checked. */
  maxDkimSignatures?: number;
  /** Verification clock (tests); default now. */
  now?: Date;
  /** Ends DNS work: past it every remaining lookup is a timeout (temperror verdicts). */
  signal?: AbortSignal;
  /** Ends the CPU work too (the stage's per-record time limit): verifyMessage rejects with its reason. */
  abort?: AbortSignal;
}

/** Body bytes handed to the DKIM/ARC hashers per turn of the event loop. */
const CHUNK = 64 * 1024;

/**
 * The message as a stream of 64 KiB chunks with a turn of the event loop between them, so that
 * timers run while a large body is hashed and `abort` stops the hashing between two chunks.
 */
function chunks(raw: Buffer, abort?: AbortSignal): Readable {
  return Readable.from((async function* () {
    for (let at = 0; at < raw.length; at += CHUNK) {
      abort?.throwIfAborted();
      yield raw.subarray(at, at + CHUNK);
      await nextTurn();
    }
  })(), { objectMode: false });
}

/** A resolver that remembers the names whose lookup failed temporarily (not NXDOMAIN/NODATA). */
function noteTemporaryFailures(resolve: ResolveFn, failed: Set<string>): ResolveFn {
  return async (name, type) => {
    try {
      return await resolve(name, type);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOTFOUND' && code !== 'ENODATA') failed.add(name.replace(/\.$/, '').toLowerCase());
      throw e;
    }
  };
}

const keyName = (tags: Any) => `${tags?.s?.value}._domainkey.${tags?.d?.value}`.toLowerCase();

/** The legacy pct= of an RFC 7489 record (0..100), or null; a record with RFC 9989's t= has none. */
export function legacyPct(record: string): number | null {
  const tags = new Map<string, string>();
  for (const spec of record.split(';')) {
    const eq = spec.indexOf('=');
    if (eq > 0) tags.set(spec.slice(0, eq).trim().toLowerCase(), spec.slice(eq + 1).trim());
  }
  const pct = tags.get('pct');
  if (tags.has('t') || pct === undefined || !/^\d{1,3}$/.test(pct) || Number(pct) > 100) return null;
  return Number(pct);
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
    checked: r.notChecked !== true,
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
  const temporaryFailures = new Set<string>();
  const resolve = noteTemporaryFailures(opts.dns.forMessage(stats, opts.signal), temporaryFailures);
  // mailauth's typings omit the MX shape its code uses; the function is node:dns-compatible.
  const resolver = resolve as never;
  const { authservId } = opts;
  const tags: string[] = [];

  const maxSignatures = opts.maxDkimSignatures ?? DEFAULT_MAX_DKIM_SIGNATURES;
  const dkim: Any = await dkimVerify(chunks(input.raw, opts.abort), {
    resolver, sender: input.mailFrom || undefined, minBitLength: opts.minKeyBits, curTime: opts.now, strict: true, maxSignatures,
    // The From fields' values (all together, in characters) parsed for the DMARC Author Domain, and the
    // Return-Path read for the null sender: 8 KiB (runtime/header-fields.ts says why). A longer From is
    // not parsed and gets dmarc=permerror (README "Limits").
    maxFromLength: MAX_ADDRESS_FIELD_LENGTH,
  });
  // From fields too long to be read (patches/mailauth+7.1.0.patch hunk 6): no Author Domain, so no
  // DMARC evaluation — a permerror, never a pass, with its own symbol (DMARC_FROM_TOO_LONG).
  const fromTooLong: number = dkim.fromTooLong ?? 0;

  const spf: SpfVerdict = await checkSpf({ ip: input.clientIp, helo: input.helo, mailFrom: input.mailFrom, mta: authservId, resolver: resolve });
  // HELO identity as well (RFC 7208 §2.3 recommends it); free when the MAIL FROM is null.
  const helo: SpfVerdict | null = input.mailFrom && input.helo
    ? await checkSpf({ ip: input.clientIp, helo: input.helo, mailFrom: '', mta: authservId, resolver: resolve })
    : null;

  const arcRes: Any = await mailauthArc(dkim.arc, { resolver, minBitLength: opts.minKeyBits, strict: true } as never);

  const fromAddrs: string[] = dkim.headerFrom ?? [];
  const fromDomains = [...new Set(fromAddrs.map((a) => a.split('@').pop()!.toLowerCase()))];
  let dmarcRes: Any = false;
  let dmarcSkipped = '';
  if (fromDomains.length === 1) {
    // One address of the one domain, as before mailauth 7: with its list of addresses and the
    // count of From fields, mailauth gives up on two From fields (RFC 5322 allows one), and a
    // message that cannot be evaluated gets no disposition — two "From: ceo@bank.example" fields
    // must not be the way around bank.example's p=reject.
    const evaluated: Any = await evaluateDmarc({
      headerFrom: fromAddrs[0]!,
      spfDomains: spf.result === 'pass' ? [spf.domain] : [],
      dkimDomains: (dkim.results ?? []).filter((r: Any) => r.status?.result === 'pass').map((r: Any) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized })),
      arcResult: arcRes,
      resolver,
      strict: true,
    } as never);
    dmarcRes = evaluated.response;
    dmarcSkipped = evaluated.reason ?? '';
    if (dmarcRes && evaluated.dkimAligned) {
      // As authenticate() does: the verifier guessed relaxed alignment from the public suffix list
      // before DMARC's tree walk; passing signatures take DMARC's answer, others its alignment mode.
      for (const r of dkim.results ?? []) {
        if (r.status?.result === 'pass') r.status.aligned = evaluated.dkimAligned.has(formatDomain(r.signingDomain)) ? r.signingDomain : false;
        else if (dmarcRes.alignment?.dkim?.strict) r.status.aligned = (r.status?.aligned && getAlignment(dmarcRes.status.header.from, [r.signingDomain], true) && r.signingDomain) || false;
      }
    }
  }
  const bimiRes: Any = dmarcRes ? await mailauthBimi({ dmarc: dmarcRes, headers: dkim.headers, resolver, strict: true } as never) : false;
  // The stage's time limit passed: nobody wants the verdicts any more.
  opts.abort?.throwIfAborted();

  // --- DMARC disposition (ours: mailauth reports the policy but not what to do) ---
  // mailauth applies RFC 9989: the policy of the tree walk's record (p, sp, or np for a subdomain
  // that does not exist), one step milder with t=y. A record still written for RFC 7489 may carry
  // pct=: honoured as RFC 7489 §6.6.4 says (a failing message outside the sample gets the next
  // milder policy), decided by the record id so a replay decides the same way.
  const dmarcResult: string = fromTooLong || fromDomains.length > 1 || (dmarcSkipped && !dmarcRes) ? 'permerror' : dmarcRes ? dmarcRes.status.result : 'none';
  const record: string | null = dmarcRes?.rr ?? null;
  const parsedPolicy = typeof dmarcRes?.policy === 'string' ? dmarcRes.policy.toLowerCase().trim() : null;
  const appliedPolicy = parsedPolicy && POLICIES.includes(parsedPolicy) ? parsedPolicy : record ? 'none' : null;
  const pct = (record ? legacyPct(record) : null) ?? 100;
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
  let arcReason: string = arcRes?.status?.comment ?? '';
  // RFC 8617 has no temperror: a chain that failed while one of its keys could not be looked up
  // (timeout, SERVFAIL) says nothing about the chain, so the section says temperror.
  const arcKeys = ((dkim.arc?.chain || []) as Any[]).flatMap((link) => [keyName(link['arc-seal']?.parsed), keyName(link['arc-message-signature']?.parsed)]);
  const arcTemporary = arcKeys.find((k) => temporaryFailures.has(k));
  if (arcResult === 'fail' && arcTemporary) {
    arcResult = 'temperror';
    arcReason = `temporary DNS failure for ${arcTemporary}${arcReason ? ` (${arcReason})` : ''}`;
  }

  const dkimSigs: DkimSignature[] = (dkim.results ?? []).filter((r: Any) => r.signingDomain || r.status?.result !== 'none').map(dkimSignature);

  // --- Authentication-Results (RFC 8601), in mailauth's order: dkim, spf, arc, dmarc, bimi ---
  const resinfo: string[] = [];
  // Signatures past the limit get one entry between them: an attacker's 200 signatures must not
  // turn into 200 lines of a header we write. dkim=policy without header.d never counts for DMARC.
  const notChecked = (dkim.results ?? []).filter((r: Any) => r.notChecked).length + (dkim.ignoredSignatures ?? 0);
  for (const r of dkim.results ?? []) if (!r.notChecked) resinfo.push(r.info);
  if (notChecked) resinfo.push(`dkim=policy (${notChecked} more signature${notChecked === 1 ? '' : 's'} not checked, limit ${maxSignatures}) policy.dkim-rules=max-signatures`);
  resinfo.push(spf.arInfo);
  if (arcRes?.info) resinfo.push(arcResult === 'temperror' ? arcRes.info.replace(/^arc=fail/, 'arc=fail (temporary DNS failure)') : arcRes.info);
  if (dmarcRes?.info) resinfo.push(dmarcRes.info);
  else if (fromTooLong) resinfo.push('dmarc=permerror (From field too long)');
  else if (fromDomains.length > 1) resinfo.push('dmarc=permerror (multiple From domains)');
  else if (dmarcSkipped) resinfo.push(`dmarc=permerror (${dmarcSkipped.replace(/[()\\]/g, '')})`);
  if (bimiRes?.info) resinfo.push(bimiRes.info);
  const authenticationResults = `${authservId};\r\n ${resinfo.map((l) => l.replace(/\r?\n/g, ' ')).join(';\r\n ')}`;

  tags.push(tag('spf', spf.result), tag('dmarc', dmarcResult), tag('arc', arcResult));
  for (const s of dkimSigs) if (s.checked) tags.push(tag('dkim', s.result));
  if (dkimSigs.length === 0) tags.push('dkim-none');
  if (notChecked) tags.push('dkim-not-checked');
  if (disposition !== 'none') tags.push(`dmarc-${disposition}`);
  if (dmarcRes?.testMode) tags.push('dmarc-test-mode');
  if (stats.timeouts > 0) tags.push('dns-timeout');
  if (fromTooLong) tags.push(FROM_TOO_LONG_TAG);
  else if (fromDomains.length > 1) tags.push(FROM_MULTIPLE_TAG);

  const section: AuthSection = {
    stageVersion: STAGE_VERSION,
    authservId,
    verifiedAt: (opts.now ?? new Date()).getTime(),
    spf: spfSection(spf),
    heloSpf: helo ? spfSection(helo) : null,
    dkim: dkimSigs,
    dmarc: {
      result: dmarcResult,
      reason: dmarcRes?.status?.comment || (fromTooLong ? `From field too long (${fromTooLong} characters, at most ${MAX_ADDRESS_FIELD_LENGTH} are read)` : fromDomains.length > 1 ? 'multiple From domains' : fromDomains.length === 0 ? 'no From domain' : dmarcSkipped || dmarcRes?.error || ''),
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
