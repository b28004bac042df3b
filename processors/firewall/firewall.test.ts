/**
 * Reputation arithmetic, and the firewall on the real broker: a burst of spam from one /24 gets the
 * prefix blocked (Block on the blocklist topic with expiry and reason, an alert), every record passes
 * with its firewall section, and a restarted firewall rebuilds its state from the reputation topic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { produce, readTopic, testBroker, testMailRecord } from '../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../runtime/testing.ts';
import { topicConfig, type TopicSpec } from '../../runtime/topics.ts';
import { schema } from '../../schemas/index.ts';
import type { Alert, Block, MailRecord, Reputation } from '../../schemas/types.ts';
import { loadFirewallConfig } from './config.ts';
import { applyEvent, decayed, prefixOf } from './reputation.ts';
import { startFirewall } from './service.ts';

test('prefixes: /24 for IPv4 (also IPv4-mapped), /64 for IPv6', () => {
  assert.equal(prefixOf('198.51.100.77'), '198.51.100.0/24');
  assert.equal(prefixOf('::ffff:198.51.100.77'), '198.51.100.0/24');
  assert.equal(prefixOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.throws(() => prefixOf('not-an-ip'));
});

test('decay halves per half-life; blocking needs the score and the message count, once per block', () => {
  assert.equal(decayed(8, 0, 3600_000, 3600_000), 4);
  const cfg = loadFirewallConfig({ FIREWALL_BLOCK_SCORE: '3', FIREWALL_BLOCK_MIN_MESSAGES: '3', FIREWALL_HALF_LIFE_SECONDS: '3600' });
  const ev = (i: number) => ({ subject: 'ip:198.51.100.0/24', recordId: `r${i}`, at: 1000 + i, spam: true, spamScore: 0.99, authFailure: false, weight: 1.5, clientIp: '198.51.100.1' });
  let r: Reputation | undefined;
  const blocks: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const { next, block } = applyEvent(r, ev(i), i, cfg, 10_000);
    r = next;
    blocks.push(block);
  }
  assert.deepEqual(blocks, [false, false, true, false], 'blocked at the third message, not again while the block lasts');
  assert.equal(r!.blockEventOffset, 2);
  assert.equal(r!.blockedUntil, 10_000 + 3600_000);
  const domain = applyEvent(undefined, { ...ev(0), subject: 'domain:example.com', weight: 100 }, 0, { ...cfg, blockMinMessages: 1 }, 0);
  assert.equal(domain.block, false, 'domains are scored, never blocked');
  const ham = applyEvent(undefined, { ...ev(0), weight: -1 }, 0, cfg, 0);
  assert.equal(ham.next.score, 0, 'the score does not go below 0');
});

const { svc, admin } = testBroker('firewall-test');

function scored(ip: string, verdict: 'spam' | 'ham', dmarc: 'pass' | 'fail'): MailRecord {
  const auth = schema('AuthSection').type.random() as unknown as NonNullable<MailRecord['auth']>;
  return {
    ...testMailRecord(`From: x@example.com\r\nSubject: ${verdict}\r\n\r\nbody\r\n`, { clientIp: ip }),
    auth: { ...auth, dkim: [], spf: { ...auth.spf, result: 'none' }, dmarc: { ...auth.dmarc, result: dmarc, fromDomain: 'example.com' } },
    spam: { stageVersion: 't', scoredAt: Date.now(), probability: verdict === 'spam' ? 0.99 : 0.01, score: verdict === 'spam' ? 30 : -30, verdict, hamCutoff: 0.2, spamCutoff: 0.9, topTokens: [], tokenCount: 10, modelVersion: 'm', tokenizerVersion: 't' },
  };
}

test('a burst of spam from one /24 blocks it (block + alert); state rebuilt on restart', { timeout: 120000 }, async () => {
  const n = (p: string) => uniqueName(`fw-${p}`);
  const topics = { scored: n('scored'), screened: n('screened'), events: n('events'), reputation: n('rep'), blocks: n('blocks'), alerts: n('alerts'), dlq: n('dlq') };
  const cfg = (cleanup: 'delete' | 'compact') => Object.entries(topicConfig({ cleanup } as TopicSpec)).map(([name, value]) => ({ name, value }));
  await admin.createTopics({ waitForLeaders: true, topics: [
    ...[topics.scored, topics.screened, topics.events, topics.alerts, topics.dlq].map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1, configEntries: cfg('delete') })),
    ...[topics.reputation, topics.blocks].map((topic) => ({ topic, numPartitions: topic === topics.reputation ? 3 : 1, replicationFactor: 1, configEntries: cfg('compact') })),
  ] });
  const overrides = {
    reputationTopic: topics.reputation,
    screen: { input: topics.scored, output: topics.screened, deadLetters: topics.dlq, sideOutputs: { events: topics.events }, groupId: n('g1') },
    reputation: { input: topics.events, output: topics.reputation, deadLetters: topics.dlq, sideOutputs: { blocks: topics.blocks, alerts: topics.alerts }, groupId: n('g2') },
  };
  const ctx = { ...svc, env: { ...process.env, FIREWALL_BLOCK_SCORE: '4', FIREWALL_BLOCK_MIN_MESSAGES: '4', FIREWALL_BLOCK_SECONDS: '600' } };
  const burst = Array.from({ length: 6 }, (_, i) => scored(`198.51.100.${10 + i}`, 'spam', 'fail'));
  const good = scored('192.0.2.5', 'ham', 'pass');
  await produce(svc.kafka, svc.codec, topics.scored, 'MailRecord', [...burst, good].map((record) => ({ record, key: record.envelope.id })));
  let fw = await startFirewall(ctx, overrides);
  try {
    const out = await readTopic(svc.kafka, topics.screened, 7, { settleMs: 300 });
    const recs = await Promise.all(out.map((m) => svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord')));
    assert.ok(recs.every((r) => r.firewall !== null));
    const g = recs.find((r) => r.envelope.id === good.envelope.id)!.firewall!;
    assert.deepEqual([g.clientPrefix, g.senderDomain], ['192.0.2.0/24', 'example.com']);

    const [blockMsg] = await readTopic(svc.kafka, topics.blocks, 1, { settleMs: 1000 });
    assert.equal(blockMsg!.key, '198.51.100.0/24');
    const block = await svc.codec.decodeAs<Block>(blockMsg!.value, 'Block');
    assert.equal(block.source, 'firewall');
    assert.match(block.reason, /poor reputation: 4 spam and 4 authentication failures in 4 messages/);
    assert.ok(block.expiresAt! > Date.now() + 500_000 && block.expiresAt! <= Date.now() + 600_000);
    const alerts = await readTopic(svc.kafka, topics.alerts, 1, { settleMs: 300 });
    assert.equal(alerts.length, 1, 'one block, one alert (no second block while it lasts)');
    const alert = await svc.codec.decodeAs<Alert>(alerts[0]!.value, 'Alert');
    assert.deepEqual([alert.kind, alert.subject, alert.source], ['block', '198.51.100.0/24', 'firewall']);
    await eventually(() => (fw.table.get('ip:198.51.100.0/24')?.messages === 6 ? true : undefined), 10000, 'six messages counted');
    assert.equal(fw.table.get('ip:192.0.2.0/24')!.score, 0);
    assert.equal(fw.table.get('domain:example.com')!.messages, 1, 'only the DMARC-pass message is authenticated for example.com');

    await fw.stop();
    fw = await startFirewall(ctx, overrides);
    const rebuilt = fw.table.get('ip:198.51.100.0/24')!;
    assert.deepEqual([rebuilt.messages, rebuilt.spam, rebuilt.blockedUntil], [6, 6, block.expiresAt], 'state rebuilt from the reputation topic');
    // A later message from the blocked prefix (one that got in before the ingress saw the block) is flagged.
    await produce(svc.kafka, svc.codec, topics.scored, 'MailRecord', [{ record: scored('198.51.100.99', 'ham', 'pass') }]);
    const again = await readTopic(svc.kafka, topics.screened, 8, { settleMs: 300 });
    const last = await Promise.all(again.map((m) => svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord')));
    const lateRecord = last.find((r) => r.envelope.clientIp === '198.51.100.99')!;
    const late = lateRecord.firewall!;
    assert.equal(late.prefixBlocked, true);
    assert.ok(late.prefixScore > 4);
    // The same findings as the firewall's symbols on the record, stamped with its stage by the runtime.
    const fwSymbols = lateRecord.symbols.filter((x) => x.stage === 'firewall');
    assert.deepEqual(fwSymbols.map((x) => [x.symbol, x.score, x.options[0]]), [['REPUTATION_BAD_NET', late.prefixScore, '198.51.100.0/24'], ['REPUTATION_BLOCKED_NET', null, '198.51.100.0/24']]);
    assert.equal((await readTopic(svc.kafka, topics.dlq, 0, { settleMs: 300 })).length, 0);
  } finally {
    await fw.stop();
  }
});
