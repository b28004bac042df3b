/** `scop spam rollback` options that cannot go together fail before anything is read or written, naming the fix. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatModels, rollbackCommand } from './spam.ts';

const topics = { modelTopic: 'spam.model', historyTopic: 'spam.model.history' };
// No Kafka behind these: a command that got as far as connecting would fail differently (or hang), not with these errors.
const unreachable = { kafka: null as never, codec: null as never };

describe('scop spam rollback: option errors', () => {
  it('--remove without --domain, --remove with --to, and a --domain that is not a domain', async () => {
    await assert.rejects(rollbackCommand({ ...topics, remove: true }, unreachable), /--remove: removes a domain's model only .*--domain <name> --remove/);
    await assert.rejects(rollbackCommand({ ...topics, domain: 'a.test', remove: true, to: 'bayes-1' }, unreachable), /--to: cannot go with --remove/);
    await assert.rejects(rollbackCommand({ ...topics, domain: '[192.0.2.1]' }, unreachable), /--domain: "\[192\.0\.2\.1\]" is not a domain name/);
    await assert.rejects(rollbackCommand({ ...topics, domain: '' }, unreachable), /--domain: "" is not a domain name/);
  });
});

describe('scop spam models: the text form', () => {
  it('says for each domain whether scorers blend it in, and why not', () => {
    const text = formatModels({
      global: { version: 'bayes-g2', line: 'bayes-g1', trainedAt: Date.UTC(2026, 0, 2), nham: 10, nspam: 20 },
      domains: [
        { domain: 'a.test', version: 'bayes-a', nham: 1, nspam: 30, inUse: true, base: 'bayes-g1', applied: true, previousVersion: 'bayes-a0', lastLabelAt: Date.UTC(2026, 0, 3) },
        { domain: 'b.test', version: 'bayes-b', nham: 0, nspam: 2, inUse: false, base: 'bayes-g1', applied: false, previousVersion: null, lastLabelAt: null },
        { domain: 'c.test', version: 'bayes-c', nham: 0, nspam: 40, inUse: true, base: 'bayes-old', applied: false, previousVersion: null, lastLabelAt: null },
      ],
    });
    assert.deepEqual(text.split('\n'), [
      'global  bayes-g2  line bayes-g1  trained 2026-01-02T00:00:00Z  10 ham / 20 spam',
      'domain  a.test  bayes-a  1 ham / 30 spam  last label 2026-01-03T00:00:00Z  blended in  (previous bayes-a0)',
      'domain  b.test  bayes-b  0 ham / 2 spam  last label -  too few labels',
      'domain  c.test  bayes-c  0 ham / 40 spam  last label -  learnt on line bayes-old: not applied',
    ]);
    assert.equal(formatModels({ global: null, domains: [] }), 'global  (none on the topic)\nno per-recipient-domain models');
  });
});
