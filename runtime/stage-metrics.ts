/**
 * The Prometheus metrics every stream stage exposes, labelled by stage. Registered once per
 * process registry and shared by stages running in the same process (tests run several).
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DEAD_LETTER_REASONS } from './dead-letter.ts';
import { counterOn, gaugeOn, histogramOn } from './metrics.ts';

export interface StageMetrics {
  recordsIn: Counter<'stage'>;
  recordsOut: Counter<'stage'>;
  deadLetters: Counter<'stage' | 'reason'>;
  processingSeconds: Histogram<'stage'>;
  recordAgeSeconds: Histogram<'stage'>;
  consumerLag: Gauge<'stage' | 'topic' | 'partition'>;
  transactions: Counter<'stage' | 'outcome'>;
}

/**
 * With `stage`, that stage's counters start at zero for every known label value, so a dashboard
 * panel or an alert (`rate(...)`, `increase(...)`) sees a series before the first event instead of
 * "no data" — and a renamed metric shows up as a missing series at once (observability/).
 */
export function stageMetrics(registry: Registry, stage?: string, kind: 'stage' | 'sink' = 'stage'): StageMetrics {
  const m = createStageMetrics(registry);
  if (stage !== undefined) {
    m.recordsIn.inc({ stage }, 0);
    m.recordsOut.inc({ stage }, 0);
    for (const reason of DEAD_LETTER_REASONS) m.deadLetters.inc({ stage, reason }, 0);
    if (kind === 'stage') for (const outcome of ['commit', 'abort']) m.transactions.inc({ stage, outcome }, 0);
  }
  return m;
}

function createStageMetrics(registry: Registry): StageMetrics {
  return {
    recordsIn: counterOn(registry, {
      name: 'scop_stage_records_in_total', help: 'Records consumed from the input topic.', labelNames: ['stage'] as const,
    }),
    recordsOut: counterOn(registry, {
      name: 'scop_stage_records_out_total', help: 'Records written to the output topic (committed).', labelNames: ['stage'] as const,
    }),
    deadLetters: counterOn(registry, {
      name: 'scop_stage_dead_letters_total', help: 'Records sent to the dead-letter topic (committed), by reason.', labelNames: ['stage', 'reason'] as const,
    }),
    processingSeconds: histogramOn(registry, {
      name: 'scop_stage_processing_seconds', help: 'Time in the stage function per record (decode and encode included).', labelNames: ['stage'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    recordAgeSeconds: histogramOn(registry, {
      name: 'scop_stage_record_age_seconds', help: 'End-to-end age when the stage committed the record: now - envelope.receivedAt.', labelNames: ['stage'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400],
    }),
    consumerLag: gaugeOn(registry, {
      name: 'scop_stage_consumer_lag', help: 'Records waiting per input partition: end offset - position (positions move past transaction markers; read every few seconds even when nothing is consumed).', labelNames: ['stage', 'topic', 'partition'] as const,
    }),
    transactions: counterOn(registry, {
      name: 'scop_stage_transactions_total', help: 'Kafka transactions by outcome (commit, abort).', labelNames: ['stage', 'outcome'] as const,
    }),
  };
}
