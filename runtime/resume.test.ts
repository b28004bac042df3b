/**
 * Resume after a crash (runtime/resume.test-probe.ts, real broker, real processes): a SIGKILLed member's
 * replacement consumes again within the session timeout (10 s by default, was 30 s), and with
 * static membership (SCOP_INSTANCE_ID, platformatic) well before it — a 30 s session here,
 * so the two cannot be confused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureResume } from './resume.test-probe.ts';
import { testKafka } from './testing.ts';

describe('resume after a SIGKILL', { timeout: 300000 }, () => {
  it('kafkajs, dynamic member, 10 s session: the replacement consumes once the dead session expired', async () => {
    const r = await measureResume(testKafka('resume-test'), { client: 'kafkajs', sessionTimeoutMs: 10000, staticMember: false });
    console.log(`# kafkajs, 10 s session: resumed ${r.resumeMs} ms after the kill`);
    assert.ok(r.resumeMs < 10000 + 8000, `resumed after ${r.resumeMs} ms`);
    assert.equal(r.stopExit, 0, 'the replacement stops cleanly');
  });

  it('platformatic, static member, 30 s session: the replacement takes the old place without waiting for the session, and stops cleanly', async () => {
    const r = await measureResume(testKafka('resume-test'), { client: 'platformatic', sessionTimeoutMs: 30000, staticMember: true });
    console.log(`# platformatic static member, 30 s session: resumed ${r.resumeMs} ms after the kill`);
    assert.ok(r.resumeMs < 15000, `resumed after ${r.resumeMs} ms: it waited for the session (30 s) instead of taking the old place`);
    assert.equal(r.stopExit, 0, 'a static member leaves cleanly on SIGTERM');
  });
});
