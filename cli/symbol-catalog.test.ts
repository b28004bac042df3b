/**
 * The symbol catalogue (cli/services.ts SYMBOL_CATALOG, derived from the topology's stage definitions,
 * each declaring its names in its own folder) against what the stages really emit: every name the
 * auth, MIME, spam, firewall and decision stages can produce for the results they know is declared,
 * by the stage that emits it, so the policy never refuses a name a stage emits. Here because only
 * cli/ may import every stage.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { authSymbols } from '../processors/auth/symbols.ts';
import { firewallSymbols } from '../processors/firewall/symbols.ts';
import { FLAGS } from '../processors/mime/attachments.ts';
import { mimeSymbols } from '../processors/mime/symbols.ts';
import { EVIDENCE, spamSymbols } from '../processors/spam/symbols.ts';
import { SymbolCatalog, symbolOf } from '../runtime/symbols.ts';
import type { AuthSection, FirewallSection, MimeSection } from '../schemas/types.ts';
import { SYMBOL_CATALOG } from './services.ts';

const unknown = (names: Iterable<string>) => [...new Set(names)].filter((n) => !SYMBOL_CATALOG.has(n));

test('every symbol the stages emit for the results they know is in the catalogue, with its stage', () => {
  const emitted: { symbol: string; stage: string }[] = [];
  const spf = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'];
  const dkim = ['pass', 'fail', 'neutral', 'temperror', 'permerror', 'policy', 'none'];
  const dmarc: [string, string][] = [['pass', 'none'], ['none', 'none'], ['temperror', 'none'], ['permerror', 'none'], ['fail', 'none'], ['fail', 'quarantine'], ['fail', 'reject']];
  const arc = ['pass', 'fail', 'none', 'temperror'];
  for (let i = 0; i < 7; i++) {
    const a = {
      spf: { result: spf[i], domain: 'x.test' }, heloSpf: { result: spf[(i + 3) % 7], domain: 'helo.test' },
      dkim: i === 0 ? [] : [{ result: dkim[i - 1], domain: 'x.test' }, { result: dkim[i % 7], domain: 'y.test' }],
      dmarc: { result: dmarc[i]![0], disposition: dmarc[i]![1], fromDomain: 'x.test', sampledOut: false }, arc: { result: arc[i % 4] },
    } as unknown as AuthSection;
    emitted.push(...authSymbols(a).map((s) => ({ symbol: s.symbol, stage: 'auth' })));
  }
  const mime = {
    attachments: FLAGS.map((f) => ({ filename: `a.${f}`, flags: [f], virus: f === 'virus' ? 'Eicar' : null })), tags: ['virus', 'parse-failed', 'limits-exceeded'], scan: { result: 'error', detail: 'clamd down' },
  } as unknown as MimeSection;
  emitted.push(...mimeSymbols(mime).map((s) => ({ symbol: s.symbol, stage: 'mime' })));
  for (const verdict of ['ham', 'unsure', 'spam']) emitted.push(...spamSymbols({ verdict, probability: 0.5 }, EVIDENCE.flatMap((e) => e.tokens)).map((s) => ({ symbol: s.symbol, stage: 'spam' })));
  const fw = { clientPrefix: '192.0.2.0/24', prefixScore: 3, prefixBlocked: true, senderDomain: 'x.test', domainScore: 5 } as unknown as FirewallSection;
  emitted.push(...firewallSymbols(fw).map((s) => ({ symbol: s.symbol, stage: 'firewall' })));
  // The decision's list symbols are literals in lists.ts.
  const lists = readFileSync(new URL('../processors/decision/lists.ts', import.meta.url), 'utf8').match(/'(?:ALLOW|BLOCK)LIST_[A-Z_]+'/g)!.map((s) => s.slice(1, -1));
  assert.ok(lists.length >= 7, lists.join(' '));
  emitted.push(...lists.map((symbol) => ({ symbol, stage: 'decision' })));

  assert.deepEqual(unknown(emitted.map((e) => e.symbol)), [], 'emitted but declared by no stage (processors/<stage>/symbol-names.ts)');
  for (const e of emitted) assert.equal(SYMBOL_CATALOG.get(e.symbol)?.stage, e.stage, e.symbol);
  // The names counted here cover the catalogue: nothing declared that no stage emits.
  const seen = new Set(emitted.map((e) => e.symbol));
  assert.deepEqual(SYMBOL_CATALOG.entries().map(([n]) => n).filter((n) => !seen.has(n)), []);
});

test('the catalogue refuses a name two stages declare, and a name declared for another stage', () => {
  assert.throws(() => new SymbolCatalog([['auth', { X_ONE: symbolOf('auth')('a') }], ['spam', { X_ONE: symbolOf('spam')('b') }]]), /X_ONE: declared by both the auth and the spam stage/);
  assert.throws(() => new SymbolCatalog([['spam', { X_ONE: symbolOf('auth')('a') }]]), /X_ONE: declared by the spam stage for the auth stage/);
  const c = new SymbolCatalog([['spam', { BAYES_SPAM: symbolOf('spam')('a') }], ['ingress', undefined]]);
  assert.equal(c.nearest('BAYES_SAPM'), 'BAYES_SPAM');
  assert.equal(c.nearest('SOMETHING_ELSE'), null);
});
