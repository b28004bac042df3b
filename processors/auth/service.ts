/**
 * The auth stage: mail.inbound.parsed → verify SPF/DKIM/ARC/DMARC/BIMI against DNS → the record with
 * its `auth` section on mail.inbound.authenticated, plus one DMARC event per message (single From
 * domain) on dmarc.events keyed by that domain, in the same transaction.
 */
import type { Counter, Histogram, Registry } from 'prom-client';
import { counterOn, histogramOn } from '../../runtime/metrics.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { DmarcEvent, MailRecord } from '../../schemas/types.ts';
import { loadAuthConfig, type AuthConfig } from './config.ts';
import { DnsResolver, emptyStats } from './dns.ts';
import { lookupSymbols } from './lookups.ts';
import { STAGE_VERSION, verifyMessage } from './verify.ts';
import { authSymbols } from './symbols.ts';
import { AUTH_SYMBOLS } from './symbol-names.ts';

interface AuthState {
  config: AuthConfig;
  dns: DnsResolver;
  metrics: AuthMetrics;
}

interface AuthMetrics {
  results: Counter<'method' | 'result'>;
  dnsLookups: Histogram;
  dnsQueries: Counter<'kind'>;
  listed: Counter<'symbol'>;
}

function authMetrics(registry: Registry): AuthMetrics {
  return {
    results: counterOn(registry, { name: 'scop_auth_results_total', help: 'Verdicts by method (spf, dkim, dmarc, arc, disposition) and result.', labelNames: ['method', 'result'] as const }),
    dnsLookups: histogramOn(registry, { name: 'scop_auth_dns_lookups_per_message', help: 'DNS lookups one message needed (cache hits included).', buckets: [0, 2, 4, 8, 16, 32, 64] }),
    dnsQueries: counterOn(registry, { name: 'scop_auth_dns_total', help: 'DNS work: lookups, cache hits, queries sent, timeouts.', labelNames: ['kind'] as const }),
    listed: counterOn(registry, { name: 'scop_auth_list_hits_total', help: 'Messages listed by a reputation list (AUTH_URI_LISTS, AUTH_SENDER_LISTS, AUTH_HASH_LISTS), by its symbol.', labelNames: ['symbol'] as const }),
  };
}

/** A Kafka key must not be empty; records without a single From domain get no event. */
export function dmarcEvent(record: MailRecord): DmarcEvent | null {
  const a = record.auth!;
  const e = record.envelope;
  if (!a.dmarc.fromDomain) return null;
  return {
    recordId: e.id,
    receivedAt: e.receivedAt,
    fromDomain: a.dmarc.fromDomain,
    policyDomain: a.dmarc.policyDomain,
    sourceIp: e.clientIp,
    envelopeFrom: a.spf.domain,
    envelopeTo: [...new Set(e.rcptTo.map((r) => r.split('@').pop()!.toLowerCase()))],
    dmarcResult: a.dmarc.result,
    disposition: a.dmarc.disposition,
    sampledOut: a.dmarc.sampledOut,
    policy: a.dmarc.policy,
    subdomainPolicy: a.dmarc.subdomainPolicy,
    pct: a.dmarc.pct,
    adkim: a.dmarc.adkim,
    aspf: a.dmarc.aspf,
    spfAligned: a.dmarc.spfAligned,
    dkimAligned: a.dmarc.dkimAligned,
    spf: { domain: a.spf.domain, scope: a.spf.identity === 'helo' ? 'helo' : 'mfrom', result: a.spf.result },
    dkim: a.dkim.filter((s) => s.domain && s.checked).map((s) => ({ domain: s.domain!, selector: s.selector, result: s.result })),
    arcResult: a.arc.result,
  };
}

export const authService = defineStage<AuthState, 'auth'>({
  name: 'auth',
  symbols: AUTH_SYMBOLS,
  section: 'auth',
  version: STAGE_VERSION,
  description: 'DNS authentication: SPF, DKIM, DMARC, ARC and BIMI verdicts plus an Authentication-Results value; DMARC events for aggregate reports',
  input: TOPICS.inboundParsed,
  output: TOPICS.inboundAuthenticated,
  sideOutputs: { dmarcEvents: TOPICS.dmarcEvents },
  defaultMetricsPort: 9473,
  // DNS bounds the time: AUTH_MESSAGE_BUDGET_MS (default 20 s) stops lookups well before this.
  processTimeoutMs: 60000,
  concurrency: 16,
  init(svc) {
    const config = loadAuthConfig(svc.env);
    svc.log.info({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs, retries: config.dns.retries, cacheSize: config.dns.cacheSize, authservId: config.authservId, lists: { uri: config.lookups.uri, sender: config.lookups.sender, hash: config.lookups.hash } }, 'auth stage DNS');
    return { config, dns: new DnsResolver(config.dns), metrics: authMetrics(svc.metrics) };
  },
  async process(record, ctx) {
    const { config, dns, metrics } = ctx.state;
    const e = record.envelope;
    // Past the budget (or when the stage's own timeout fires) every remaining lookup is a
    // timeout → temperror verdicts; the record is still written.
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(config.messageBudgetMs)]);
    // The reputation lookups (lookups.ts) run beside the verification, on the same resolver and budget.
    const lookupStats = emptyStats();
    const [{ section, stats }, listed] = await Promise.all([
      verifyMessage(
        // The client's DATA, without our own Received line (raw[traceLength..]).
        { raw: e.raw.subarray(e.traceLength ?? 0), clientIp: e.clientIp, helo: e.helo, mailFrom: e.mailFrom, messageId: e.id },
        { dns, authservId: config.authservId, minKeyBits: config.minKeyBits, maxDkimSignatures: config.maxDkimSignatures, signal, abort: ctx.signal },
      ),
      lookupSymbols(record, config.lookups, dns, lookupStats, signal),
    ]);
    for (const k of Object.keys(lookupStats) as (keyof typeof lookupStats)[]) stats[k] += lookupStats[k];
    for (const s of listed) metrics.listed.inc({ symbol: s.symbol });
    const event = dmarcEvent({ ...record, auth: section });
    if (event) ctx.emit('dmarcEvents', event.fromDomain, event);

    metrics.results.inc({ method: 'spf', result: section.spf.result });
    for (const s of section.dkim) metrics.results.inc({ method: 'dkim', result: s.result });
    metrics.results.inc({ method: 'dmarc', result: section.dmarc.result });
    metrics.results.inc({ method: 'arc', result: section.arc.result });
    metrics.results.inc({ method: 'disposition', result: section.dmarc.disposition });
    metrics.dnsLookups.observe(stats.lookups);
    metrics.dnsQueries.inc({ kind: 'lookup' }, stats.lookups);
    metrics.dnsQueries.inc({ kind: 'cache-hit' }, stats.cacheHits);
    metrics.dnsQueries.inc({ kind: 'query' }, stats.queries);
    metrics.dnsQueries.inc({ kind: 'timeout' }, stats.timeouts);
    ctx.log.debug({ spf: section.spf.result, dmarc: section.dmarc.result, disposition: section.dmarc.disposition, dns: section.dns }, 'authenticated');
    return { section, symbols: [...authSymbols(section), ...listed] };
  },
});
