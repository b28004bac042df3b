/**
 * Unit tests of the alert rules, for `promtool test rules`: input series and the alerts expected
 * (labels and the rendered summary; the description is plain text and taken from the rule). Each
 * alert has a case where it fires and one where it must stay quiet. Rendered to
 * observability/prometheus/alerts.test.yml; alerts.test.ts runs promtool on it.
 */
import { alertRules } from './alerts.ts';

interface Expected { labels: Record<string, string>; summary: string }
interface RuleTest { at: string; alert: string; fires: Expected[] }
interface Case { name: string; series: Record<string, string>; tests: RuleTest[] }

export const CASES: Case[] = [
  {
    name: 'a service that stops answering scrapes is down after a minute, not before',
    series: {
      'up{job="scop-mime", instance="127.0.0.1:9471"}': '1 1 0 0 0 0',
      'up{job="scop-spam", instance="127.0.0.1:9474"}': '1 1 1 1 1 1',
    },
    tests: [
      { at: '2m', alert: 'ScopServiceDown', fires: [] },
      { at: '4m', alert: 'ScopServiceDown', fires: [{ labels: { severity: 'critical', job: 'scop-mime', instance: '127.0.0.1:9471' }, summary: 'scop-mime on 127.0.0.1:9471 is down' }] },
    ],
  },
  {
    name: 'lag that grows for 5 minutes alerts; a large but shrinking lag does not',
    series: {
      'scop_kafka_consumergroup_lag{group="scop-spam", topic="mail.inbound.authenticated", partition="0"}': '0+50x20',
      'scop_kafka_consumergroup_lag{group="scop-mime", topic="mail.inbound.raw", partition="0"}': '5000-100x20',
    },
    tests: [
      { at: '5m', alert: 'ScopConsumerLagGrowing', fires: [] },
      { at: '15m', alert: 'ScopConsumerLagGrowing', fires: [{ labels: { severity: 'warning', group: 'scop-spam' }, summary: 'consumer group scop-spam falls behind (750 records)' }] },
    ],
  },
  {
    name: 'dead letters alert while they come, and stop 5 minutes after',
    series: {
      'scop_stage_dead_letters_total{stage="mime", reason="decode-error", instance="a"}': '0 0 1 1 1 1 1 1 1 1 1',
      'scop_stage_dead_letters_total{stage="spam", reason="decode-error", instance="b"}': '0 0 0 0 0 0 0 0 0 0 0',
    },
    tests: [
      { at: '3m', alert: 'ScopDeadLetters', fires: [{ labels: { severity: 'warning', stage: 'mime', reason: 'decode-error' }, summary: 'mime dead-lettered records (decode-error)' }] },
      { at: '10m', alert: 'ScopDeadLetters', fires: [] },
    ],
  },
  {
    name: '451 replies above 1% of transactions for 5 minutes alert; a few do not',
    series: {
      'scop_ingress_messages_accepted_total{listener="MX"}': '0+90x20',
      'scop_ingress_rejections_total{listener="MX", stage="DATA", code="451", reason="kafka-deadline"}': '0+10x20',
      'scop_ingress_rejections_total{listener="MX", stage="RCPT", code="550", reason="x"}': '0+500x20',
    },
    tests: [
      { at: '3m', alert: 'ScopSmtp451Rate', fires: [] },
      { at: '15m', alert: 'ScopSmtp451Rate', fires: [{ labels: { severity: 'critical' }, summary: '10% of SMTP transactions answered 451' }] },
    ],
  },
  {
    name: 'a few 451 among much accepted mail stay quiet',
    series: {
      'scop_ingress_messages_accepted_total{listener="MX"}': '0+1000x20',
      'scop_ingress_rejections_total{listener="MX", stage="DATA", code="451", reason="kafka-deadline"}': '0+1x20',
    },
    tests: [{ at: '15m', alert: 'ScopSmtp451Rate', fires: [] }],
  },
  {
    name: 'p99 age at decision over 30 s for 10 minutes alerts',
    series: {
      // Every message takes 60-300 s: all in the le=300 bucket.
      'scop_stage_record_age_seconds_bucket{stage="decision", le="10"}': '0+0x30',
      'scop_stage_record_age_seconds_bucket{stage="decision", le="30"}': '0+0x30',
      'scop_stage_record_age_seconds_bucket{stage="decision", le="60"}': '0+0x30',
      'scop_stage_record_age_seconds_bucket{stage="decision", le="300"}': '0+10x30',
      'scop_stage_record_age_seconds_bucket{stage="decision", le="+Inf"}': '0+10x30',
      // The spam stage is slow too, but only decision counts.
      'scop_stage_record_age_seconds_bucket{stage="spam", le="300"}': '0+10x30',
      'scop_stage_record_age_seconds_bucket{stage="spam", le="+Inf"}': '0+10x30',
    },
    tests: [
      { at: '8m', alert: 'ScopEndToEndAgeHigh', fires: [] },
      { at: '20m', alert: 'ScopEndToEndAgeHigh', fires: [{ labels: { severity: 'warning' }, summary: 'p99 end-to-end age at decision is 4m 57s' }] },
    ],
  },
  {
    name: 'fast decisions stay quiet',
    series: {
      'scop_stage_record_age_seconds_bucket{stage="decision", le="1"}': '0+10x30',
      'scop_stage_record_age_seconds_bucket{stage="decision", le="30"}': '0+10x30',
      'scop_stage_record_age_seconds_bucket{stage="decision", le="+Inf"}': '0+10x30',
    },
    tests: [{ at: '20m', alert: 'ScopEndToEndAgeHigh', fires: [] }],
  },
  {
    name: 'a model older than 7 days alerts after an hour; a fresh one does not',
    // Series values are at test time 0 = epoch: a model "trained" at t=0 is 8 days old at eval time 8d.
    series: { 'scop_spam_model_trained_timestamp_seconds{version="v1"}': '0x12000' },
    tests: [
      { at: '6d', alert: 'ScopSpamModelStale', fires: [] },
      { at: '8d', alert: 'ScopSpamModelStale', fires: [{ labels: { severity: 'info' }, summary: 'the newest spam model is 8d 0h 0m 0s old' }] },
    ],
  },
  {
    name: 'less than 10% free disk for 5 minutes alerts',
    series: {
      'scop_disk_free_bytes{instance="a", path="/var/lib/scop"}': '5x20',
      'scop_disk_size_bytes{instance="a", path="/var/lib/scop"}': '100x20',
      'scop_disk_free_bytes{instance="b", path="/srv"}': '50x20',
      'scop_disk_size_bytes{instance="b", path="/srv"}': '100x20',
    },
    tests: [
      { at: '3m', alert: 'ScopDiskLow', fires: [] },
      { at: '10m', alert: 'ScopDiskLow', fires: [{ labels: { severity: 'critical', instance: 'a', path: '/var/lib/scop' }, summary: 'only 5% free on /var/lib/scop' }] },
    ],
  },
  {
    name: 'a disk that fills within a day alerts after 30 minutes; a steady one does not',
    series: {
      // 1 GB free, losing 1 MB a minute: full in ~17 h.
      'scop_disk_free_bytes{instance="a", path="/data"}': '1000000000-1000000x120',
      'scop_disk_free_bytes{instance="b", path="/srv"}': '1000000000x120',
    },
    tests: [
      { at: '20m', alert: 'ScopDiskFillingUp', fires: [] },
      { at: '100m', alert: 'ScopDiskFillingUp', fires: [{ labels: { severity: 'warning', instance: 'a', path: '/data' }, summary: '/data fills up within a day at the current rate' }] },
    ],
  },
  {
    name: 'three restarts of a service within 15 minutes alert; one restart does not',
    series: {
      'scop_supervisor_restarts_total{job="scop-start", service="inbound-1", reason="SIGKILL"}': '0 0 1 1 2 2 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3',
      'scop_supervisor_restarts_total{job="scop-start", service="egress", reason="exit-1"}': '0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1',
    },
    tests: [
      { at: '5m', alert: 'ScopServiceRestarting', fires: [] },
      { at: '8m', alert: 'ScopServiceRestarting', fires: [{ labels: { severity: 'warning', service: 'inbound-1' }, summary: 'inbound-1 was restarted 3 times in 15 minutes' }] },
      { at: '28m', alert: 'ScopServiceRestarting', fires: [] },
    ],
  },
];

/** The promtool test file for CASES against the rules file `rulesFile`. */
export function promtoolTests(rulesFile = 'alerts.yml'): Record<string, unknown> {
  const descriptions = new Map(alertRules().map((r) => [r.alert, r.annotations.description]));
  return {
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: CASES.map((c) => ({
      name: c.name,
      interval: '1m',
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: c.tests.map((t) => ({
        eval_time: t.at,
        alertname: t.alert,
        exp_alerts: t.fires.map((f) => ({ exp_labels: f.labels, exp_annotations: { summary: f.summary, description: descriptions.get(t.alert) } })),
      })),
    })),
  };
}
