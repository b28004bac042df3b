/**
 * The decision: the generic scorer over symbols and the policy (weights, min_score, groups,
 * thresholds, forced actions, allow/block lists, recipient domains), records without symbols
 * (derived from their sections), the deprecated DECISION_* variables, policy-file errors with line
 * and key, and the stage on the real broker — with a policy file changed while it runs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../runtime/config.ts';
import { PolicyDocument } from '../../runtime/policy-file.ts';
import { createStageTopics, produce, readTopic, testBroker, testMailRecord } from '../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../runtime/testing.ts';
import { topicConfig, type TopicSpec } from '../../runtime/topics.ts';
import type { MailRecord, MailSymbol } from '../../schemas/types.ts';
import { loadDecisionConfig } from './config.ts';
import { decide } from './decide.ts';
import { explain, explainText } from './explain.ts';
import { buildPolicy } from './policy.ts';
import { decisionService } from './service.ts';
import { POLICY_SYMBOL_CATALOG as SYMBOL_CATALOG } from './policy-catalog.test-fixture.ts';
import { SymbolCatalog, symbolOf } from '../../runtime/symbols.ts';

const builtIn = buildPolicy(null, SYMBOL_CATALOG);
const policyOf = (yaml: string) => buildPolicy(PolicyDocument.parse(yaml, 'policy.yaml'), SYMBOL_CATALOG);
const base = (rcpt = 'rcpt@example.net') => testMailRecord('From: a@example.com\r\n\r\nhi\r\n', { rcptTo: [rcpt] });
const sym = (stage: MailSymbol['stage'], symbol: string, score: number | null = null, ...options: string[]): MailSymbol => ({ symbol, stage, score, options });
const withSymbols = (...symbols: MailSymbol[]): MailRecord => ({ ...base(), symbols });

// Records written before symbols: sections only (the decision derives the symbols).
const withDmarc = (r: MailRecord, disposition: string, result = disposition === 'none' ? 'pass' : 'fail') => ({ ...r, auth: { dmarc: { result, disposition, fromDomain: 'example.com' } } as never });
const withSpam = (r: MailRecord, verdict: string, probability: number) => ({ ...r, spam: { score: probability * 20, probability, verdict, modelVersion: 'm1', topTokens: [] } }) as unknown as MailRecord;
const withAttachment = (r: MailRecord, filename: string, flags: string[], virus: string | null = null) => ({ ...r, mime: { tags: ['has-attachments'], attachments: [{ filename, flags, virus }], headers: { from: [] } } as never });
const withReputation = (r: MailRecord, prefixScore: number, prefixBlocked = false) => ({ ...r, firewall: { clientPrefix: '192.0.2.0/24', prefixScore, prefixMessages: 3, prefixBlocked, senderDomain: null, domainScore: null, checkedAt: 0, stageVersion: 't' } });
const action = (r: MailRecord, p = builtIn) => decide(r, p).section.action;

test('built-in policy on records without symbols: each former rule gives the action it gave, the most severe wins', () => {
  assert.equal(action(base()), 'deliver');
  assert.deepEqual(decide(base(), builtIn).section.reasons, []);
  assert.equal(action(withDmarc(base(), 'reject')), 'reject');
  assert.equal(action(withDmarc(base(), 'quarantine')), 'junk');
  assert.equal(action(withSpam(base(), 'ham', 0.01)), 'deliver');
  assert.equal(action(withSpam(base(), 'unsure', 0.5)), 'junk');
  assert.equal(action(withSpam(base(), 'spam', 0.99)), 'quarantine');
  assert.equal(action(withSpam(base(), 'spam', 1)), 'quarantine', 'reject by probability is off by default');
  assert.equal(action(withAttachment(base(), 'invoice.pdf.exe', ['executable', 'double-extension'])), 'quarantine');
  assert.equal(action(withAttachment(base(), 'report.pdf', ['type-mismatch'])), 'deliver');
  assert.equal(action(withAttachment(base(), 'x.zip', ['archive', 'virus'], 'Eicar-Signature')), 'reject');
  assert.equal(action(withReputation(base(), 4)), 'junk');
  assert.equal(action(withReputation(base(), 9)), 'quarantine');
  assert.equal(action(withReputation(base(), 0, true)), 'quarantine');
  // Three junk findings together still junk (18 < 20), as before.
  assert.equal(action(withReputation(withSpam(withDmarc(base(), 'quarantine'), 'unsure', 0.5), 4)), 'junk');
  const both = decide(withSpam(withAttachment(base(), 'a.js', ['script']), 'unsure', 0.3), builtIn).section;
  assert.equal(both.action, 'quarantine');
  assert.deepEqual(both.reasons, ['quarantine: score 26 >= 20 (quarantine)', 'BAYES_UNSURE{0.300} +6', 'MIME_SCRIPT{a.js} +20']);
  assert.equal(both.spamScore, 6);
  assert.ok(both.weighed.every((w) => w.derived), 'derived from the sections, marked so');
  assert.equal(both.policyVersion, builtIn.version);
});

test('symbols from the stages: weights, min_score, group caps, thresholds; the reasons name each symbol', () => {
  const d = decide(withSymbols(sym('spam', 'BAYES_UNSURE', 0.6, '0.600'), sym('firewall', 'REPUTATION_BAD_NET', 4, '192.0.2.0/24'), sym('firewall', 'REPUTATION_BAD_DOMAIN', 7, 'x.test'), sym('auth', 'SPF_FAIL', null, 'x.test')), builtIn).section;
  assert.equal(d.action, 'junk');
  assert.equal(d.score, 12, 'reputation is capped at 6 for both');
  assert.deepEqual(d.weighed.map((w) => [w.symbol, w.weight, w.group]), [['BAYES_UNSURE', 6, 'bayes'], ['REPUTATION_BAD_NET', 6, 'reputation'], ['REPUTATION_BAD_DOMAIN', 0, 'reputation'], ['SPF_FAIL', 0, 'auth']]);
  assert.deepEqual(d.thresholds, [{ action: 'junk', score: 6 }, { action: 'quarantine', score: 20 }]);
  assert.equal(d.forcedBy, null);
  assert.equal(d.reasons[0], 'junk: score 12 >= 6 (junk)');
  assert.equal(action(withSymbols(sym('firewall', 'REPUTATION_BAD_NET', 2.9))), 'deliver', 'below min_score: no weight');
  assert.equal(action(withSymbols(sym('firewall', 'REPUTATION_BAD_NET', 8))), 'quarantine', 'the bad-net rule forces from 8');
  assert.equal(decide(withSymbols(sym('firewall', 'REPUTATION_BAD_NET', 8)), builtIn).section.forcedBy, 'bad-net');
  assert.equal(action(withSymbols(sym('spam', 'UNKNOWN_NEW_CHECK'))), 'deliver', 'a symbol without a weight weighs 0');
  // Symbols present: nothing is derived from the sections as well.
  const r = { ...withSpam(base(), 'spam', 0.99), symbols: [sym('spam', 'BAYES_HAM', 0.01)] };
  assert.equal(action(r), 'deliver');
});

test('a policy file changes weights, thresholds and forced actions; add_header; a rule can be switched off', () => {
  const p = policyOf('actions: { add_header: 3 }\nsymbols:\n  SPF_FAIL: { weight: 4 }\n  BAYES_SPAM: { weight: 6 }\nforce:\n  - { name: dmarc-reject, action: quarantine }\n');
  assert.equal(action(withSymbols(sym('auth', 'SPF_FAIL')), p), 'add_header');
  assert.equal(action(withSymbols(sym('spam', 'BAYES_SPAM', 0.99)), p), 'junk', 'BAYES_SPAM weighs 6 now: junk, not quarantine');
  assert.equal(decide(withSymbols(sym('spam', 'BAYES_SPAM', 0.99)), p).section.weighed[0]!.group, 'bayes', 'its group is kept from the default');
  assert.equal(action(withSymbols(sym('auth', 'DMARC_POLICY_REJECT', null, 'bank.test')), p), 'quarantine', 'the forced rule changed to quarantine');
  const off = policyOf('force:\n  - { name: dmarc-reject, enabled: false }\n');
  assert.equal(action(withSymbols(sym('auth', 'DMARC_POLICY_REJECT')), off), 'quarantine', 'no rule: its weight (20) quarantines');
  const spamReject = policyOf('force:\n  - { name: sure-spam, symbol: [BAYES_SPAM, BAYES_UNSURE], min_score: 0.999, action: reject }\n');
  assert.equal(action(withSymbols(sym('spam', 'BAYES_SPAM', 0.9995)), spamReject), 'reject');
  assert.equal(action(withSymbols(sym('spam', 'BAYES_SPAM', 0.99)), spamReject), 'quarantine');
  assert.notEqual(p.version, builtIn.version);
  const noDefaults = policyOf('use_defaults: false\nactions: { junk: 1 }\nsymbols: { SPF_FAIL: { weight: 1 } }\n');
  assert.equal(action(withSymbols(sym('spam', 'BAYES_SPAM', 0.99), sym('auth', 'SPF_FAIL')), noDefaults), 'junk', 'only what the file says');
});

test('allow lists: sender only with a DMARC pass, IP/CIDR, every recipient; over_allow rules and block lists still apply', () => {
  const p = policyOf('allow:\n  senders: [partner.test, boss@corp.test]\n  ips: [198.51.100.0/24]\n  recipients: [postmaster@example.net]\nblock:\n  senders: [spammer.test]\n  ips: ["2001:db8::/32"]\n  action: quarantine\n');
  const spam = sym('spam', 'BAYES_SPAM', 0.99);
  const from = (r: MailRecord, address: string, dmarc: string) => ({ ...r, auth: { dmarc: { result: dmarc, disposition: 'none', fromDomain: address.split('@')[1] } }, mime: { headers: { from: [{ name: '', address, group: null }] }, attachments: [], tags: [] } }) as unknown as MailRecord;
  const allowed = decide(from(withSymbols(spam), 'news@partner.test', 'pass'), p);
  assert.equal(allowed.section.action, 'deliver');
  assert.equal(allowed.section.forcedBy, 'allowlist');
  assert.deepEqual(allowed.symbols, [{ symbol: 'ALLOWLIST_SENDER', score: null, options: ['news@partner.test'] }]);
  assert.match(allowed.section.reasons[0]!, /^deliver: allow-listed \(ALLOWLIST_SENDER\{news@partner\.test\}\)/);
  const forged = decide(from(withSymbols(spam), 'news@partner.test', 'fail'), p);
  assert.equal(forged.section.action, 'quarantine', 'a From without DMARC pass is not honoured');
  assert.equal(forged.symbols[0]!.symbol, 'ALLOWLIST_SENDER_UNVERIFIED');
  assert.equal(action(from(withSymbols(spam), 'boss@corp.test', 'pass'), p), 'deliver');
  assert.equal(action(from(withSymbols(spam), 'other@corp.test', 'pass'), p), 'quarantine', 'an address entry allows that address only');
  const viaIp = { ...withSymbols(spam), envelope: { ...base().envelope, clientIp: '198.51.100.7' } };
  assert.equal(action(viaIp, p), 'deliver');
  assert.equal(action({ ...viaIp, symbols: [sym('mime', 'MIME_VIRUS', null, 'Eicar')] }, p), 'reject', 'the virus rule is over_allow');
  const toPostmaster = { ...withSymbols(spam), envelope: { ...base().envelope, rcptTo: ['Postmaster@example.net'] } };
  assert.equal(action(toPostmaster, p), 'deliver');
  assert.equal(action({ ...toPostmaster, envelope: { ...toPostmaster.envelope, rcptTo: ['postmaster@example.net', 'bob@example.net'] } }, p), 'quarantine', 'not when another recipient rides along');
  const blocked = decide({ ...withSymbols(), envelope: { ...base().envelope, mailFrom: 'x@spammer.test' } }, p).section;
  assert.deepEqual([blocked.action, blocked.forcedBy], ['quarantine', 'blocklist']);
  assert.equal(action({ ...viaIp, envelope: { ...viaIp.envelope, clientIp: '2001:db8::5', mailFrom: 'a@spammer.test' } }, p), 'quarantine');
  assert.equal(action(from({ ...withSymbols(), envelope: { ...base().envelope, mailFrom: 'x@spammer.test' } }, 'news@partner.test', 'pass'), p), 'quarantine', 'block beats allow');
  assert.equal(action({ ...withSymbols(), envelope: { ...base().envelope, clientIp: '::ffff:198.51.100.9' } }, p), 'deliver', 'IPv4-mapped addresses match IPv4 entries');
});

test('recipient domains with their own policy: weighed per domain, the most severe wins, the deciding domain named', () => {
  const p = policyOf('domains:\n  strict.test:\n    actions: { junk: 2 }\n    symbols: { SPF_SOFTFAIL: { weight: 2 } }\n  lax.test:\n    symbols: { BAYES_SPAM: { weight: 0 } }\n');
  const soft = (...rcpt: string[]) => ({ ...withSymbols(sym('auth', 'SPF_SOFTFAIL'), sym('spam', 'BAYES_SPAM', 0.99)), envelope: { ...base().envelope, rcptTo: rcpt } });
  assert.equal(action(soft('a@lax.test'), p), 'deliver');
  const strict = decide(soft('a@strict.test'), p).section;
  assert.deepEqual([strict.action, strict.policyDomain], ['quarantine', 'strict.test']);
  assert.deepEqual(strict.thresholds[0], { action: 'junk', score: 2 });
  assert.equal(action(soft('a@lax.test', 'b@other.test'), p), 'quarantine', 'the base policy for other.test');
  assert.equal(action({ ...withSymbols(sym('auth', 'SPF_SOFTFAIL')), envelope: { ...base().envelope, rcptTo: ['a@lax.test', 'b@STRICT.test'] } }, p), 'junk');
});

test('policy file errors name the line and the key, and say what is expected', () => {
  const err = (yaml: string) => {
    try { policyOf(yaml); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return e.message; }
    assert.fail('no error');
  };
  assert.match(err('actions:\n  junk: 5\nsymbols:\n  BAYES_SPAM:\n    weight: high\n'), /^config error: policy\.yaml line 5: symbols\.BAYES_SPAM\.weight: Expected number, received string/);
  assert.match(err('symbols:\n  bayes_spam: { weight: 1 }\n'), /policy\.yaml line 2: symbols\.bayes_spam: a symbol name is upper-case/);
  assert.match(err('sybmols:\n  X: 1\n'), /policy\.yaml line 1: sybmols: unknown key "sybmols" — use one of/);
  assert.match(err('symbols:\n  SPF_FAIL: { wieght: 1 }\n'), /line 2: symbols\.SPF_FAIL\.wieght: Unrecognized key/);
  assert.match(err('symbols:\n  SPF_FAIL: { weight: 1, group: nosuch }\n'), /line 2: symbols\.SPF_FAIL\.group: no group "nosuch"/);
  assert.match(err('actions:\n  junk: 30\n'), /line 2: actions\.junk: junk \(30\) must be below quarantine \(20\)/, 'the key the file set, not the default it collides with');
  assert.match(err('actions:\n  junk: 3\n  quarantine: 2\n'), /line 3: actions\.quarantine: quarantine \(2\) must be above junk \(3\)/);
  assert.match(err('force:\n  - { name: new-rule, symbol: SPF_FAIL }\n'), /line 2: force\[0\]: rule "new-rule" needs action/);
  assert.match(err('allow:\n  ips: [10.0.0.0/8, not-an-ip]\n'), /line 2: allow\.ips\[1\]: "not-an-ip" is not an IP address/);
  assert.match(err('block:\n  senders:\n    - "@"\n'), /line 3: block\.senders\[0\]/);
  assert.match(err('actions: {junk: 5\n'), /^config error: policy\.yaml line \d+: /, 'YAML syntax');
  assert.match(err('symbols:\n  A: { weight: 1 }\n  A: { weight: 2 }\n'), /line 3: Map keys must be unique/);
  assert.match(err('domains:\n  Example.NET: {}\n'), /line 2: domains\.Example\.NET: a domain in lower case/);
});

test('a symbol no stage emits, or a weight out of range, is refused with its key; custom: true declares one of your own', () => {
  const err = (yaml: string) => {
    try { policyOf(yaml); } catch (e) { assert.ok(e instanceof ConfigError, String(e)); return e.message; }
    assert.fail('no error');
  };
  assert.match(err('symbols:\n  RDNS_NONEE: { weight: 1 }\n'), /^config error: policy\.yaml line 2: symbols\.RDNS_NONEE: unknown symbol "RDNS_NONEE" \(did you mean RDNS_NONE\?\): no stage emits it/);
  assert.match(err('symbols:\n  URIBL_DBL: { weight: 8 }\n'), /line 2: symbols\.URIBL_DBL: unknown symbol "URIBL_DBL": [^]*custom: true/, 'nothing near: no suggestion, but how to declare it');
  assert.match(err('domains:\n  strict.test:\n    symbols: { HELO_BAER: { weight: 2 } }\n'), /line 3: domains\.strict\.test\.symbols\.HELO_BAER: unknown symbol "HELO_BAER" \(did you mean HELO_BARE\?\)/);
  assert.match(err('force:\n  - { name: r, symbol: [BAYES_SPAM, BAYES_SAPM], action: reject }\n'), /line 2: force\[0\]\.symbol\[1\]: unknown symbol "BAYES_SAPM" \(did you mean BAYES_SPAM\?\)/);
  assert.match(err('symbols:\n  RDNS_NONE: { weight: 5000 }\n'), /line 2: symbols\.RDNS_NONE\.weight: a weight is a number from -1000 to 1000/);
  assert.match(err('symbols:\n  RDNS_NONE: { weight: -1001 }\n'), /symbols\.RDNS_NONE\.weight: a weight is a number from -1000 to 1000/);
  assert.match(err('symbols:\n  RDNS_NONE: { weight: .nan }\n'), /symbols\.RDNS_NONE\.weight: Expected number, received nan/);
  assert.match(err('symbols:\n  RDNS_NONE: { weight: .inf }\n'), /symbols\.RDNS_NONE\.weight: /);
  // A DNS list's own symbol, declared: weighed, usable in a forced rule and in a domain's override.
  const own = policyOf('symbols:\n  URIBL_DBL: { weight: 8, custom: true }\nforce:\n  - { name: dbl, symbol: URIBL_DBL, action: quarantine }\ndomains:\n  strict.test:\n    symbols: { URIBL_DBL: { weight: 9 } }\n');
  assert.equal(own.symbols.get('URIBL_DBL')!.weight, 8);
  assert.equal(own.domains.get('strict.test')!.symbols.get('URIBL_DBL')!.weight, 9);
  assert.equal(action(withSymbols(sym('auth', 'URIBL_DBL', null, 'evil.test=127.0.1.2')), own), 'quarantine');
  assert.match(err('force:\n  - { name: dbl, symbol: URIBL_DBL, action: quarantine }\n'), /force\[0\]\.symbol: unknown symbol "URIBL_DBL"/, 'a forced rule on an undeclared name');
});

test('the policy knows the names the catalogue it is handed declares: a new check declares its name in its own folder, nothing else', () => {
  const doc = PolicyDocument.parse('symbols:\n  RDNS_NEW_CHECK: { weight: 2 }\n', 'policy.yaml');
  assert.throws(() => buildPolicy(doc, SYMBOL_CATALOG), /unknown symbol "RDNS_NEW_CHECK"/);
  // As if the spam stage's symbol-names.ts declared it: the composition derives the catalogue from the definitions.
  const withNew = new SymbolCatalog([...SYMBOL_CATALOG.entries().map(([n, i]) => [i.stage, { [n]: i }] as const), ['spam', { RDNS_NEW_CHECK: symbolOf('spam')('a new check') }]]);
  assert.equal(buildPolicy(doc, withNew).symbols.get('RDNS_NEW_CHECK')?.weight, 2);
  // Composed without a catalogue, the stage does not compile (SymbolsContext): cli/service-context.test.ts.
});

test("the spam stage's evidence symbols: weighed by the built-in policy in a group capped below junk; a policy that trusts them more changes the total and the action", () => {
  const ham = sym('spam', 'BAYES_HAM', 0.1, '0.100');
  const d = decide(withSymbols(ham, sym('spam', 'RDNS_NONE'), sym('spam', 'HELO_IP_LITERAL'), sym('spam', 'MIME_HTML_ONLY'), sym('spam', 'URL_ANCHOR_MISMATCH')), builtIn).section;
  assert.deepEqual(d.weighed.map((w) => [w.symbol, w.weight, w.group]), [['BAYES_HAM', 0, 'bayes'], ['RDNS_NONE', 1, 'evidence'], ['HELO_IP_LITERAL', 1.5, 'evidence'], ['MIME_HTML_ONLY', 1, 'evidence'], ['URL_ANCHOR_MISMATCH', 0, 'evidence']]);
  assert.equal(d.score, 3.5);
  assert.equal(d.action, 'deliver');
  assert.ok(d.reasons.includes('RDNS_NONE +1') && d.reasons.includes('HELO_IP_LITERAL +1.5'), d.reasons.join('; '));
  // Every evidence symbol at once: the group adds at most 5 (never junk alone); with an unsure verdict it stays junk.
  // (That each one the spam stage can emit has its entry in this group is cli/symbol-catalog.test.ts's check: it needs the spam stage's declarations.)
  assert.equal(builtIn.symbols.get('RDNS_NOT_FCRDNS')?.weight, 0.5);
  const every = [...builtIn.symbols].filter(([, s]) => s.group === 'evidence').map(([n]) => sym('spam', n));
  assert.ok(every.length >= 10, `${every.length} evidence symbols`);
  const all = decide(withSymbols(ham, ...every), builtIn).section;
  assert.deepEqual([all.score, all.action], [5, 'deliver']);
  const unsure = decide(withSymbols(sym('spam', 'BAYES_UNSURE', 0.85, '0.850'), ...every), builtIn).section;
  assert.deepEqual([unsure.score, unsure.action], [11, 'junk']);
  // An operator who trusts them more: a header from 3, a higher cap, a heavier weight.
  const trusting = policyOf('actions: { add_header: 3 }\ngroups: { evidence: { max: 8 } }\nsymbols:\n  RDNS_NONE: { weight: 4 }\n');
  const t = decide(withSymbols(ham, sym('spam', 'RDNS_NONE'), sym('spam', 'HELO_IP_LITERAL'), sym('spam', 'MIME_HTML_ONLY')), trusting).section;
  assert.deepEqual([t.score, t.action], [6.5, 'junk']);
  assert.deepEqual([decide(withSymbols(ham, sym('spam', 'RDNS_NONE')), trusting).section.action, decide(withSymbols(ham, sym('spam', 'RDNS_NONE')), builtIn).section.action], ['add_header', 'deliver']);
  // explain shows them with weight, stage, options and group.
  const r = withSymbols(ham, sym('spam', 'RDNS_NONE', null, 'relay:rdns:none'));
  const text = explainText(explain({ ...r, decision: decide(r, builtIn).section })!);
  assert.match(text, /^ +\+1\.00 +RDNS_NONE +spam +\{relay:rdns:none\} +group=evidence$/m);
  assert.match(text, /^score: +1\.00 /m);
});

test('the deprecated DECISION_* variables still change the built-in policy; a bad value names the variable', () => {
  const strict = buildPolicy(null, SYMBOL_CATALOG, loadDecisionConfig({ DECISION_SPAM_ACTION: 'junk', DECISION_SPAM_REJECT_PROBABILITY: '0.999', DECISION_DMARC_REJECT_ACTION: 'quarantine' }).legacy);
  assert.equal(action(withSpam(base(), 'spam', 0.99), strict), 'junk');
  assert.equal(action(withSpam(base(), 'spam', 0.9995), strict), 'reject');
  assert.equal(action(withDmarc(base(), 'reject'), strict), 'quarantine');
  const attachments = buildPolicy(null, SYMBOL_CATALOG, loadDecisionConfig({ DECISION_DANGEROUS_ATTACHMENT_ACTION: 'junk', DECISION_VIRUS_ACTION: 'quarantine', DECISION_REPUTATION_QUARANTINE: 'off', DECISION_REPUTATION_JUNK: '1' }).legacy);
  assert.equal(action(withAttachment(base(), 'a.exe', ['executable']), attachments), 'junk');
  assert.equal(action(withAttachment(base(), 'a.zip', ['virus'], 'Eicar'), attachments), 'quarantine');
  assert.equal(action(withReputation(base(), 9), attachments), 'junk');
  assert.equal(action(withReputation(base(), 1.5), attachments), 'junk');
  assert.throws(() => loadDecisionConfig({ DECISION_SPAM_REJECT_PROBABILITY: 'lots' }), (e: unknown) => e instanceof ConfigError && /DECISION_SPAM_REJECT_PROBABILITY/.test(e.message));
  assert.throws(() => loadDecisionConfig({ DECISION_VIRUS_ACTION: 'drop' }), (e: unknown) => e instanceof ConfigError && /DECISION_VIRUS_ACTION/.test(e.message));
  assert.deepEqual(loadDecisionConfig({}).legacy, {}, 'unset variables change nothing');
});

test('explain: every symbol with weight, stage, options and score, the total, thresholds, forcing rule and policy version; what-if with another policy', () => {
  const r = withSymbols(sym('auth', 'SPF_SOFTFAIL', null, 'x.test'), sym('spam', 'BAYES_SPAM', 0.991, '0.991'), sym('mime', 'MIME_DOUBLE_EXTENSION', null, 'invoice.pdf.exe'));
  const decided = { ...r, decision: decide(r, builtIn).section };
  const text = explainText(explain(decided)!);
  assert.match(text, /^action: +quarantine$/m);
  assert.match(text, /^score: +40\.00 +thresholds: junk 6\.00, quarantine 20\.00$/m);
  assert.match(text, new RegExp(`^policy: +${builtIn.version}$`, 'm'));
  assert.match(text, /^deciding: +quarantine: score 40 >= 20 \(quarantine\)$/m);
  assert.match(text, /^ +\+0\.00 +SPF_SOFTFAIL +auth +\{x\.test\} +group=auth$/m, 'symbols without weight are listed too');
  assert.match(text, /^ +\+20\.00 +BAYES_SPAM +spam +\{0\.991\} +score=0\.991 group=bayes$/m);
  assert.match(text, /^ +\+20\.00 +MIME_DOUBLE_EXTENSION +mime +\{invoice\.pdf\.exe\} +group=attachments$/m);
  const forced = { ...r, decision: decide(withSymbols(sym('auth', 'DMARC_POLICY_REJECT', null, 'bank.test')), builtIn).section };
  assert.match(explainText(explain(forced)!), /^action: +reject +\(forced by dmarc-reject\)$/m);
  // What-if: the same record weighed with a policy where BAYES_SPAM weighs 6.
  const lenient = policyOf('symbols:\n  BAYES_SPAM: { weight: 6 }\n  MIME_DOUBLE_EXTENSION: { weight: 0 }\n');
  const whatIf = explain(decided, lenient)!;
  assert.deepEqual([whatIf.mode, whatIf.decision.action, whatIf.decision.score, whatIf.decision.policyVersion], ['reweighed', 'junk', 6, lenient.version]);
  assert.match(explainText(whatIf), /weighed now with policy\.yaml/);
  // Decided before the policy file: the prose reasons, and how to weigh it now.
  const old = { ...base(), decision: { action: 'reject', reasons: ['reject: dmarc=fail (policy reject for bank.test)'], spamScore: null, reputation: null, decidedAt: 0, stageVersion: '1.0.0', score: null, thresholds: [], forcedBy: null, weighed: [], policyVersion: null, policyDomain: null } } as MailRecord;
  assert.match(explainText(explain(old)!), /decided before the policy file[\s\S]*reason: +reject: dmarc=fail/);
  assert.equal(explain(base()), null, 'no decision, nothing to explain');
  // Message data cannot steer the terminal: the caller's escaper sees every option.
  const hostile = { ...r, symbols: [sym('mime', 'MIME_EXECUTABLE', null, 'a\x1b[2Jb.exe')] };
  assert.ok(!explainText(explain({ ...hostile, decision: decide(hostile, builtIn).section })!, (x) => x.replace(/\x1b/g, '\\x1b')).includes('\x1b'));
});

const { svc, admin } = testBroker('decision-test');

test('stage: decided out for every record, held ones also on the quarantine topic; a changed policy file applies without a restart', { timeout: 120000 }, async () => {
  const t = await createStageTopics(admin, 'decision');
  const quarantine = uniqueName('decision-quarantine');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: quarantine, numPartitions: 3, replicationFactor: 1, configEntries: Object.entries(topicConfig({ cleanup: 'compact' } as TopicSpec)).map(([name, value]) => ({ name, value })) }] });
  const dir = join('.data', 'test', uniqueName('decision-policy'));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'symbols:\n  SPF_FAIL: { weight: 1 }\n');
  const clean = base();
  const old = { ...base(), mime: null, firewall: withReputation(base(), 9).firewall };
  const blocked = { ...base(), firewall: withReputation(base(), 0, true).firewall };
  const spfFail = withSymbols(sym('auth', 'SPF_FAIL', null, 'x.test'));
  await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [clean, old, blocked, spfFail].map((record) => ({ record })));
  const running = await decisionService.run({ ...svc, symbols: SYMBOL_CATALOG, env: { ...svc.env, SCOP_POLICY_FILE: file, DECISION_POLICY_POLL_MS: '100' } }, { ...t, sideOutputs: { quarantine } });
  try {
    const decode = async (m: { value: Buffer }) => svc.codec.decodeAs<MailRecord>(m.value, 'MailRecord');
    const out = await readTopic(svc.kafka, t.output, 4, { settleMs: 500 });
    const decided = new Map((await Promise.all(out.map(decode))).map((r) => [r.envelope.id, r]));
    assert.equal(decided.get(clean.envelope.id)!.decision!.action, 'deliver');
    assert.equal(decided.get(old.envelope.id)!.decision!.action, 'quarantine');
    assert.deepEqual(decided.get(old.envelope.id)!.envelope.raw, old.envelope.raw);
    assert.equal(decided.get(spfFail.envelope.id)!.decision!.action, 'deliver');
    assert.equal(decided.get(spfFail.envelope.id)!.decision!.score, 1);
    assert.deepEqual(decided.get(spfFail.envelope.id)!.symbols.map((s) => ({ ...s })), spfFail.symbols, 'the stages\' symbols pass through');
    const held = await readTopic(svc.kafka, quarantine, 2, { settleMs: 500 });
    assert.deepEqual(held.map((m) => m.key).sort(), [old.envelope.id, blocked.envelope.id].sort());
    assert.match((await decode(held[0]!)).decision!.reasons[0]!, /^quarantine: forced by bad-net \(REPUTATION_BAD_NET\{192\.0\.2\.0\/24\}\)|^quarantine: score 20 >= 20/);

    // An invalid change is refused (the policy in use stays); a valid one applies to the next records.
    writeFileSync(file, 'symbols:\n  SPF_FAIL: { weight: lots }\n');
    await new Promise((r) => setTimeout(r, 600));
    writeFileSync(file, 'symbols:\n  SPF_FAIL: { weight: 25 }\n');
    const version = buildPolicy(PolicyDocument.read(file), SYMBOL_CATALOG).version;
    let again: MailRecord | undefined;
    await eventually(async () => {
      const r = { ...spfFail, envelope: { ...spfFail.envelope, id: uniqueName('replay') } };
      await produce(svc.kafka, svc.codec, t.input, 'MailRecord', [{ record: r }]);
      const all = await Promise.all((await readTopic(svc.kafka, t.output, 1, { settleMs: 300 })).map(decode));
      again = all.find((x) => x.decision?.policyVersion === version);
      return again;
    }, 30000, 'a record decided with the changed policy');
    assert.equal(again!.decision!.action, 'quarantine');
    assert.equal(again!.decision!.score, 25);
  } finally {
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
