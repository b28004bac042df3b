/**
 * Regression test for patches/kafkajs+2.2.4.patch (upstream: tulios/kafkajs#1704, #1751, PR #1768).
 * kafkajs' request queue re-armed a check timer after every check, even with nothing pending and no
 * throttling: a 1 ms timer per broker connection, forever (CPU for nothing), and on Node 24 a
 * TimeoutNegativeWarning on stderr (the delay was throttledUntil − now, i.e. −Date.now()).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);
interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  maybeThrottle(ms: number): void;
  destroy(): void;
}
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (opts: Record<string, unknown>) => Queue;
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const queue = () => new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: 1, requestTimeout: 30000, enforceRequestTimeout: true, clientId: 'test', broker: 'b:1', logger });

describe('kafkajs request queue (patched)', () => {
  it('schedules no check when nothing is pending, so an idle connection costs no timer', () => {
    const q = queue();
    q.checkPendingRequests();
    assert.equal(q.throttleCheckTimeoutId, null, 'no timer armed for an empty queue');
    q.destroy();
  });

  it('still schedules a check for pending requests, after the throttle delay', () => {
    const q = queue();
    q.pending.push({});
    q.maybeThrottle(5000);
    q.scheduleCheckPendingRequests();
    const timer = q.throttleCheckTimeoutId as unknown as { _idleTimeout: number } | null;
    assert.ok(timer, 'a timer is armed while a request waits');
    assert.ok(timer._idleTimeout > 4000 && timer._idleTimeout <= 5000, `armed for the throttle delay, got ${timer._idleTimeout} ms`);
    q.destroy();
  });
});
