/**
 * Symbols through the runtime's merge (issue 16), without a broker: a stage returns only its own
 * symbols, the runtime stamps them with the stage's section, a replay through a stage replaces that
 * stage's symbols and never another's; names are checked and lists bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MailRecord } from '../schemas/types.ts';
import { loggerFor } from './log.ts';
import type { ServiceContext } from './service.ts';
import type { RawStore } from './raw-ref.ts';
import { defineStage, mergeSymbols, sectionStep, sectionSteps, SYMBOL_LIMITS, type StageSymbol } from './stage.ts';
import { testMailRecord } from './stage-testing.ts';
import { TOPICS } from './topics.ts';

const sym = (symbol: string, ...options: string[]): StageSymbol => ({ symbol, score: null, options });

test('mergeSymbols: stamps the stage, replaces only its own earlier symbols, keeps the others in order', () => {
  const first = mergeSymbols([], 'mime', [sym('MIME_EXECUTABLE', 'a.exe')]);
  const both = mergeSymbols(first, 'auth', [sym('SPF_FAIL', 'example.com'), { symbol: 'DMARC_POLICY_REJECT', score: 1, options: [] }]);
  assert.deepEqual(both.map((s) => `${s.stage}:${s.symbol}`), ['mime:MIME_EXECUTABLE', 'auth:SPF_FAIL', 'auth:DMARC_POLICY_REJECT']);
  // A replay through auth: its new findings replace its old ones; mime's stay.
  const replayed = mergeSymbols(both, 'auth', [sym('SPF_PASS', 'example.com')]);
  assert.deepEqual(replayed.map((s) => `${s.stage}:${s.symbol}`), ['mime:MIME_EXECUTABLE', 'auth:SPF_PASS']);
  // Omitted symbols: the stage has none now.
  assert.deepEqual(mergeSymbols(replayed, 'mime').map((s) => s.symbol), ['SPF_PASS']);
});

test('mergeSymbols: a malformed name is a stage bug (throws); lists and options are bounded; non-finite scores dropped', () => {
  assert.throws(() => mergeSymbols([], 'spam', [sym('bayes_spam')]), /invalid symbol name "bayes_spam"/);
  assert.throws(() => mergeSymbols([], 'spam', [sym('X'.repeat(65))]), /invalid symbol name/);
  assert.throws(() => mergeSymbols([], 'spam', [sym('A{B}')]), /invalid symbol name/);
  const many = Array.from({ length: SYMBOL_LIMITS.perStage + 10 }, (_, i) => sym(`S_${i}`, ...Array.from({ length: 40 }, () => 'o'.repeat(1000))));
  const out = mergeSymbols([], 'mime', many);
  assert.equal(out.length, SYMBOL_LIMITS.perStage);
  assert.equal(out[0]!.options.length, SYMBOL_LIMITS.options);
  assert.equal(out[0]!.options[0]!.length, SYMBOL_LIMITS.optionChars);
  assert.equal(mergeSymbols([], 'spam', [{ symbol: 'BAYES_SPAM', score: Number.NaN, options: [] }])[0]!.score, null);
});

/** Two section stages as a fused chain would run them (sectionSteps), each returning a section and symbols. */
function chain() {
  // No Kafka: these records carry their raw inline, so the raw store is never asked.
  const svc = { svc: { codec: {} } as unknown as ServiceContext, raws: {} as RawStore };
  const mime = defineStage<undefined, 'mime'>({
    name: 'm', section: 'mime', version: 't', description: 't', input: TOPICS.inboundRaw, output: TOPICS.inboundParsed, defaultMetricsPort: 0,
    process: (r) => ({ section: { ...(r.mime ?? {}), stageVersion: 't' } as NonNullable<MailRecord['mime']>, symbols: [sym('MIME_SEEN', r.envelope.helo)] }),
  });
  let verdict = 'FAIL';
  const auth = defineStage<undefined, 'auth'>({
    name: 'a', section: 'auth', version: 't', description: 't', input: TOPICS.inboundParsed, output: TOPICS.inboundAuthenticated, defaultMetricsPort: 0,
    process: () => ({ section: { stageVersion: 't' } as NonNullable<MailRecord['auth']>, symbols: [sym(`SPF_${verdict}`)] }),
  });
  const steps = sectionSteps([sectionStep(mime.stage, svc, undefined, new Map()), sectionStep(auth.stage, svc, undefined, new Map())]);
  const authOnly = sectionStep(auth.stage, svc, undefined, new Map());
  const source = { topic: 't', partition: 0, offset: '0', key: null, headers: {} } as never;
  return {
    run: async (r: MailRecord) => (await steps.apply(r, source, r.envelope.id, loggerFor('test'))).out!,
    replayAuth: async (r: MailRecord, v: string) => { verdict = v; return (await authOnly.apply(r, source, r.envelope.id, loggerFor('test'))).out!; },
  };
}

test('fused chain: each step adds its section and symbols; a replay of one stage changes only its own', async () => {
  const c = chain();
  const out = await c.run(testMailRecord('Subject: x\r\n\r\nhi\r\n'));
  assert.deepEqual(out.symbols.map((s) => [s.stage, s.symbol, s.options]), [['mime', 'MIME_SEEN', ['client.example']], ['auth', 'SPF_FAIL', []]]);
  const again = await c.replayAuth(out, 'PASS');
  assert.deepEqual(again.symbols.map((s) => [s.stage, s.symbol]), [['mime', 'MIME_SEEN'], ['auth', 'SPF_PASS']]);
  assert.equal(again.mime, out.mime, 'the other section is untouched');
});
