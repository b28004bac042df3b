/**
 * scop's Grafana dashboards, as data: one overview, one per service (its stages), one for Kafka.
 * Metric names come from the services (runtime/stage-metrics.ts, each service's metrics module),
 * from the JMX exporter rules on the broker (kafka-jmx.ts) and from the console's consumer-group
 * lag collector (console/kafka-lag.ts). observability/dashboards.test.ts keeps the JSON in
 * observability/grafana/ in step with this file; e2e/observe.test.ts runs every query on a real
 * Prometheus scraping a running stack.
 */
import { panel, q, RATE, type DashboardSpec, type PanelSpec, type RowSpec } from './panels.ts';

const rate = (metric: string, selector = '') => `rate(${metric}${selector ? `{${selector}}` : ''}[${RATE}])`;
const quantiles = (metric: string, selector: string, by = '', label = '') =>
  [0.5, 0.95, 0.99].map((p) => q(`histogram_quantile(${p}, sum by (le${by ? `, ${by}` : ''}) (${rate(`${metric}_bucket`, selector)}))`, `${label}p${p * 100}`));

/** `sum by (labels) (rate(metric))`, or 0 while no labelled series exists yet (label values only known at the first event). */
const rateOr0 = (metric: string, by: string) => `sum by (${by}) (${rate(metric)}) or vector(0)`;

/** The stage names (label `stage`) each service runs. */
export interface ServicePanels {
  service: string;
  title: string;
  stages: string[];
  /** Sinks (egress, notifier, console history) commit no transactions and observe no record age. */
  kind: 'stage' | 'sink' | 'none';
  extra: RowSpec[];
}

const stageRows = (s: ServicePanels): RowSpec[] => {
  if (s.kind === 'none') return [];
  const sel = `stage=~"${s.stages.join('|')}"`;
  const flow: PanelSpec[] = [
    panel('Records in / out', 'Records consumed from the input topic and written (committed) per second, by stage.', 'ops', [
      q(`sum by (stage) (${rate('scop_stage_records_in_total', sel)})`, 'in {{stage}}'),
      q(`sum by (stage) (${rate('scop_stage_records_out_total', sel)})`, 'out {{stage}}'),
    ]),
    panel('Dead letters by reason', 'Records sent to ops.dead-letters per second (decode-error, process-error, process-timeout, …).', 'ops', [
      q(`sum by (stage, reason) (${rate('scop_stage_dead_letters_total', sel)})`, '{{stage}} {{reason}}'),
    ], { stacked: true }),
    panel('Processing time', 'Time in the stage function per record (decode and encode included).', 's', quantiles('scop_stage_processing_seconds', sel)),
    panel('Consumer lag by partition', 'Records behind the high watermark, per input partition, as the stage sees it.', 'short', [
      q(`max by (stage, topic, partition) (scop_stage_consumer_lag{${sel}})`, '{{stage}} {{topic}}/{{partition}}'),
    ]),
  ];
  if (s.kind === 'stage') {
    flow.push(
      panel('End-to-end age at commit', 'now − envelope.receivedAt when the stage committed the record.', 's', quantiles('scop_stage_record_age_seconds', sel)),
      panel('Transactions by outcome', 'Kafka transactions committed or aborted per second.', 'ops', [
        q(`sum by (stage, outcome) (${rate('scop_stage_transactions_total', sel)})`, '{{stage}} {{outcome}}'),
      ]),
    );
  }
  return [{ title: 'Stage', panels: flow }];
};

const processRow = (service: string): RowSpec => ({
  title: 'Process',
  panels: [
    panel('CPU', 'CPU seconds per second used by the service\'s processes.', 'percentunit', [q(`sum by (instance) (${rate('scop_process_cpu_seconds_total', `component="${service}"`)})`, '{{instance}}')], { width: 8 }),
    panel('Resident memory', 'RSS of the service\'s processes.', 'bytes', [q(`scop_process_resident_memory_bytes{component="${service}"}`, '{{instance}}')], { width: 8 }),
    panel('Event loop lag p99', 'Node event loop delay, 99th percentile: a blocked loop delays every record.', 's', [q(`scop_nodejs_eventloop_lag_p99_seconds{component="${service}"}`, '{{instance}}')], { width: 8 }),
  ],
});

export const SERVICE_PANELS: ServicePanels[] = [
  {
    service: 'ingress', title: 'Ingress (SMTP)', stages: [], kind: 'none',
    extra: [{
      title: 'SMTP',
      panels: [
        panel('Sessions', 'SMTP sessions opened per second and open now, by listener.', 'short', [
          q(`sum by (listener) (${rate('scop_ingress_sessions_total')})`, 'opened/s {{listener}}'),
          q('sum by (listener) (scop_ingress_sessions_active)', 'open {{listener}}'),
        ]),
        panel('Accepted messages', 'Messages answered 250 after Kafka acknowledged them, and their bytes.', 'ops', [
          q(`sum by (listener) (${rate('scop_ingress_messages_accepted_total')})`, '{{listener}}'),
        ]),
        panel('Negative replies by code and reason', '4xx/5xx replies per second by code and reason (blocklist, rate limits, smuggling, kafka-*).', 'ops', [
          q(`sum by (code, reason) (${rate('scop_ingress_rejections_total')})`, '{{code}} {{reason}}'),
        ], { stacked: true }),
        panel('Kafka hand-off time', 'End of DATA until Kafka acknowledged, by outcome: the 250 waits for this.', 's', quantiles('scop_ingress_kafka_handoff_seconds', '', 'outcome', '{{outcome}} ')),
        panel('Accepted bytes', 'Message bytes accepted per second.', 'Bps', [q(`sum by (listener) (${rate('scop_ingress_accepted_bytes_total')})`, '{{listener}}')], { width: 8 }),
        panel('Blocklist entries', 'Prefixes in the blocklist the ingress follows.', 'short', [q('max(scop_ingress_blocklist_entries)', 'prefixes')], { width: 8, kind: 'stat' }),
        panel('TLS sessions', 'TLS sessions established per second, by protocol.', 'ops', [q(`sum by (protocol) (${rate('scop_ingress_tls_sessions_total')})`, '{{protocol}}')], { width: 8 }),
        panel('Client reverse DNS', 'MX clients per second whose reverse name resolves back to them (confirmed), does not (not_confirmed: "unknown" in Received, RDNS_NOT_FCRDNS in the spam stage), or could not be checked (temperror).', 'ops', [
          q(`sum by (result) (${rate('scop_ingress_client_fcrdns_total')})`, '{{result}}'),
        ], { stacked: true }),
      ],
    }, {
      title: 'Policy, DNS and authentication',
      panels: [
        panel('Pre-queue refusals by check', 'Refusals per second by policy check (each written to smtp.refusals), and refusals not written there by reason (rate limit per prefix, kafka, encode).', 'ops', [
          q(rateOr0('scop_ingress_policy_refusals_total', 'check'), '{{check}}'),
          q(`sum by (reason) (${rate('scop_ingress_policy_refusals_unrecorded_total')})`, 'not recorded: {{reason}}'),
        ], { stacked: true }),
        panel('SMTP AUTH on submission', 'AUTH attempts per second by result (ok, failed, locked: refused unchecked after too many failures, busy: hash queue full), and password hashes upgraded after a login.', 'ops', [
          q(`sum by (result) (${rate('scop_ingress_auth_total')})`, '{{result}}'),
          q(`sum(${rate('scop_ingress_auth_rehashed_total')})`, 'rehashed'),
        ]),
        panel('DNS lookups by result', 'DNSBL, SPF and client reverse DNS lookups per second: hit (cache or a query in flight), miss (asked the resolver), error.', 'ops', [
          q(`sum by (result) (${rate('scop_ingress_dns_queries_total')})`, '{{result}}'),
        ], { stacked: true }),
        panel('DNSBL failures by zone', 'DNSBL lookups that failed per second (counted as not listed): a zone that keeps failing protects nothing.', 'ops', [
          q(rateOr0('scop_ingress_dnsbl_failures_total', 'zone'), '{{zone}}'),
        ]),
        panel('In-flight bytes', 'Message bytes held in memory (DATA being received, records waiting for Kafka); INGRESS_MAX_INFLIGHT_BYTES bounds it.', 'bytes', [q('sum by (instance) (scop_ingress_inflight_bytes)', '{{instance}}')], { width: 8 }),
        panel('Password-hash queue', 'AUTH attempts waiting for a password-hash slot.', 'short', [q('max(scop_ingress_auth_hash_queued)', 'queued')], { width: 8 }),
        panel('Greylist entries', 'Greylisting triplets held in memory.', 'short', [q('sum(scop_ingress_greylist_entries)', 'triplets')], { width: 8 }),
      ],
    }],
  },
  // The fused inbound chain (SCOP_INBOUND=fused): its engine's consumer and transactions; each member's own records, time and dead letters show on the member's dashboard too.
  { service: 'inbound', title: 'Inbound chain, fused (mime → decision)', stages: ['inbound', 'firewall-reputation'], kind: 'stage', extra: [] },
  { service: 'mime', title: 'MIME stage', stages: ['mime'], kind: 'stage', extra: [] },
  {
    service: 'auth', title: 'Auth stage (SPF, DKIM, DMARC, ARC)', stages: ['auth'], kind: 'stage',
    extra: [{
      title: 'Authentication',
      panels: [
        panel('Verdicts by method and result', 'SPF, DKIM, DMARC, ARC results per second.', 'ops', [q(`sum by (method, result) (${rate('scop_auth_results_total')})`, '{{method}}={{result}}')], { stacked: true }),
        panel('DNS work', 'Lookups, cache hits, queries sent and timeouts per second.', 'ops', [q(`sum by (kind) (${rate('scop_auth_dns_total')})`, '{{kind}}')]),
        panel('DNS lookups per message', 'Lookups one message needed (cache hits included).', 'short', quantiles('scop_auth_dns_lookups_per_message', '')),
        panel('Reputation list hits', 'Messages per second listed by a reputation list (AUTH_URI_LISTS, AUTH_SENDER_LISTS, AUTH_HASH_LISTS), by its symbol.', 'ops', [q(rateOr0('scop_auth_list_hits_total', 'symbol'), '{{symbol}}')]),
      ],
    }],
  },
  {
    service: 'spam', title: 'Spam stage', stages: ['spam'], kind: 'stage',
    extra: [{
      title: 'Spam',
      panels: [
        panel('Verdicts', 'Messages scored per second, by verdict.', 'ops', [q(`sum by (verdict) (${rate('scop_spam_verdicts_total')})`, '{{verdict}}')], { stacked: true }),
        panel('Spam probability', 'Distribution of the spam probability of scored messages.', 'percentunit', quantiles('scop_spam_probability', '')),
        panel('Model in use', 'The model version each scorer uses (scop_spam_model_info = 1).', 'short', [q('max by (version) (scop_spam_model_info) == 1', '{{version}}')], { kind: 'stat', width: 12 }),
        panel('Model switches', 'Times a scorer switched to a newly published model.', 'short', [q(`sum(increase(scop_spam_model_switches_total[${RATE}]))`, 'switches')], { width: 12 }),
        panel('Evidence symbols', 'Evidence symbols (RDNS_NONE, RDNS_NOT_FCRDNS, MIME_HTML_ONLY, …) emitted per second, by symbol: how often each structure check fires on live traffic.', 'ops', [
          q(`sum by (symbol) (${rate('scop_spam_evidence_total')})`, '{{symbol}}'),
        ]),
        // What a symbol's policy weight is tuned with (processors/spam/README.md, "Evidence symbols"): its hit rate in each class.
        panel('Evidence hit rate by verdict', 'Share of the messages of each verdict that fired each evidence symbol: a symbol that fires on ham as often as on spam says little.', 'percentunit', [
          q(`sum by (symbol, verdict) (${rate('scop_spam_evidence_total')}) / on (verdict) group_left sum by (verdict) (${rate('scop_spam_verdicts_total')})`, '{{symbol}} {{verdict}}'),
        ]),
        panel('Per-domain models', 'Per-recipient-domain models each scorer blends in.', 'short', [q('max(scop_spam_domain_models)', 'models')], { kind: 'stat', width: 12 }),
        panel('Scored with a domain model', 'Messages scored per second with a per-recipient-domain model blended in.', 'ops', [q(`sum(${rate('scop_spam_domain_scored_total')})`, 'scored')], { width: 12 }),
      ],
    }],
  },
  {
    // The learner is no stage: it reads spam.feedback and publishes models; a quiet learner has no labels yet (hence `or vector(0)`).
    service: 'spam-learner', title: 'Spam learner', stages: [], kind: 'none',
    extra: [{
      title: 'Learning',
      panels: [
        panel('Labels by outcome', 'Labels read from spam.feedback per second: learnt, corrected, duplicate, untrusted source, rate-limited, record not found.', 'ops', [q(`sum by (outcome) (${rate('scop_spam_learner_labels_total')}) or vector(0)`, '{{outcome}}')], { stacked: true }),
        panel('Model versions', 'Versions published, and versions the FP guard rejected (each also an alert on ops.alerts).', 'short', [q(`sum by (result) (increase(scop_spam_learner_versions_total[${RATE}])) or vector(0)`, '{{result}}')]),
        panel('Pending labels', 'Labels learnt into the working model and not yet published.', 'short', [q('max(scop_spam_learner_pending_labels)', 'pending')], { kind: 'stat', width: 12 }),
        panel('FP guard sample', 'Held-back ham the FP guard tests each batch on.', 'short', [q('max(scop_spam_learner_holdback)', 'held back')], { kind: 'stat', width: 12 }),
        panel('Label to model', 'From a label on spam.feedback to the published model version that contains it.', 's', quantiles('scop_spam_learner_label_to_model_seconds', '')),
        panel('Per-domain models', 'Recipient domains with their own model; per-domain versions published or rejected by the domain\'s FP guard; domain models dropped (evicted, removed, stale-line, off).', 'short', [
          q('max(scop_spam_learner_domains)', 'domains'),
          q(`sum by (result) (increase(scop_spam_learner_domain_versions_total[${RATE}]))`, 'versions {{result}}'),
          q(`sum by (reason) (increase(scop_spam_learner_domains_dropped_total[${RATE}]))`, 'dropped {{reason}}'),
        ]),
      ],
    }],
  },
  { service: 'firewall', title: 'Firewall stage (reputation)', stages: ['firewall', 'firewall-reputation'], kind: 'stage', extra: [] },
  {
    service: 'decision', title: 'Decision stage', stages: ['decision'], kind: 'stage',
    extra: [{
      title: 'Decisions',
      panels: [
        panel('Actions', 'Decisions per second: deliver, junk, quarantine, reject.', 'ops', [q(`sum by (action) (${rate('scop_decision_actions_total')})`, '{{action}}')], { stacked: true, width: 24 }),
        panel('Policy in use', 'The policy version each instance decides with: two versions at once mean instances disagree.', 'short', [q('count by (version) (scop_decision_policy_info == 1)', '{{version}}')], { kind: 'stat', width: 12 }),
        panel('Policy reloads', 'Changes of the policy file seen: applied, or refused (invalid; the policy in use stays).', 'short', [q(`sum by (outcome) (increase(scop_decision_policy_reloads_total[${RATE}]))`, '{{outcome}}')], { width: 12 }),
      ],
    }],
  },
  {
    service: 'egress', title: 'Egress relay', stages: ['egress', 'egress-requests', 'egress-retry-1', 'egress-retry-2', 'egress-retry-3', 'egress-outbound'], kind: 'sink',
    extra: [{
      title: 'Delivery',
      panels: [
        panel('Recipients by outcome', 'Delivered, bounced, scheduled for retry, dead (retries exhausted) per second.', 'ops', [q(`sum by (outcome) (${rate('scop_egress_recipients_total')})`, '{{outcome}}')]),
        panel('DSNs by reason', 'Delivery status notifications queued for senders of outbound mail.', 'ops', [q(`sum by (reason) (${rate('scop_egress_dsn_total')})`, '{{reason}}')]),
        panel('Accept to delivery', 'From SMTP accept at the ingress to delivery at the next hop.', 's', quantiles('scop_egress_accept_to_delivery_seconds', '')),
        panel('Skipped', 'Records not delivered: held (quarantine/reject) or already done (replay).', 'ops', [q(`sum by (reason) (${rate('scop_egress_skipped_total')})`, '{{reason}}')]),
      ],
    }, {
      title: 'Sessions and delivery log',
      panels: [
        panel('SMTP/LMTP sessions by event', 'Sessions to the next hop per second: opened, reused, failed, stale (closed by the server while idle), closed.', 'ops', [q(`sum by (event) (${rate('scop_egress_smtp_sessions_total')})`, '{{event}}')]),
        panel('Outbound MX sessions and route failures', 'Sessions to MX hosts by result and TLS; domains not tried, by reason (dns-temporary, no-such-domain, null-mx, refused-address, mta-sts-mx-mismatch, …).', 'ops', [
          q(rateOr0('scop_egress_outbound_sessions_total', 'result, tls'), '{{result}} tls={{tls}}'),
          q(rateOr0('scop_egress_outbound_route_failures_total', 'reason'), 'not tried: {{reason}}'),
        ]),
        panel('Transactions in doubt', 'End of DATA sent, reply not handled yet, by route (EGRESS_MAX_IN_DOUBT bounds it): a relay killed now delivers these again.', 'short', [q('sum by (route) (scop_egress_in_doubt_transactions)', '{{route}}')], { width: 8 }),
        panel('In-doubt window p99', 'From "." to handling the reply, and the wait for an in-doubt slot before ".", by route.', 's', [
          q(`histogram_quantile(0.99, sum by (le, route) (${rate('scop_egress_in_doubt_seconds_bucket')}))`, 'window {{route}}'),
          q(`histogram_quantile(0.99, sum by (le, route) (${rate('scop_egress_in_doubt_wait_seconds_bucket')}))`, 'wait {{route}}'),
        ], { width: 8 }),
        panel('Delivery-log batch size', 'Outcomes carried by one delivery-log produce (group commit).', 'short', quantiles('scop_egress_log_batch_outcomes', ''), { width: 8 }),
        panel('Journal events', 'Recovered outcomes written at start, in-doubt transactions of a relay that died (delivered again), journal write errors.', 'ops', [q(`sum by (event) (${rate('scop_egress_journal_total')})`, '{{event}}')], { width: 24 }),
      ],
    }],
  },
  {
    service: 'dkim-sign', title: 'DKIM signing stage', stages: ['dkim-sign'], kind: 'stage',
    extra: [{
      title: 'Signing',
      panels: [
        panel('Messages signed or refused', 'Outbound messages per second by result, and refusals by code (no-key, not-authorized, no-from, …).', 'ops', [q(`sum by (result, code) (${rate('scop_dkim_sign_messages_total')})`, '{{result}} {{code}}')], { stacked: true }),
        panel('Signatures by algorithm', 'DKIM signatures made per second, by algorithm.', 'ops', [q(rateOr0('scop_dkim_sign_signatures_total', 'algorithm'), '{{algorithm}}')]),
      ],
    }],
  },
  {
    service: 'matrix-notifier', title: 'Matrix notifier', stages: ['matrix-notifier'], kind: 'sink',
    extra: [{
      title: 'Matrix',
      panels: [
        panel('Notifier state', '1 when the notifier is configured and running / when the last call reached the homeserver.', 'short', [
          q('max(scop_matrix_notifier_enabled)', 'enabled'),
          q('max(scop_matrix_homeserver_up)', 'homeserver up'),
        ], { kind: 'stat', width: 24 }),
        panel('Posts and skipped alerts', 'Messages posted to Matrix per second by type (alert, digest), and alerts not posted by reason (already-posted, unrouted).', 'ops', [
          q(rateOr0('scop_matrix_posts_total', 'type'), 'posted {{type}}'),
          q(rateOr0('scop_matrix_alerts_skipped_total', 'reason'), 'skipped {{reason}}'),
        ]),
        panel('Homeserver calls', 'Client-server API calls per second by endpoint and outcome (ok, rate-limited, unavailable, error).', 'ops', [q(rateOr0('scop_matrix_requests_total', 'endpoint, outcome'), '{{endpoint}} {{outcome}}')]),
      ],
    }],
  },
  {
    service: 'console', title: 'Console and history', stages: ['history-decided', 'history-delivery', 'history-dead-letters'], kind: 'sink',
    extra: [{
      title: 'History',
      panels: [
        panel('History rows', 'Messages in the history view (after retention).', 'short', [q('max(scop_history_messages)', 'messages')], { kind: 'stat', width: 8 }),
        panel('Search time', 'Console history searches.', 's', quantiles('scop_console_search_seconds', ''), { width: 8 }),
        panel('Operator actions', 'Writes from the console, by action (all audited to ops.audit).', 'ops', [q(`sum by (action) (${rate('scop_console_actions_total')})`, '{{action}}')], { width: 8 }),
        panel('Logins by result', 'Console logins per second: ok, failed, limited (too many failures).', 'ops', [q(`sum by (result) (${rate('scop_console_logins_total')})`, '{{result}}')], { width: 8 }),
        panel('Newest spam model age', 'Time since the newest model on spam.model was trained (ScopSpamModelStale fires after 7 days).', 's', [q('time() - max(scop_spam_model_trained_timestamp_seconds)', 'age')], { kind: 'stat', width: 8 }),
        panel('Consumer-group lag it exports', 'The broker-side lag the console computes for every scop-* group (also on the overview and Kafka dashboards).', 'short', [q('sum by (group) (scop_kafka_consumergroup_lag)', '{{group}}')], { width: 8 }),
      ],
    }],
  },
];

const serviceDashboard = (s: ServicePanels): DashboardSpec => ({
  uid: `scop-${s.service}`,
  title: `scop / ${s.title}`,
  description: `The ${s.service} service${s.stages.length ? ` (stages: ${s.stages.join(', ')})` : ''}: throughput, errors, latency, lag and its process.`,
  tags: ['scop', 'scop-service'],
  rows: [...stageRows(s), ...s.extra, processRow(s.service)],
});

const decidedAge = 'scop_stage_record_age_seconds';

export const OVERVIEW: DashboardSpec = {
  uid: 'scop-overview',
  title: 'scop / Overview',
  description: 'The whole pipeline: mail in and out, end-to-end age, dead letters, lag, SMTP replies, spam, DMARC and delivery.',
  tags: ['scop'],
  rows: [
    {
      title: 'Mail flow',
      panels: [
        panel('Messages per second', 'Accepted (250) and refused (4xx/5xx replies) at the ingress; delivered recipients at the egress; junked and quarantined by the decision stage.', 'ops', [
          q(`sum(${rate('scop_ingress_messages_accepted_total')})`, 'accepted'),
          q(`sum(${rate('scop_ingress_rejections_total')})`, 'refused'),
          q(`sum(${rate('scop_egress_recipients_total', 'outcome="delivered"')})`, 'delivered'),
          q(`sum(${rate('scop_decision_actions_total', 'action="junk"')})`, 'junked'),
          q(`sum(${rate('scop_decision_actions_total', 'action=~"quarantine|reject"')})`, 'quarantined'),
        ], { width: 16 }),
        panel('Services up', 'Scrape targets answering (1) or not (0).', 'short', [q('sum(up{job=~"scop.*"})', 'up'), q('count(up{job=~"scop.*"} == 0) or vector(0)', 'down')], { kind: 'stat', width: 8 }),
        panel('End-to-end age at decision', 'now − SMTP accept when the decision stage committed the record: p50, p95, p99.', 's', [
          ...quantiles(decidedAge, 'stage="decision"'),
        ]),
        panel('Accept to delivery', 'SMTP accept at the ingress to delivery at the next hop: p50, p95, p99.', 's', quantiles('scop_egress_accept_to_delivery_seconds', '')),
      ],
    },
    {
      title: 'Errors and backlog',
      panels: [
        panel('Dead letters by stage and reason', 'Records sent to ops.dead-letters per second.', 'ops', [q(`sum by (stage, reason) (${rate('scop_stage_dead_letters_total')})`, '{{stage}} {{reason}}')], { stacked: true }),
        panel('Consumer lag by stage and partition', 'Records behind, as each stage sees its input partitions.', 'short', [q('max by (stage, partition) (scop_stage_consumer_lag)', '{{stage}}/{{partition}}')]),
        panel('SMTP replies by code', '250 for accepted messages, and every negative reply by code.', 'ops', [
          q(`sum(${rate('scop_ingress_messages_accepted_total')})`, '250'),
          q(`sum by (code) (${rate('scop_ingress_rejections_total')})`, '{{code}}'),
        ], { stacked: true }),
        panel('Consumer-group lag (broker)', 'Lag per consumer group from the broker\'s committed offsets: keeps growing when a stage is down.', 'short', [q('sum by (group) (scop_kafka_consumergroup_lag{group=~"scop-.*"})', '{{group}}')]),
      ],
    },
    {
      title: 'Verdicts and delivery',
      panels: [
        panel('Spam verdicts', 'Messages scored per second, by verdict.', 'ops', [q(`sum by (verdict) (${rate('scop_spam_verdicts_total')})`, '{{verdict}}')], { stacked: true, width: 8 }),
        panel('Spam model version', 'The model version the scorers use.', 'short', [q('max by (version) (scop_spam_model_info) == 1', '{{version}}')], { kind: 'stat', width: 8 }),
        panel('DMARC results', 'DMARC evaluations per second, by result.', 'ops', [q(`sum by (result) (${rate('scop_auth_results_total', 'method="dmarc"')})`, '{{result}}')], { stacked: true, width: 8 }),
        panel('Egress retries and DSNs', 'Recipients scheduled for retry or dead, and DSNs sent to senders, per second.', 'ops', [
          q(`sum by (outcome) (${rate('scop_egress_recipients_total', 'outcome=~"retry|dead"')})`, '{{outcome}}'),
          q(`sum by (reason) (${rate('scop_egress_dsn_total')})`, 'DSN {{reason}}'),
        ], { width: 24 }),
      ],
    },
    {
      // What every process runs (runtime/, and scop start's supervisor), shown once, per component.
      title: 'Runtime (every process)',
      panels: [
        panel('Consumers up and stalled', 'Consumers running and joined (scop_consumer_up), and consumers with a partition whose position has not moved for the stall timeout, per component.', 'short', [
          q('sum by (component) (scop_consumer_up)', 'up {{component}}'),
          q('sum by (component) (scop_consumer_stalled)', 'stalled {{component}}'),
        ]),
        panel('Consumer restarts', 'Consumers re-created after a crash, per component and consumer.', 'short', [
          q(`sum by (component, consumer) (increase(scop_consumer_restarts_total[${RATE}]))`, '{{component}} {{consumer}}'),
        ]),
        panel('CPU pool tasks', 'Tasks run in worker threads per second, by pool and outcome (timeout and aborted terminate their worker).', 'ops', [
          q(rateOr0('scop_cpu_pool_tasks_total', 'pool, outcome'), '{{pool}} {{outcome}}'),
        ]),
        panel('CPU pool task time p99', 'Submit to result, queueing included, by pool.', 's', [
          q(`histogram_quantile(0.99, sum by (le, pool) (${rate('scop_cpu_pool_task_seconds_bucket')}))`, '{{pool}}'),
        ]),
        panel('Data directory disk', 'Free share of the data directory\'s filesystem (ScopDiskLow fires under 10%).', 'percentunit', [
          q('min by (path) (scop_disk_free_bytes / scop_disk_size_bytes)', '{{path}}'),
        ], { width: 8 }),
        panel('Services running under scop start', 'Services scop start runs now (1 each), and services it gave up restarting.', 'short', [
          q('sum(scop_supervisor_service_up)', 'running'),
          q('sum(scop_supervisor_gave_up_total) or vector(0)', 'given up'),
        ], { width: 8 }),
        panel('Service restarts by scop start', 'Restarts per service (ScopServiceRestarting fires at 3 in 15 minutes); 0 for a service never restarted.', 'short', [
          q(`sum by (service) (increase(scop_supervisor_restarts_total[${RATE}])) or sum by (service) (scop_supervisor_service_up * 0)`, '{{service}}'),
        ], { width: 8 }),
      ],
    },
  ],
};

export const KAFKA: DashboardSpec = {
  uid: 'scop-kafka',
  title: 'scop / Kafka',
  description: 'The broker (JMX exporter agent on the local broker, infra/kafka) and consumer-group lag (console lag collector).',
  tags: ['scop', 'kafka'],
  rows: [
    {
      title: 'Broker',
      panels: [
        panel('Messages in', 'Records appended per second, all topics.', 'ops', [q(`sum(${rate('kafka_server_brokertopicmetrics_messagesinpersec_total', 'topic=""')})`, 'messages')]),
        panel('Bytes in / out', 'Bytes produced to and fetched from the broker per second.', 'Bps', [
          q(`sum(${rate('kafka_server_brokertopicmetrics_bytesinpersec_total', 'topic=""')})`, 'in'),
          q(`sum(${rate('kafka_server_brokertopicmetrics_bytesoutpersec_total', 'topic=""')})`, 'out'),
        ]),
        panel('Requests by type', 'Requests per second by API (Produce, Fetch, TxnOffsetCommit, …).', 'ops', [q(`topk(8, sum by (request) (${rate('kafka_network_requestmetrics_requests_total')}))`, '{{request}}')]),
        panel('Request handler idle', 'Share of time the request handler threads are idle: near 0 means the broker is saturated.', 'percentunit', [
          q('kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent', 'handlers'),
          q('kafka_network_socketserver_networkprocessoravgidlepercent', 'network'),
        ]),
        panel('Partitions', 'Partitions, leaders, under-replicated and offline partitions.', 'short', [
          q('kafka_server_replicamanager_partitioncount', 'partitions'),
          q('kafka_server_replicamanager_underreplicatedpartitions', 'under-replicated'),
          q('kafka_controller_kafkacontroller_offlinepartitionscount', 'offline'),
          q('kafka_controller_kafkacontroller_activecontrollercount', 'active controller'),
        ]),
        panel('Log size by topic', 'Bytes on disk per topic.', 'bytes', [q('topk(10, sum by (topic) (kafka_log_log_size))', '{{topic}}')]),
      ],
    },
    {
      title: 'Consumer groups',
      panels: [
        panel('Lag by group', 'Records between each group\'s committed offset and the end of its partitions (broker view).', 'short', [q('sum by (group) (scop_kafka_consumergroup_lag)', '{{group}}')]),
        panel('Lag by group and partition', 'The same, per topic partition.', 'short', [q('max by (group, topic, partition) (scop_kafka_consumergroup_lag)', '{{group}} {{topic}}/{{partition}}')]),
      ],
    },
    {
      title: 'JVM',
      panels: [
        panel('Heap used', 'Broker JVM heap in use.', 'bytes', [q('sum(jvm_memory_used_bytes{job="scop-kafka", area="heap"})', 'heap')], { width: 8 }),
        panel('GC time', 'Seconds per second in garbage collection.', 'percentunit', [q(`sum by (gc) (${rate('jvm_gc_collection_seconds_sum', 'job="scop-kafka"')})`, '{{gc}}')], { width: 8 }),
        panel('Broker CPU', 'CPU seconds per second used by the broker process.', 'percentunit', [q(`${rate('process_cpu_seconds_total', 'job="scop-kafka"')}`, 'cpu')], { width: 8 }),
      ],
    },
  ],
};

export const SERVICE_DASHBOARDS: DashboardSpec[] = SERVICE_PANELS.map(serviceDashboard);
export const DASHBOARDS: DashboardSpec[] = [OVERVIEW, ...SERVICE_DASHBOARDS, KAFKA];
