/**
 * Prometheus alert rules for scop, as data (written to observability/prometheus/alerts.yml by
 * `scop observe files`; observability/prometheus/alerts.test.yml holds their `promtool test rules`
 * unit tests). Thresholds are parameters with the defaults documented in the README.
 */
export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'critical' | 'warning' | 'info' };
  /** summary may use templates ({{ $labels.x }}, {{ $value }}); description is plain text (the rule tests compare it verbatim). */
  annotations: { summary: string; description: string };
}

export interface AlertThresholds {
  /** Records a consumer group may lag before growth alerts (small lags are normal between polls). */
  lagRecords: number;
  /** Share of SMTP transactions answered 451 (Kafka down or slow) that alerts. */
  smtp451Ratio: number;
  /** p99 end-to-end age at the decision stage, seconds. */
  p99AgeSeconds: number;
  /** Age of the newest spam model, seconds. */
  modelMaxAgeSeconds: number;
  /** Free share of the data directory's filesystem. */
  diskFreeRatio: number;
  /** Restarts of one service by `scop start` within 15 minutes that alert (a crash now and then is restarted quietly). */
  restartsPer15m: number;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = {
  lagRecords: 100,
  smtp451Ratio: 0.01,
  p99AgeSeconds: 30,
  modelMaxAgeSeconds: 7 * 24 * 3600,
  diskFreeRatio: 0.1,
  restartsPer15m: 3,
};

export function alertRules(t: AlertThresholds = DEFAULT_THRESHOLDS): AlertRule[] {
  return [
    {
      alert: 'ScopServiceDown',
      expr: 'up{job=~"scop-.*"} == 0',
      for: '1m',
      labels: { severity: 'critical' },
      annotations: { summary: '{{ $labels.job }} on {{ $labels.instance }} is down', description: 'Prometheus has not been able to scrape the target for a minute: the service (or the broker) is not running. Its input topic keeps filling; nothing is lost, but mail waits.' },
    },
    {
      alert: 'ScopConsumerLagGrowing',
      expr: `sum by (group) (scop_kafka_consumergroup_lag{group=~"scop-.*"}) > ${t.lagRecords} and sum by (group) (delta(scop_kafka_consumergroup_lag{group=~"scop-.*"}[5m])) > 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: { summary: 'consumer group {{ $labels.group }} falls behind ({{ $value }} records)', description: `The group's lag (broker view: committed offsets vs. partition ends) is above ${t.lagRecords} and has grown for 5 minutes: its stage is down, stuck, or slower than the input. Scale it out (more instances share the partitions) or look at its log.` },
    },
    {
      alert: 'ScopDeadLetters',
      expr: 'sum by (stage, reason) (increase(scop_stage_dead_letters_total[5m])) > 0',
      for: '0m',
      labels: { severity: 'warning' },
      annotations: { summary: '{{ $labels.stage }} dead-lettered records ({{ $labels.reason }})', description: 'Records went to ops.dead-letters in the last 5 minutes. The console\'s Dead letters page lists them with the error; re-drive them after a fix.' },
    },
    {
      alert: 'ScopSmtp451Rate',
      expr: `sum(rate(scop_ingress_rejections_total{code="451"}[5m])) / (sum(rate(scop_ingress_messages_accepted_total[5m])) + sum(rate(scop_ingress_rejections_total{code="451"}[5m]))) > ${t.smtp451Ratio}`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: { summary: '{{ $value | humanizePercentage }} of SMTP transactions answered 451', description: 'The ingress answers 451 when Kafka does not acknowledge a message in time (down, slow, or out of disk). Senders retry, but mail is delayed.' },
    },
    {
      alert: 'ScopEndToEndAgeHigh',
      expr: `histogram_quantile(0.99, sum by (le) (rate(scop_stage_record_age_seconds_bucket{stage="decision"}[5m]))) > ${t.p99AgeSeconds}`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: { summary: 'p99 end-to-end age at decision is {{ $value | humanizeDuration }}', description: `99% of messages should be decided within ${t.p99AgeSeconds} s of their SMTP accept. Look at the stages' lag and processing time on their dashboards.` },
    },
    {
      alert: 'ScopSpamModelStale',
      expr: `time() - max(scop_spam_model_trained_timestamp_seconds) > ${t.modelMaxAgeSeconds}`,
      for: '1h',
      labels: { severity: 'info' },
      annotations: { summary: 'the newest spam model is {{ $value | humanizeDuration }} old', description: 'No model was published on spam.model recently: the spam filter does not learn from new mail and operator labels. Train and publish one (scop spam train --from-topics --publish).' },
    },
    {
      alert: 'ScopDiskLow',
      expr: `min by (instance, path) (scop_disk_free_bytes / scop_disk_size_bytes) < ${t.diskFreeRatio}`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: { summary: 'only {{ $value | humanizePercentage }} free on {{ $labels.path }}', description: 'The data directory (Kafka logs, Maildir, history) is nearly full: Kafka stops accepting writes when its disk is full, and the ingress then answers 451.' },
    },
    {
      alert: 'ScopDiskFillingUp',
      expr: 'predict_linear(scop_disk_free_bytes[1h], 24 * 3600) < 0',
      for: '30m',
      labels: { severity: 'warning' },
      annotations: { summary: '{{ $labels.path }} fills up within a day at the current rate', description: 'At the rate of the last hour, the data directory\'s filesystem is full within 24 hours. Lower topic retention, history retention (CONSOLE_HISTORY_RETENTION_DAYS) or add disk.' },
    },
    {
      alert: 'ScopServiceRestarting',
      expr: `sum by (service) (increase(scop_supervisor_restarts_total[15m])) >= ${t.restartsPer15m}`,
      for: '0m',
      labels: { severity: 'warning' },
      annotations: { summary: '{{ $labels.service }} was restarted {{ $value | humanize }} times in 15 minutes', description: `scop start restarted the service at least ${t.restartsPer15m} times in 15 minutes: it keeps crashing (its log says why: a broker away, bad configuration, out of memory). Mail waits while it is down; after repeated fast crashes scop start gives up and stops everything (service-crash-loop on ops.alerts).` },
    },
  ];
}

export const rulesFile = (t?: AlertThresholds) => ({ groups: [{ name: 'scop', rules: alertRules(t) }] });
