/**
 * Deployments of the inbound chain other than one fused process or five separate ones:
 *  - two instances of the fused chain (what `scop start` runs with SCOP_FUSED_INSTANCES=2, the
 *    default on two cores) in one consumer group split the partitions of mail.inbound.raw — each
 *    owns some, together all, none twice — and every record is decided once;
 *  - groups (SCOP_INBOUND=mime+auth,spam+firewall+decision): two fused units meeting on
 *    mail.inbound.authenticated, nothing on the topics inside each group;
 *  - INBOUND_WRITE_INTERMEDIATE=true: the fused chain writes the intermediate topics too.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Registry } from 'prom-client';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import type { RunningService, ServiceContext } from '../runtime/service.ts';
import { produce, readTopic, testMailRecord } from '../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../runtime/testing.ts';
import { createPipelineTopics, harnessServices, pipelineContext, startOne, type PipelineTopics } from './pipeline.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dir = join(ROOT, '.data', 'e2e', uniqueName('instances'));
const PARTITIONS = 4;
const dns = new TestDnsServer();
const running: RunningService[] = [];

before(async () => { mkdirSync(dir, { recursive: true }); await dns.start(); });
after(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => {});
  await dns.stop();
});

/** Partitions the instance's chain consumer owns now (its /healthz check), 0 until it joined. */
function owned(ctx: ServiceContext): number {
  const c = ctx.health!.check().checks.inbound as { ok: boolean; partitions?: number } | undefined;
  return c?.ok ? c.partitions ?? 0 : 0;
}

async function committed(metrics: Registry): Promise<number> {
  const m = await metrics.getSingleMetric('scop_stage_records_out_total')?.get();
  return m?.values.find((v) => v.labels.stage === 'inbound')?.value ?? 0;
}

const ENV = () => ({ ...process.env, DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '500', DNS_RETRIES: '0', AUTH_SERVID: 'mx.e2e.scop.test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const messages = (n: number, tag: string) => Array.from({ length: n }, (_, i) => testMailRecord(`From: a${i}@sender.test\r\nTo: bob@example.net\r\nSubject: ${tag} ${i}\r\n\r\nbody ${i}\r\n`, { rcptTo: ['bob@example.net'] }));

test('two fused inbound instances split the partitions of mail.inbound.raw and decide each record once', { timeout: 300000 }, async () => {
  assert.ok(harnessServices({ inbound: 'fused' }).includes('inbound'));
  const env = ENV();
  const svc = pipelineContext('instances-main', env, dir);
  const topics: PipelineTopics = await createPipelineTopics(svc, 'instances', PARTITIONS);
  const group = uniqueName('instances');
  const instances = [1, 2].map((i) => pipelineContext(`inbound-${i}`, env, join(dir, String(i))));
  for (const ctx of instances) running.push(await startOne('inbound', ctx, topics, group));

  // Both joined: each owns some partitions, together every one (Kafka gives a partition to one member).
  await eventually(() => {
    const [a, b] = instances.map(owned);
    return a! > 0 && b! > 0 && a! + b! === PARTITIONS ? true : undefined;
  }, 120000, 'both instances own partitions');

  const N = 40;
  await produce(svc.kafka, svc.codec, topics.inboundRaw, 'MailRecord', messages(N, 'split').map((record) => ({ record })));

  const decided = await readTopic(svc.kafka, topics.inboundDecided, N, { settleMs: 2000, timeoutMs: 180000 });
  assert.equal(decided.length, N, 'every record decided once');
  const counts = await Promise.all(instances.map((ctx) => committed(ctx.metrics)));
  console.log(`# two fused instances over ${PARTITIONS} partitions: ${counts.join(' + ')} of ${N} records decided`);
  assert.equal(counts[0]! + counts[1]!, N, `each record committed by one instance only (${counts.join(' + ')})`);
  assert.ok(counts.every((c) => c > 0), `both instances decided records from their own partitions (${counts.join(' + ')})`);
});

test('groups: mime+auth and spam+firewall+decision meet on mail.inbound.authenticated, nothing on the topics inside a group', { timeout: 300000 }, async () => {
  const services = harnessServices({ inbound: 'mime+auth,spam+firewall+decision' });
  assert.deepEqual(services, ['egress', 'spam+firewall+decision', 'mime+auth', 'ingress'], 'downstream first, as the topology orders them');
  const env = ENV();
  const svc = pipelineContext('groups-main', env, dir);
  const topics = await createPipelineTopics(svc, 'groups', 2);
  const group = uniqueName('groups');
  for (const name of services.filter((n) => n.includes('+'))) running.push(await startOne(name, pipelineContext(name, env, join(dir, name)), topics, group));
  const N = 6;
  await produce(svc.kafka, svc.codec, topics.inboundRaw, 'MailRecord', messages(N, 'groups').map((record) => ({ record })));
  const decided = await readTopic(svc.kafka, topics.inboundDecided, N, { timeoutMs: 180000 });
  assert.equal(decided.length, N);
  assert.equal((await readTopic(svc.kafka, topics.inboundAuthenticated, N, { settleMs: 500 })).length, N, 'the topic between the groups carries every record');
  // End offsets, not a read: a reader that had not joined yet would see nothing either.
  const admin = svc.kafka.admin();
  await admin.connect();
  try {
    for (const inside of [topics.inboundParsed, topics.inboundScored, topics.inboundScreened]) {
      const ends = await admin.fetchTopicOffsets(inside);
      assert.equal(ends.reduce((n, e) => n + Number(e.high), 0), 0, `nothing written to ${inside}, inside a group`);
    }
  } finally {
    await admin.disconnect();
  }
});

test('INBOUND_WRITE_INTERMEDIATE=true: the fused chain writes every intermediate topic too (off by default)', { timeout: 300000 }, async () => {
  const env = { ...ENV(), INBOUND_WRITE_INTERMEDIATE: 'true' };
  const svc = pipelineContext('intermediate-main', env, dir);
  const topics = await createPipelineTopics(svc, 'intermediate', 2);
  running.push(await startOne('inbound', pipelineContext('inbound-intermediate', env, join(dir, 'intermediate')), topics, uniqueName('intermediate')));
  const N = 5;
  await produce(svc.kafka, svc.codec, topics.inboundRaw, 'MailRecord', messages(N, 'intermediate').map((record) => ({ record })));
  assert.equal((await readTopic(svc.kafka, topics.inboundDecided, N, { timeoutMs: 180000 })).length, N);
  for (const inside of [topics.inboundParsed, topics.inboundAuthenticated, topics.inboundScored, topics.inboundScreened]) {
    assert.equal((await readTopic(svc.kafka, inside, N, { settleMs: 500 })).length, N, `every record on ${inside}`);
  }
});
