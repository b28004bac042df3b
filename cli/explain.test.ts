/** `scop explain` on the real broker: the record found by id (latest decision wins, prefixes), the text and JSON output of the command, and its errors; `scop policy check`. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../runtime/config.ts';
import { produce, testBroker, testMailRecord } from '../runtime/stage-testing.ts';
import { uniqueName } from '../runtime/testing.ts';
import { decide } from '../processors/decision/decide.ts';
import { buildPolicy } from '../processors/decision/policy.ts';
import type { MailRecord } from '../schemas/types.ts';
import { findDecided } from './explain.ts';
import { SYMBOL_CATALOG } from './services.ts';

const ROOT = resolve(import.meta.dirname, '..');
const scop = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, SCOP_POLICY_FILE: '' } });
const { svc, admin } = testBroker('explain-cli-test');

const builtIn = buildPolicy(null, SYMBOL_CATALOG);
const decided = (symbols: MailRecord['symbols']): MailRecord => {
  const r = { ...testMailRecord('Subject: x\r\n\r\nbody\r\n', { rcptTo: ['bob@example.net'] }), symbols };
  return { ...r, decision: decide(r, builtIn).section };
};

test('explain: finds the latest decision of a record by id or prefix; the command prints symbols, thresholds and policy; JSON too', { timeout: 90000 }, async () => {
  const topic = uniqueName('explain-decided');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  const spam = decided([{ symbol: 'BAYES_SPAM', stage: 'spam', score: 0.99, options: ['0.990'] }]);
  // A replay decided it again (junk) after a policy change: the later one is what explain shows.
  const lenient = buildPolicy(null, SYMBOL_CATALOG, { DECISION_SPAM_ACTION: 'junk' });
  const replayed = { ...spam, decision: decide(spam, lenient).section };
  const clean = decided([{ symbol: 'SPF_PASS', stage: 'auth', score: null, options: ['good.test'] }]);
  await produce(svc.kafka, svc.codec, topic, 'MailRecord', [spam, clean, replayed].map((record) => ({ record, key: record.envelope.id })));

  const found = await findDecided(svc.kafka, svc.codec, topic, spam.envelope.id.slice(0, 13), { kind: 'beginning' });
  assert.deepEqual([found.envelope.id, found.decision!.action, found.decision!.policyVersion], [spam.envelope.id, 'junk', lenient.version]);
  await assert.rejects(findDecided(svc.kafka, svc.codec, topic, '00000000-0000', { kind: 'beginning' }), (e: unknown) => e instanceof ConfigError && /no record 00000000-0000 on/.test(e.message));
  await assert.rejects(findDecided(svc.kafka, svc.codec, topic, 'abc', { kind: 'beginning' }), (e: unknown) => e instanceof ConfigError && /not a record id/.test(e.message));

  const text = scop('explain', clean.envelope.id, '--topic', topic);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^action: +deliver$/m);
  assert.match(text.stdout, /^score: +0\.00 +thresholds: junk 6\.00, quarantine 20\.00$/m);
  assert.match(text.stdout, new RegExp(`^policy: +${builtIn.version}$`, 'm'));
  assert.match(text.stdout, /^ +\+0\.00 +SPF_PASS +auth +\{good\.test\} +group=auth$/m);
  const json = scop('explain', spam.envelope.id, '--topic', topic, '--json');
  assert.equal(json.status, 0, json.stderr);
  const x = JSON.parse(json.stdout) as { decision: { action: string; weighed: { symbol: string; weight: number }[] } };
  assert.equal(x.decision.action, 'junk');
  assert.deepEqual(x.decision.weighed.map((w) => w.symbol), ['BAYES_SPAM']);
  // What-if with the built-in policy: quarantine again.
  const whatIf = scop('explain', spam.envelope.id, '--topic', topic, '--policy', 'default', '--json');
  assert.equal((JSON.parse(whatIf.stdout) as { decision: { action: string } }).decision.action, 'quarantine');
  const missing = scop('explain', '11111111-2222', '--topic', topic);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no record 11111111-2222/);
});

test('policy check: a valid file prints its version, an invalid one names the line and key (exit 2)', () => {
  const dir = join(ROOT, '.data', 'test', uniqueName('policy-check'));
  mkdirSync(dir, { recursive: true });
  try {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'actions: { add_header: 4 }\n');
    const ok = scop('policy', 'check', good);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /policy [0-9a-f]{16}; thresholds add_header 4, junk 6, quarantine 20/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'symbols:\n  BAYES_SPAM:\n    weight: lots\n');
    const no = scop('policy', 'check', bad);
    assert.equal(no.status, 2);
    assert.match(no.stderr, /bad\.yaml line 3: symbols\.BAYES_SPAM\.weight: Expected number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
