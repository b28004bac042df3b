/** One instance identity per (unit, instance): unique among instances, stable across restarts. */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { instanceIdentity } from './start.ts';

describe('scop start: instance identity', () => {
  it('platformatic: <host>-<name>, one per instance', () => {
    const env = { KAFKA_CLIENT: 'platformatic' };
    assert.deepEqual(instanceIdentity(env, 'inbound-2'), { SCOP_INSTANCE_ID: `${hostname()}-inbound-2` });
    assert.notEqual(instanceIdentity(env, 'inbound-1').SCOP_INSTANCE_ID, instanceIdentity(env, 'inbound-2').SCOP_INSTANCE_ID);
  });
  it("the operator's id replaces the host, once (not <id>-2-inbound-2)", () => {
    assert.deepEqual(instanceIdentity({ KAFKA_CLIENT: 'platformatic', SCOP_INSTANCE_ID: 'mx1' }, 'inbound-2'), { SCOP_INSTANCE_ID: 'mx1-inbound-2' });
    assert.deepEqual(instanceIdentity({ SCOP_INSTANCE_ID: 'mx1' }, 'egress'), { SCOP_INSTANCE_ID: 'mx1-egress' });
  });
  it('kafkajs without an id: none (kafkajs has no static membership)', () => {
    assert.deepEqual(instanceIdentity({}, 'inbound-1'), {});
  });
});
