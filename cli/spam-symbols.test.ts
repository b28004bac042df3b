/**
 * `scop spam eval --symbols`: hit rates per (corpus, class) from the tokens, and the policy effect —
 * each held-out message decided by decide() without and with its evidence symbols — on hand-made
 * examples (the corpora are not needed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPolicy } from '../processors/decision/policy.ts';
import { PolicyDocument } from '../runtime/policy-file.ts';
import type { HeldOutResult, LocoExample } from './spam-loco.ts';
import { policyEffect, policyEffectTable, symbolHits, symbolHitTable } from './spam-symbols.ts';
import { SYMBOL_CATALOG } from './services.ts';

const ex = (id: string, label: 'ham' | 'spam', tokens: string[], corpus = 'c'): LocoExample => ({ id, corpus, source: corpus, label, tokens });
const examples = [
  ex('h1', 'ham', ['hello', 'relay:rdns:static']),
  ex('h2', 'ham', ['hello', 'relay:rdns:none', 'html:only']),
  ex('s1', 'spam', ['cash', 'relay:rdns:none', 'relay:helo-ip-literal', 'html:only', 'url:shortener']),
  ex('s2', 'spam', ['cash', 'relay:rdns:dynamic']),
];
/** One fold holding out corpus c: h1 ham, h2 unsure, s1 ham (missed), s2 spam. */
const fold = { fold: 'c', test: ['c'], ids: ['h1', 'h2', 's1', 's2'], scores: [0.1, 0.7, 0.2, 0.99], labels: ['ham', 'ham', 'spam', 'spam'], thresholds: { ham: 0.5, spam: 0.9 } } as unknown as HeldOutResult;

test('hit rates: per corpus and class, one row per evidence symbol', () => {
  const rows = symbolHits(examples);
  assert.deepEqual(rows.map((r) => [r.group, r.n]), [['c ham', 2], ['c spam', 2]]);
  assert.equal(rows[0]!.hits.get('RDNS_NONE'), 1);
  assert.equal(rows[1]!.hits.get('RDNS_NONE'), 1);
  assert.equal(rows[1]!.hits.get('RDNS_DYNAMIC'), 1);
  assert.equal(rows[0]!.hits.get('URL_SHORTENER'), undefined);
  const table = symbolHitTable(rows);
  assert.match(table, /^\| `RDNS_NONE` \| 50\.0 % \| 50\.0 % \|$/m);
  assert.match(table, /^\| `URL_SHORTENER` \| 0\.0 % \| 50\.0 % \|$/m);
});

test('policy effect: the built-in weights move totals, not actions; a trusting policy catches the missed spam', () => {
  const [row] = policyEffect([fold], examples, buildPolicy(null, SYMBOL_CATALOG));
  assert.deepEqual([row!.ham, row!.spam, row!.hamJunk, row!.spamJunk, row!.spamQuarantine], [2, 2, [1, 1], [1, 1], [1, 1]]);
  assert.equal(row!.spamAdded, (1 + 1.5 + 1 + 1 + 1.5) / 2, 's1: RDNS_NONE + HELO_IP_LITERAL + MIME_HTML_ONLY + URL_SHORTENER capped at 5; s2: RDNS_DYNAMIC');
  assert.equal(row!.hamAdded, (1 + 1) / 2);
  const trusting = buildPolicy(PolicyDocument.parse('groups: { evidence: { max: 20 } }\nsymbols:\n  URL_SHORTENER: { weight: 3 }\n', 'p.yaml'), SYMBOL_CATALOG);
  const [t] = policyEffect([fold], examples, trusting);
  assert.deepEqual([t!.hamJunk, t!.spamJunk], [[1, 1], [1, 2]], 's1 reaches 6.5: junk; the ham with RDNS_NONE + MIME_HTML_ONLY (2) does not');
  assert.match(policyEffectTable([t!]), /^\| c \(2 \/ 2\) \| 50\.0 % → 50\.0 % \| 50\.0 % → 100\.0 % \|/m);
  assert.throws(() => policyEffect([{ ...fold, ids: ['nope'] } as HeldOutResult], examples, trusting), /held-out message nope of c is not among the examples/);
});
