/**
 * `scop run matrix-notifier`: consumes the alerts topic (group scop-matrix-notifier) and posts to
 * Matrix rooms. Without MATRIX_HOMESERVER_URL it starts disabled: it says so in its log and on
 * /metrics (scop_matrix_notifier_enabled 0) and consumes nothing, so `npm start` works unconfigured.
 */
import { defineSink, TransientError, type RunningSink, type SinkOverrides } from '../../runtime/sink.ts';
import type { ServiceContext, RunningService } from '../../runtime/service.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { Alert } from '../../schemas/types.ts';
import { MatrixClosedError } from './client.ts';
import { loadMatrixConfig } from './config.ts';
import { Notifier, notifierMetrics } from './notifier.ts';

export const matrixNotifierSink = defineSink<Notifier, Alert>({
  name: 'matrix-notifier',
  version: '1.0.0',
  description: 'posts alerts to Matrix rooms (digesting bursts, exactly once per alert)',
  input: TOPICS.alerts,
  defaultMetricsPort: 9480,
  // Posts wait for the homeserver (down, rate-limited); this many alerts may wait before consumption pauses.
  maxInFlight: 5000,
  stopTimeoutMs: 10000,
  // Alerts wait in a digest window before they are posted: not a stall.
  holdMs: (svc) => loadMatrixConfig(svc.env)?.digestWindowMs ?? 0,
  init(svc) {
    const cfg = loadMatrixConfig(svc.env);
    if (!cfg) throw new Error('matrix-notifier: MATRIX_HOMESERVER_URL is not set');
    const metrics = notifierMetrics(svc.metrics);
    metrics.enabled.set(1);
    return new Notifier(cfg, svc.log.child({ component: 'matrix' }), metrics);
  },
  recordId: (a) => a.recordId,
  async handle(alert, ctx) {
    try {
      await ctx.state.handle(alert);
    } catch (e) {
      // Stopped while waiting for the homeserver: not the alert's fault, replay it next time.
      if (e instanceof MatrixClosedError) throw new TransientError(e.message);
      throw e;
    }
  },
  drain: (n) => n.flushAll(),
  close: (n) => n.close(),
});

export const matrixNotifierService = {
  ...matrixNotifierSink,
  async start(ctx: ServiceContext): Promise<RunningService> {
    if (!loadMatrixConfig(ctx.env)) {
      notifierMetrics(ctx.metrics).enabled.set(0);
      ctx.log.warn('matrix notifier disabled: MATRIX_HOMESERVER_URL is not set (see egress/matrix/README.md); alerts stay on the alerts topic');
      return { endpoints: {}, stop: async () => {} };
    }
    return matrixNotifierSink.start(ctx);
  },
  run: (ctx: ServiceContext, overrides?: SinkOverrides): Promise<RunningSink<Notifier>> => matrixNotifierSink.run(ctx, overrides),
};
