import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { htmlToText } from './html.ts';
import { cutListFooters, cutSubjectTag, stripPunctuation } from './tokenizer.ts';

describe('HTML scanner', () => {
  it('visible text: tags removed, entities decoded, inline tags joined, block tags separate, head/script/style skipped', () => {
    const h = htmlToText('<html><head><title>T</title><style>p{color:red}</style></head><body><p>fr<b></b>ee &amp; <i>easy</i></p><div>next</div><script>var x = "<p>no</p>";</script>end &lt;3</body></html>');
    assert.equal(h.text.replace(/\n+/g, '|'), '|free & easy|next|end <3');
    assert.ok(h.features.includes('html:script') && h.features.includes('html:style'));
  });

  it('hidden text is counted and left out of the words (padding cannot poison the model from there)', () => {
    const h = htmlToText('<p>Buy cheap meds</p><div style="display:none">the quick brown fox jumps over the lazy dog <span>more padding</span></div><font size="0">tiny words</font><p hidden>also hidden</p><p>visible again</p>');
    assert.doesNotMatch(h.text, /fox|padding|tiny|also hidden/);
    assert.match(h.text, /Buy cheap meds/);
    assert.match(h.text, /visible again/);
    assert.ok(h.hiddenChars >= 60, `${h.hiddenChars}`);
    assert.ok(h.features.includes('html:hidden-text'));
  });

  it('links and their visible text; src/action; entity-decoded', () => {
    const h = htmlToText('<a href="https://evil.test/login?a=1&amp;b=2">https://www.paypal.com/</a> <img src=http://img.test/x.gif> <form action=\'/post\'><a href=x>one</a><a href="y">two</a>');
    assert.deepEqual(h.links, ['https://evil.test/login?a=1&b=2', 'http://img.test/x.gif', '/post', 'x', 'y']);
    assert.deepEqual(h.anchors, [{ href: 'https://evil.test/login?a=1&b=2', text: 'https://www.paypal.com/' }, { href: 'x', text: 'one' }, { href: 'y', text: 'two' }]);
  });

  it('malformed input: unterminated comments, tags, quotes and raw text end the document; a bare < is text', () => {
    assert.equal(htmlToText('a <!-- never closed <p>x').text, 'a ');
    assert.equal(htmlToText('a <p class="never closed>x').text, 'a ');
    assert.equal(htmlToText('a <script>x').text, 'a ');
    assert.equal(htmlToText('1 < 2 and 3 <4').text, '1 < 2 and 3 <4');
    assert.ok(htmlToText('x<!-- c -->y').features.includes('html:comment'));
  });

  it('is linear on hostile nesting (htmlparser2 took 44 s on this)', () => {
    const c0 = process.cpuUsage();
    htmlToText(`${'<div>'.repeat(100_000)}${'</span>'.repeat(100_000)}`);
    htmlToText(`${'<b><i>'.repeat(50_000)}${'</b>'.repeat(50_000)}`);
    const c = process.cpuUsage(c0);
    assert.ok((c.user + c.system) / 1000 < 2_000, `${(c.user + c.system) / 1000} ms of CPU`);
  });
});

describe('text helpers that replaced backtracking regexes', () => {
  it('strip punctuation as the former pattern did', () => {
    for (const [a, b] of [['("hello",', 'hello'], ['*free*', 'free'], ['[x]', 'x'], ['...', ''], ['a.b', 'a.b'], [`${')'.repeat(1000)}a`, `${')'.repeat(1000)}a`]]) assert.equal(stripPunctuation(a!), b);
  });

  it('cut subject tags, keeping or dropping the reply prefix', () => {
    assert.equal(cutSubjectTag('Re: [SAdev] new release', true), 'Re: new release');
    assert.equal(cutSubjectTag('Re: Fwd: [ILUG]  x', false), 'x');
    assert.equal(cutSubjectTag('[too long a tag that goes on and on and on and on] x', true), '[too long a tag that goes on and on and on and on] x');
    assert.equal(cutSubjectTag('plain', true), 'plain');
  });

  it("cut an upstream filter's spam tag, wherever it sits among the prefixes", () => {
    for (const tagged of ['*****SPAM***** Cheap pills', '***Spam*** Cheap pills', '*** SPAM *** Cheap pills', '{Spam?} Cheap pills', '{SPAM} Cheap pills', '(SPAM? 08.00) Cheap pills', 'SPAM: Cheap pills', '[SPAM] Cheap pills', '*SPAM* {Spam?} Cheap pills']) {
      assert.equal(cutSubjectTag(tagged, true), 'Cheap pills', tagged);
    }
    assert.equal(cutSubjectTag('Re: ***SPAM*** [ILUG] Cheap pills', true), 'Re: Cheap pills');
    assert.equal(cutSubjectTag('***SPAM*** Re: [ILUG] ***SPAM*** Cheap pills', false), 'Cheap pills');
    assert.equal(cutSubjectTag('Re: ***SPAM*** Cheap pills', true), 'Re: Cheap pills');
    // The word itself, elsewhere, is the sender's.
    for (const plain of ['Spam filters compared', 'Re: Forged whitelist spam', 'No spam: a how-to', 'spammers: (spam) again']) {
      assert.equal(cutSubjectTag(plain, true), plain);
    }
    assert.equal(cutSubjectTag('Spam: a how-to', true), 'a how-to', 'a leading "Spam:" reads as a tag');
  });

  it('cut list footers: separator line + list mark within 400 characters', () => {
    const body = 'Hello list.\n\n_______________________________________________\nFoo mailing list\nhttp://x/mailman/listinfo/foo\n';
    assert.equal(cutListFooters(body), 'Hello list.\n\n');
    assert.equal(cutListFooters('Hi\n-- \nAlice\n'), 'Hi\n-- \nAlice\n', 'a signature alone stays');
    assert.equal(cutListFooters(`Hi\n-- \n${'x'.repeat(500)}\nmailman/listinfo`), `Hi\n-- \n${'x'.repeat(500)}\nmailman/listinfo`, 'mark out of reach');
    assert.equal(cutListFooters('a\n----- Yahoo! Groups Sponsor ---------------------~-->\nad text\n---------------------------------------------------------------------~->\nb'), 'a\n \nb');
  });
});
