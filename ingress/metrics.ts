/** The ingress's Prometheus metrics, registered on the process registry (ctx.metrics). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FcrdnsResult } from './fcrdns.ts';

export type IngressMetrics = ReturnType<typeof createIngressMetrics>;

/** Values read at scrape time. */
export interface IngressProbes {
  inflightBytes(): number;
  hashQueue(): number;
  greylistEntries(): number;
}

export function createIngressMetrics(registry: Registry, probes: IngressProbes) {
  const registers = [registry];
  const m = {
    sessions: new Counter({ name: 'scop_ingress_sessions_total', help: 'SMTP sessions opened, by listener', labelNames: ['listener'], registers }),
    activeSessions: new Gauge({ name: 'scop_ingress_sessions_active', help: 'SMTP sessions open now, by listener', labelNames: ['listener'], registers }),
    tlsSessions: new Counter({ name: 'scop_ingress_tls_sessions_total', help: 'TLS sessions established (STARTTLS or implicit), by listener and protocol', labelNames: ['listener', 'protocol'], registers }),
    accepted: new Counter({ name: 'scop_ingress_messages_accepted_total', help: 'Messages answered 250 after Kafka acknowledged them, by listener', labelNames: ['listener'], registers }),
    rejected: new Counter({
      name: 'scop_ingress_rejections_total',
      help: 'Negative replies (4xx/5xx), by listener, SMTP stage, reply code and reason; stage="DATA" counts rejected messages',
      labelNames: ['listener', 'stage', 'code', 'reason'],
      registers,
    }),
    bytes: new Counter({ name: 'scop_ingress_accepted_bytes_total', help: 'Message bytes (as received, without the trace header) accepted, by listener', labelNames: ['listener'], registers }),
    handoff: new Histogram({
      name: 'scop_ingress_kafka_handoff_seconds',
      help: 'Time from the end of DATA until Kafka acknowledged (or the hand-off failed), by outcome',
      labelNames: ['outcome'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    auth: new Counter({ name: 'scop_ingress_auth_total', help: 'SMTP AUTH attempts on submission, by result (ok, failed, locked: refused unchecked after too many failures, busy: hash queue full)', labelNames: ['result'], registers }),
    inflightBytes: new Gauge({ name: 'scop_ingress_inflight_bytes', help: 'Message bytes held in memory now (DATA being received, records waiting for Kafka); bounded by INGRESS_MAX_INFLIGHT_BYTES', registers, collect() { this.set(probes.inflightBytes()); } }),
    hashQueue: new Gauge({ name: 'scop_ingress_auth_hash_queued', help: 'AUTH attempts waiting for a password-hash slot', registers, collect() { this.set(probes.hashQueue()); } }),
    rehashed: new Counter({ name: 'scop_ingress_auth_rehashed_total', help: 'Users file entries rewritten with the current password hash after a successful login', registers }),
    policyRefusals: new Counter({ name: 'scop_ingress_policy_refusals_total', help: 'Pre-queue refusals (each also written to smtp.refusals, rate-limited per prefix), by listener and check', labelNames: ['listener', 'check'], registers }),
    refusalsUnrecorded: new Counter({ name: 'scop_ingress_policy_refusals_unrecorded_total', help: 'Refusals not written to smtp.refusals, by reason (rate-limit per prefix, kafka, encode)', labelNames: ['reason'], registers }),
    dnsQueries: new Counter({ name: 'scop_ingress_dns_queries_total', help: 'DNSBL, SPF and client reverse DNS lookups by result: hit (cache or a query already in flight), miss (asked the resolver), error (timeout, SERVFAIL…)', labelNames: ['result'], registers }),
    fcrdns: new Counter({ name: 'scop_ingress_client_fcrdns_total', help: "Forward confirmation of MX clients' reverse names (INGRESS_REVERSE_DNS), by result: confirmed, not_confirmed (the name does not resolve back to the address), temperror (timeout, SERVFAIL: recorded as not checked)", labelNames: ['result'], registers }),
    dnsblFailures: new Counter({ name: 'scop_ingress_dnsbl_failures_total', help: 'DNSBL lookups that failed (counted as not listed), by zone', labelNames: ['zone'], registers }),
    greylistEntries: new Gauge({ name: 'scop_ingress_greylist_entries', help: 'Greylisting triplets held in memory', registers, collect() { this.set(probes.greylistEntries()); } }),
    blocklistEntries: new Gauge({ name: 'scop_ingress_blocklist_entries', help: 'Prefixes currently in the blocklist (including expired ones not yet removed)', registers }),
  };
  // A closed set of results: each series starts at zero, so the dashboard shows "none not confirmed" rather than no data.
  for (const result of ['confirmed', 'not_confirmed', 'temperror'] satisfies FcrdnsResult[]) m.fcrdns.inc({ result }, 0);
  return m;
}
