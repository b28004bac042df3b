/**
 * The stage's process(): messages are cut to the limits, small ones tokenized inline and large ones in
 * a worker thread; a worker stuck past the record's time limit is terminated (the stage's timer aborts
 * ctx.signal, as runtime/stage.ts does before dead-lettering the record as process-timeout) and the
 * next record is scored as usual. Configuration is validated with the key named.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../runtime/config.ts';
import { CpuTaskAbortedError, CpuTaskTimeoutError } from '../../runtime/cpu-pool.ts';
import { loggerFor } from '../../runtime/log.ts';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { train } from './evaluate.ts';
import { spamInputFromRecord } from './input.ts';
import { boundedTokenizer, bodyChars, DEFAULT_TOKENIZE_TIMEOUT_MS, loadSpamConfig, PROCESS_TIMEOUT_MS, spamService, type SpamState } from './service.ts';
import { mimeSection, spamInput, spamStateFor, withMime } from './testing.ts';
import { DEFAULT_LIMITS, tokenize } from './tokenizer.ts';

function record(subject: string, text: string): MailRecord {
  return withMime(testMailRecord('Subject: x\r\n\r\nx'), mimeSection({ subject, text }));
}

const model = train([
  { tokens: tokenize(spamInput({ subject: 'agenda for the meeting', text: 'minutes of the meeting attached' })), label: 'ham' },
  { tokens: tokenize(spamInput({ subject: 'WIN CASH NOW', text: 'claim your prize now, click here' })), label: 'spam' },
]);

const stateWith = (tokenizer: ReturnType<typeof boundedTokenizer>): Promise<SpamState> => spamStateFor(model, tokenizer);

function ctx(state: SpamState, signal: AbortSignal) {
  return { log: loggerFor('spam-test'), recordId: 'r', state, signal, source: { topic: 't', partition: 0, offset: '0', headers: {} }, emit: () => undefined };
}

describe('spam stage process(): bounded, and stoppable', () => {
  const tokenizers: ReturnType<typeof boundedTokenizer>[] = [];
  after(() => Promise.all(tokenizers.map((t) => t.close())));

  it('configuration: defaults are the tokenizer limits; a bad value names the key', () => {
    const c = loadSpamConfig({});
    assert.deepEqual(c.limits, DEFAULT_LIMITS);
    assert.equal(c.inlineMaxChars, 32768);
    assert.equal(loadSpamConfig({ SPAM_MAX_TEXT_CHARS: '5000' }).limits.maxTextChars, 5000);
    assert.throws(() => loadSpamConfig({ SPAM_MAX_TEXT_CHARS: 'lots' }), (e: Error) => e instanceof ConfigError && /SPAM_MAX_TEXT_CHARS/.test(e.message));
    assert.throws(() => loadSpamConfig({ SPAM_TOKENIZE_THREADS: '0' }), (e: Error) => e instanceof ConfigError && /SPAM_TOKENIZE_THREADS/.test(e.message));
    assert.equal(loadSpamConfig({ SPAM_CLIENT_RDNS: 'false' }).limits.clientRdns, false);
    assert.equal(c.tokenizeTimeoutMs, DEFAULT_TOKENIZE_TIMEOUT_MS);
    assert.ok(DEFAULT_TOKENIZE_TIMEOUT_MS < PROCESS_TIMEOUT_MS / 2, 'a record queued behind a stuck tokenize keeps time of its own');
    assert.throws(() => loadSpamConfig({ SPAM_TOKENIZE_TIMEOUT_MS: String(PROCESS_TIMEOUT_MS) }), (e: Error) => e instanceof ConfigError && /SPAM_TOKENIZE_TIMEOUT_MS/.test(e.message) && /below the stage's/.test(e.message));
  });

  it('scores small messages inline and large hostile ones in a worker, with the same tokens', async () => {
    const tok = boundedTokenizer({ limits: DEFAULT_LIMITS, inlineMaxChars: 10_000, threads: 1, timeoutMs: 30_000 });
    tokenizers.push(tok);
    const state = await stateWith(tok);
    const small = record('WIN CASH NOW', 'claim your prize now');
    const large = record('hello', `${')'.repeat(200_000)}a claim your prize now`);
    assert.ok(bodyChars(spamInputFromRecord(large)) > 10_000);
    const process = spamService.stage.process;
    const a = await process(small, ctx(state, new AbortController().signal));
    const b = await process(large, ctx(state, new AbortController().signal));
    assert.equal(a?.section.modelVersion, 'test-model');
    assert.equal(a?.section.verdict, 'spam');
    assert.deepEqual(a?.symbols, [{ symbol: 'BAYES_SPAM', score: a!.section.probability, options: [a!.section.probability.toFixed(3)] }], 'the verdict as a symbol, the probability as its score');
    assert.ok(b?.section && b.section.tokenCount > 0);
    assert.deepEqual(await tok.tokenize(spamInputFromRecord(large)), tokenize(spamInputFromRecord(large)), 'worker and inline tokens are the same');
  });

  /** Every message in a worker that hangs on the subject "hang", its pool limit timeoutMs; warmed up by one scored record. */
  async function hangingWorkerState(timeoutMs: number): Promise<SpamState> {
    const tok = boundedTokenizer({ limits: DEFAULT_LIMITS, inlineMaxChars: 0, threads: 1, timeoutMs, module: new URL('./hanging-tokenize.test-worker.ts', import.meta.url) });
    tokenizers.push(tok);
    const state = await stateWith(tok);
    assert.equal((await spamService.stage.process(record('warm-up', 'hello'), ctx(state, new AbortController().signal)))?.section.modelVersion, 'test-model');
    return state;
  }

  it("a worker stuck past the record's time limit is terminated and the next record is scored", async () => {
    const state = await hangingWorkerState(60_000);
    const process = spamService.stage.process;
    const t0 = performance.now();
    const timer = new AbortController();
    setTimeout(() => timer.abort(new Error('process() took longer than 300 ms')), 300);
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 20);
    await assert.rejects(Promise.resolve(process(record('hang', 'hello'), ctx(state, timer.signal))), CpuTaskAbortedError);
    clearInterval(ticking);
    const took = performance.now() - t0;
    assert.ok(took < 5_000, `stopped after ${took.toFixed(0)} ms`);
    assert.ok(ticks >= 5, `the event loop kept running while the worker hung (${ticks} ticks)`);
    // Same thread count: the hung worker was replaced.
    const next = await process(record('WIN CASH NOW', 'claim your prize now'), ctx(state, new AbortController().signal));
    assert.equal(next?.section.verdict, 'spam');
  });

  it('a stuck worker is stopped at SPAM_TOKENIZE_TIMEOUT_MS, so a record queued behind it is still scored within its own limit', async () => {
    const state = await hangingWorkerState(1_000);
    const process = spamService.stage.process;
    // Each record's own limit (the engine's per-record timer), here 4 s: the stuck one holds the only thread for 1 s.
    const recordLimit = () => AbortSignal.timeout(4_000);
    const stuck = Promise.resolve(process(record('hang', 'hello'), ctx(state, recordLimit())));
    const queued = Promise.resolve(process(record('WIN CASH NOW', 'claim your prize now'), ctx(state, recordLimit())));
    await assert.rejects(stuck, (e: Error) => e instanceof CpuTaskTimeoutError && /took longer than 1000 ms \(SPAM_TOKENIZE_TIMEOUT_MS\)/.test(e.message));
    assert.equal((await queued)?.section.verdict, 'spam', 'the record behind it was scored, not timed out with it');
  });

  it('a record without a MIME section is refused (dead-lettered by the stage)', async () => {
    const state = await stateWith(boundedTokenizer({ limits: DEFAULT_LIMITS, inlineMaxChars: 1, threads: 1, timeoutMs: 1_000 }));
    await assert.rejects(Promise.resolve(spamService.stage.process(testMailRecord('Subject: x\r\n\r\nx'), ctx(state, new AbortController().signal))), /no mime section/);
  });
});
