/**
 * The decision's own symbols (the policy's allow and block lists, lists.ts) against its declarations
 * (symbol-names.ts, on its definition): every name listSymbols() emits is declared and every declared
 * name is emitted by one of these records (runtime/symbols-testing.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyDocument } from '../../runtime/policy-file.ts';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import { assertEveryDeclaredSymbolFires } from '../../runtime/symbols-testing.ts';
import type { Envelope, MailRecord } from '../../schemas/types.ts';
import { listSymbols } from './lists.ts';
import { buildPolicy } from './policy.ts';
import { decisionService } from './service.ts';
import { POLICY_SYMBOL_CATALOG } from './policy-catalog.test-fixture.ts';
import { DECISION_SYMBOLS } from './symbol-names.ts';

const policy = buildPolicy(PolicyDocument.parse([
  'allow:', '  senders: [partner.test]', '  ips: [198.51.100.0/24]', '  recipients: [postmaster@example.net]',
  'block:', '  senders: [spammer.test]', '  ips: [203.0.113.0/24]', '  recipients: [abuse@example.net]', '',
].join('\n'), 'policy.yaml'), POLICY_SYMBOL_CATALOG);

/** A record from `from` (DMARC `dmarc` for its domain) with the given envelope. */
function record(from: string, dmarc: string, envelope: Partial<Envelope>): MailRecord {
  const r = testMailRecord(`From: ${from}\r\n\r\nhi\r\n`, envelope);
  return { ...r, mime: { headers: { from: [{ name: '', address: from, group: null }] } }, auth: { dmarc: { result: dmarc, disposition: 'none', fromDomain: from.split('@')[1] } } } as unknown as MailRecord;
}

const RECORDS = [
  record('news@partner.test', 'pass', { clientIp: '198.51.100.7', rcptTo: ['postmaster@example.net'] }),
  record('news@partner.test', 'fail', {}),
  record('x@spammer.test', 'none', { mailFrom: 'x@spammer.test', clientIp: '203.0.113.5', rcptTo: ['abuse@example.net'] }),
];

test('every allow/block-list symbol is declared on the stage definition, and every declared one fires', () => {
  assert.equal(decisionService.symbols, DECISION_SYMBOLS, 'the definition declares symbol-names.ts');
  assert.deepEqual(listSymbols(record('a@example.com', 'pass', {}), policy).symbols, [], 'an unlisted message emits none');
  assertEveryDeclaredSymbolFires(DECISION_SYMBOLS, RECORDS.flatMap((r) => listSymbols(r, policy).symbols.map((s) => s.symbol)));
});
