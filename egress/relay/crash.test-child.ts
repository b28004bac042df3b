/**
 * The relay in a child process for crash tests (crash.test.ts): topics and group from env, `ready`
 * over IPC with the records the journal said the previous (killed) relay had in doubt, then every
 * 100 ms how many transactions are in doubt now, how long they lasted and the event-loop delay
 * (what the test prints per kill: the window a SIGKILL hits).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';
import { testServiceContext } from '../../runtime/stage-testing.ts';
import { startRelay } from './service.ts';

const ctx = testServiceContext('egress-crash-child');
const running = await startRelay(ctx, { topics: JSON.parse(process.env.RELAY_TOPICS!), groupPrefix: process.env.RELAY_GROUP! });
process.send?.({ type: 'ready', inDoubt: running.deliveryLog.recoveredInDoubt.map((d) => d.recordId) });
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
const seconds = ctx.metrics.getSingleMetric('scop_egress_in_doubt_seconds') as Histogram;
setInterval(async () => {
  const h = (await seconds.get()).values;
  const sum = h.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const count = h.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  process.send?.({ type: 'stats', inDoubt: running.inDoubt.nextHop.current, peak: running.inDoubt.nextHop.peak, doubtSum: sum, doubtCount: count, lagMeanMs: lag.mean / 1e6, lagP99Ms: lag.percentile(99) / 1e6 });
}, 100).unref();
process.on('SIGTERM', () => void running.stop().then(() => process.exit(0)));
