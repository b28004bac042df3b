/**
 * The spam stage's symbols: the verdict symbol, and each evidence symbol fires on a crafted message
 * (through the real tokenizer, as the stage runs it) and not on its near miss; the stage's process()
 * returns them next to its section; every name it emits is declared on the stage's definition
 * (symbol-names.ts), from which the catalogue the policy validates against is derived, and every
 * declared name fires on one of these inputs (runtime/symbols-testing.ts): a new evidence symbol
 * needs its case here, and nowhere else but the policy file.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loggerFor } from '../../runtime/log.ts';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import { assertEveryDeclaredSymbolFires } from '../../runtime/symbols-testing.ts';
import { train } from './evaluate.ts';
import { spamInputFromMime, type SpamInput } from './input.ts';
import { boundedTokenizer, spamService } from './service.ts';
import { SPAM_EVIDENCE_SYMBOLS, SPAM_SYMBOLS } from './symbol-names.ts';
import { EVIDENCE, evidenceSymbols, spamSymbols } from './symbols.ts';
import { mimeSection, spamInput, spamStateFor, withMime } from './testing.ts';
import { DEFAULT_LIMITS, tokenize } from './tokenizer.ts';

const names = (input: SpamInput, limits = DEFAULT_LIMITS) => evidenceSymbols(tokenize(input, limits)).map((s) => s.symbol);
const env = (clientHostname: string | null, helo: string, clientHostnameConfirmed: boolean | null = null) => ({ clientIp: '81.2.69.20', clientHostname, clientHostnameConfirmed, helo, mailFrom: 'alice@corp.test', rcptTo: ['bob@corp.test'] });
/** One hop on the sender's side: a submission host behind the relay. */
const submitted = ['from laptop.corp.test (laptop.corp.test [10.0.0.5]) by mail.corp.test; Fri, 1 Aug 2025 10:00:00 +0000'];
const html = (body: string) => ({ html: `<html><body>${body}</body></html>`, text: null, fields: { 'content-type': 'text/html; charset=utf-8', 'mime-version': '1.0', to: 'bob@corp.test' } });

/** [symbol, a message that fires it, its near miss]. */
const CASES: [string, SpamInput, SpamInput][] = [
  ['RDNS_NONE', spamInput({ envelope: env(null, 'mail.corp.test'), received: submitted }), spamInput({ envelope: env('mail.corp.test', 'mail.corp.test'), received: submitted })],
  ['RDNS_DYNAMIC', spamInput({ envelope: env('dsl-81-2-69-20.pool.isp.test', 'mail.corp.test'), received: submitted }), spamInput({ envelope: env('mail.isp.test', 'mail.isp.test'), received: submitted })],
  ['RDNS_NOT_FCRDNS', spamInput({ envelope: env('mail.corp.test', 'mail.corp.test', false), received: submitted }), spamInput({ envelope: env('mail.corp.test', 'mail.corp.test', true), received: submitted })],
  ['HELO_IP_LITERAL', spamInput({ envelope: env('mail.corp.test', '[81.2.69.20]'), received: submitted }), spamInput({ envelope: env('mail.corp.test', 'mail.corp.test'), received: submitted })],
  ['HELO_BARE', spamInput({ envelope: env('mail.corp.test', 'mailhost'), received: submitted }), spamInput({ envelope: env('mail.corp.test', 'mailhost.corp.test'), received: submitted })],
  ['HELO_NOT_RDNS', spamInput({ envelope: env('mail.corp.test', 'mx.other.test'), received: submitted }), spamInput({ envelope: env('mail.corp.test', 'mx2.corp.test'), received: submitted })],
  ['RCVD_DIRECT_TO_MX', spamInput({ envelope: env('mail.corp.test', 'mail.corp.test') }), spamInput({ envelope: env('mail.corp.test', 'mail.corp.test'), received: submitted })],
  ['MIME_HTML_ONLY', spamInput(html('<p>Our offer of the week, only for you: see the shop</p>')), spamInput({ html: '<p>Shall we meet at noon at the usual place? The new menu looks good.</p>' })],
  ['HTML_HIDDEN_TEXT', spamInput({ html: '<p>Buy now</p><div style="display:none">the quick brown fox jumps over the lazy dog</div>' }), spamInput({ html: '<p>Buy now and save, offer ends on Friday at noon, the usual place</p><div style="display:none">x</div>' })],
  ['URL_ANCHOR_MISMATCH', spamInput({ html: '<p>Log in at <a href="http://login.evil.test/x">www.paypal.com</a></p>' }), spamInput({ html: '<p>Log in at <a href="https://www.paypal.com/signin">www.paypal.com</a></p>' })],
  ['URL_SHORTENER', spamInput({ html: '<p>See <a href="https://bit.ly/3abc">the menu</a></p>' }), spamInput({ html: '<p>See <a href="https://menu.corp.test/today">the menu</a></p>' })],
  ['FROM_NAME_ADDR_OTHER', spamInput({ from: [{ name: 'service@paypal.com', address: 'x@evil.test' }] }), spamInput({ from: [{ name: 'service@corp.test', address: 'alice@corp.test' }] })],
  ['FROM_NAME_DOMAIN_OTHER', spamInput({ from: [{ name: 'PayPal.com Security', address: 'x@evil.test' }] }), spamInput({ from: [{ name: 'Corp.test Security', address: 'alice@corp.test' }] })],
  ['TO_EQ_FROM', spamInput({ to: [{ name: '', address: 'alice@corp.test' }] }), spamInput({ to: [{ name: '', address: 'alicia@corp.test' }] })],
];

describe('spam symbols: evidence beyond the words', () => {
  for (const [symbol, hit, miss] of CASES) {
    it(`${symbol} fires on its message and not on the near miss`, () => {
      assert.ok(names(hit).includes(symbol), `${symbol} missing from ${names(hit).join(' ')}`);
      assert.ok(!names(miss).includes(symbol), `${symbol} on the near miss: ${names(miss).join(' ')}`);
    });
  }

  it('every evidence symbol has a case, is in the catalogue, and names the tokens that fired it', () => {
    assert.deepEqual(CASES.map(([s]) => s).sort(), EVIDENCE.map((e) => e.symbol).sort());
    assert.deepEqual(EVIDENCE.map((e) => e.symbol).sort(), Object.keys(SPAM_EVIDENCE_SYMBOLS).sort());
    for (const e of EVIDENCE) assert.equal(spamService.symbols?.[e.symbol]?.stage, 'spam', `${e.symbol} declared on the stage's definition`);
    const stub = spamInput({ html: '<p>A long HTML version with many more words than the text part has, to make the text look like a stub</p>', text: 'Hi' });
    assert.deepEqual(evidenceSymbols(tokenize(stub)).find((s) => s.symbol === 'MIME_HTML_ONLY'), { symbol: 'MIME_HTML_ONLY', score: null, options: ['mime:alt-ratio:text-short'] });
  });

  it('MIME_HTML_ONLY: an HTML body without a text body in any container (the MIME stage\'s html-only tag), not when a text body exists', () => {
    // multipart/mixed (an attachment beside the HTML): the MIME stage renders the HTML as `text`, so
    // only its html-only tag tells. Before, neither html:only nor a text-short ratio fired here.
    const body = '<p>Our offer of the week, only for you: see the shop and order today</p>';
    const mixed = { 'content-type': 'multipart/mixed; boundary="b"', 'mime-version': '1.0', to: 'bob@corp.test' };
    const rendered = 'Our offer of the week, only for you: see the shop and order today';
    const hit = spamInputFromMime(mimeSection({ text: rendered, html: body, tags: ['has-text', 'has-html', 'html-only'] }), Buffer.from(`Content-Type: ${mixed['content-type']}\r\n\r\n`), null, null);
    assert.equal(hit.htmlOnly, true);
    assert.deepEqual(evidenceSymbols(tokenize(hit)).find((s) => s.symbol === 'MIME_HTML_ONLY'), { symbol: 'MIME_HTML_ONLY', score: null, options: ['html:only'] });
    // The near miss: the same container with a text body of the same length (multipart/mixed, text + HTML).
    const miss = spamInputFromMime(mimeSection({ text: rendered, html: body, tags: ['has-text', 'has-html'] }), Buffer.from(`Content-Type: ${mixed['content-type']}\r\n\r\n`), null, null);
    assert.ok(!names(miss).includes('MIME_HTML_ONLY'), names(miss).join(' '));
    assert.ok(tokenize(miss).includes('mime:alt-ratio:similar'));
  });

  it('no reverse-DNS symbol when the ingress does not look names up (SPAM_CLIENT_RDNS=false)', () => {
    const input = spamInput({ envelope: env(null, 'mail.corp.test'), received: submitted });
    assert.ok(names(input).includes('RDNS_NONE'));
    assert.ok(!names(input, { ...DEFAULT_LIMITS, clientRdns: false }).includes('RDNS_NONE'));
  });

  it('RDNS_NOT_FCRDNS: only on a name the ingress found not to resolve back; not when unchecked (null), without a name, or without the lookup', () => {
    assert.ok(!names(spamInput({ envelope: env('mail.corp.test', 'mail.corp.test', null), received: submitted })).includes('RDNS_NOT_FCRDNS'));
    assert.deepEqual(names(spamInput({ envelope: env(null, 'mail.corp.test', false), received: submitted })).filter((s) => s.startsWith('RDNS')), ['RDNS_NONE']);
    assert.ok(!names(spamInput({ envelope: env('mail.corp.test', 'mail.corp.test', false), received: submitted }), { ...DEFAULT_LIMITS, clientRdns: false }).includes('RDNS_NOT_FCRDNS'));
    assert.deepEqual(evidenceSymbols(tokenize(spamInput({ envelope: env('mail.corp.test', 'mail.corp.test', false), received: submitted }))).find((s) => s.symbol === 'RDNS_NOT_FCRDNS'), { symbol: 'RDNS_NOT_FCRDNS', score: null, options: ['relay:rdns:unconfirmed'] });
  });

  it('every declared name fires on one of these inputs (verdicts and evidence), and nothing undeclared does', () => {
    assert.equal(spamService.symbols, SPAM_SYMBOLS, 'the definition declares symbol-names.ts');
    const verdicts = (['ham', 'unsure', 'spam'] as const).flatMap((verdict) => spamSymbols({ verdict, probability: 0.5 }, []).map((s) => s.symbol));
    const evidence = CASES.flatMap(([, hit, miss]) => [...names(hit), ...names(miss)]);
    assertEveryDeclaredSymbolFires(SPAM_SYMBOLS, [...verdicts, ...evidence]);
  });

  it('the verdict symbol comes first, with the probability as score', () => {
    const s = spamSymbols({ verdict: 'unsure', probability: 0.8123 }, ['relay:rdns:none', 'to:is-from']);
    assert.deepEqual(s, [
      { symbol: 'BAYES_UNSURE', score: 0.8123, options: ['0.812'] },
      { symbol: 'RDNS_NONE', score: null, options: ['relay:rdns:none'] },
      { symbol: 'TO_EQ_FROM', score: null, options: ['to:is-from'] },
    ]);
    for (const x of s) assert.ok(spamService.symbols && Object.hasOwn(spamService.symbols, x.symbol), x.symbol);
  });

  it("the stage's process() returns them next to its section", async () => {
    const model = train([
      { tokens: tokenize(spamInput({ subject: 'agenda for the meeting', text: 'minutes of the meeting attached' })), label: 'ham' },
      { tokens: tokenize(spamInput({ subject: 'WIN CASH NOW', text: 'claim your prize now, click here' })), label: 'spam' },
    ]);
    const tokenizer = boundedTokenizer({ limits: DEFAULT_LIMITS, inlineMaxChars: 100_000, threads: 1, timeoutMs: 30_000 });
    try {
      const state = await spamStateFor(model, tokenizer);
      // The client our ingress saw had a reverse name that does not resolve back to it and sent straight to us; the HTML has no text part.
      const record = withMime(testMailRecord('Subject: x\r\n\r\nx', { clientIp: '81.2.69.20', clientHostname: 'mail.corp.test', clientHostnameConfirmed: false, helo: '[81.2.69.20]' }), mimeSection({ subject: 'WIN CASH NOW', text: null, html: '<p>claim your prize now, <a href="https://bit.ly/x">click here</a></p>', urls: ['https://bit.ly/x'] }));
      const out = await spamService.stage.process(record, { log: loggerFor('spam-test'), recordId: 'r', state, signal: new AbortController().signal, source: { topic: 't', partition: 0, offset: '0', headers: {} }, emit: () => undefined } as never);
      const symbols = out!.symbols!.map((s) => s.symbol);
      assert.equal(symbols[0], `BAYES_${out!.section.verdict.toUpperCase()}`);
      for (const s of ['RDNS_NOT_FCRDNS', 'HELO_IP_LITERAL', 'RCVD_DIRECT_TO_MX', 'URL_SHORTENER']) assert.ok(symbols.includes(s), `${s} missing: ${symbols.join(' ')}`);
      const counted = (await state.metrics.evidence.get()).values.filter((v) => v.value > 0).map((v) => `${v.labels.symbol}/${v.labels.verdict}`).sort();
      assert.deepEqual(counted, symbols.slice(1).map((s) => `${s}/${out!.section.verdict}`).sort(), 'scop_spam_evidence_total counts each, by verdict');
    } finally {
      await tokenizer.close();
    }
  });
});
