import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_CORPORA, corpusOrigin, SHARED_CORPORA, sharedCorpus, SPAMASSASSIN_CORPUS } from './shared-corpora.ts';

describe('shared corpora: names and origins', () => {
  it('gives the SpamAssassin corpus its own origin and every shared corpus the one it declares', () => {
    assert.equal(corpusOrigin(SPAMASSASSIN_CORPUS), 'spamassassin');
    for (const c of SHARED_CORPORA) assert.equal(corpusOrigin(c.name), c.origin, c.name);
    // Enron's raw inboxes and Enron-Spam's ham are the same company's mail: they leave a LOCO fold together.
    assert.equal(corpusOrigin('enron-spam'), corpusOrigin('enron'));
  });

  it('rejects an unknown corpus, naming every known one', () => {
    assert.deepEqual(ALL_CORPORA, [SPAMASSASSIN_CORPUS, ...SHARED_CORPORA.map((c) => c.name)]);
    for (const f of [() => corpusOrigin('nope'), () => sharedCorpus('nope'), () => sharedCorpus(SPAMASSASSIN_CORPUS)]) {
      assert.throws(f, (e: Error) => /unknown corpus "\w+"/.test(e.message) && ALL_CORPORA.every((n) => e.message.includes(n)));
    }
  });
});
