/**
 * Decision rules (pure) and the stage on the real broker: every record out on decided with its
 * section; quarantine and reject also on the quarantine topic in the same transaction.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStageTopics, produce, readTopic, testBroker, testMailRecord } from '../../runtime/stage-testing.ts';
import { uniqueName } from '../../runtime/testing.ts';
import { topicConfig, type TopicSpec } from '../../runtime/topics.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { loadDecisionConfig } from './config.ts';
import { decide } from './decide.ts';
import { decisionService } from './service.ts';
import { ConfigError } from '../../runtime/config.ts';

const cfg = loadDecisionConfig({});
const base = () => testMailRecord('From: a@example.com\r\n\r\nhi\r\n');
const withDmarc = (r: MailRecord, disposition: string) => ({ ...r, auth: { dmarc: { result: disposition === 'none' ? 'pass' : 'fail', disposition, fromDomain: 'example.com' } } as never });
const withSpam = (r: MailRecord, verdict: string, probability: number) => ({ ...r, spam: { score: probability * 20, probability, verdict, modelVersion: 'm1', topTokens: [] } }) as unknown as MailRecord;
const withAttachment = (r: MailRecord, filename: string, flags: string[], virus: string | null = null) => ({ ...r, mime: { tags: ['has-attachments'], attachments: [{ filename, flags, virus }] } as never });
const withReputation = (r: MailRecord, prefixScore: number, prefixBlocked = false) => ({ ...r, firewall: { clientPrefix: '192.0.2.0/24', prefixScore, prefixMessages: 3, prefixBlocked, senderDomain: null, domainScore: null, checkedAt: 0, stageVersion: 't' } });

test('rules: the most severe proposal wins, every reason kept', () => {
  assert.equal(decide(base(), cfg).action, 'deliver');
  assert.deepEqual(decide(base(), cfg).reasons, []);
  assert.equal(decide(withDmarc(base(), 'reject'), cfg).action, 'reject');
  assert.equal(decide(withDmarc(base(), 'quarantine'), cfg).action, 'junk');
  assert.equal(decide(withSpam(base(), 'ham', 0.01), cfg).action, 'deliver');
  assert.equal(decide(withSpam(base(), 'unsure', 0.5), cfg).action, 'junk');
  assert.equal(decide(withSpam(base(), 'spam', 0.99), cfg).action, 'quarantine');
  assert.equal(decide(withSpam(base(), 'spam', 1), cfg).action, 'quarantine', 'reject by probability is off by default');
  assert.equal(decide(withAttachment(base(), 'invoice.pdf.exe', ['executable', 'double-extension']), cfg).action, 'quarantine');
  assert.equal(decide(withAttachment(base(), 'report.pdf', []), cfg).action, 'deliver');
  assert.equal(decide(withAttachment(base(), 'x.zip', ['archive', 'virus'], 'Eicar-Signature'), cfg).action, 'reject');
  assert.equal(decide(withReputation(base(), 4), cfg).action, 'junk');
  assert.equal(decide(withReputation(base(), 9), cfg).action, 'quarantine');
  assert.equal(decide(withReputation(base(), 0, true), cfg).action, 'quarantine');
  const both = decide(withSpam(withAttachment(base(), 'a.js', ['script']), 'unsure', 0.3), cfg);
  assert.equal(both.action, 'quarantine');
  assert.deepEqual(both.reasons, ['quarantine: dangerous attachment a.js [script]', 'junk: unsure spam verdict (spam probability 0.300)']);
  assert.equal(both.spamScore, 6);
});

test('thresholds are configuration; a bad value names the key', () => {
  const strict = loadDecisionConfig({ DECISION_SPAM_ACTION: 'junk', DECISION_SPAM_REJECT_PROBABILITY: '0.999', DECISION_DMARC_REJECT_ACTION: 'quarantine' });
  assert.equal(decide(withSpam(base(), 'spam', 0.99), strict).action, 'junk');
  assert.equal(decide(withSpam(base(), 'spam', 0.9995), strict).action, 'reject');
  assert.equal(decide(withDmarc(base(), 'reject'), strict).action, 'quarantine');
  assert.throws(() => loadDecisionConfig({ DECISION_SPAM_REJECT_PROBABILITY: 'lots' }), (e: unknown) => e instanceof ConfigError && /DECISION_SPAM_REJECT_PROBABILITY/.test(e.message));
  assert.throws(() => loadDecisionConfig({ DECISION_VIRUS_ACTION: 'drop' }), (e: unknown) => e instanceof ConfigError && /DECISION_VIRUS_ACTION/.test(e.message));
});

const { svc, admin } = testBroker('decision-test');

test('stage: decided out for every record, quarantine and reject also held on the quarantine topic', { timeout: 90000 }, async () => {
  const t = await createStageTopics(admin, 'decision');
  const quarantine = uniqueName('decision-quarantine');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: quarantine, numPartitions: 3, replicationFactor: 1, configEntries: Object.entries(topicConfig({ cleanup: 'compact' } as TopicSpec)).map(([name, value]) => ({ name, value })) }] });
  const clean = base();
  const dangerous = { ...base(), mime: null, firewall: withReputation(base(), 9).firewall };
  const blocked = { ...base(), firewall: withReputation(base(), 0, true).firewall };
  await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [clean, dangerous, blocked].map((record) => ({ record })));
  const running = await decisionService.run(svc, { ...t, sideOutputs: { quarantine } });
  try {
    const out = await readTopic(svc.kafka, t.output, 3, { settleMs: 500 });
    const decided = new Map((await Promise.all(out.map((m) => svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord')))).map((r) => [r.envelope.id, r]));
    assert.equal(decided.get(clean.envelope.id)!.decision!.action, 'deliver');
    assert.equal(decided.get(dangerous.envelope.id)!.decision!.action, 'quarantine');
    assert.deepEqual(decided.get(dangerous.envelope.id)!.envelope.raw, dangerous.envelope.raw);
    const held = await readTopic(svc.kafka, quarantine, 2, { settleMs: 500 });
    assert.deepEqual(held.map((m) => m.key).sort(), [dangerous.envelope.id, blocked.envelope.id].sort());
    const h = await svc.codec.decodeAs<MailRecord>(held[0]!.value, 'MailRecord');
    assert.equal(h.decision!.action, 'quarantine');
    assert.match(h.decision!.reasons[0]!, /^quarantine: client prefix/);
  } finally {
    await running.stop();
  }
});
