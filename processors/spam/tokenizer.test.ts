import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rawFields, spamInputFromRecord, MissingMimeSectionError } from './input.ts';
import { mimeSection, spamInput } from './testing.ts';
import { DEFAULT_LIMITS as LIMITS, tokenize } from './tokenizer.ts';
import { isUrlDomainToken, isWordToken } from './token-kinds.ts';
import type { AuthSection, MailRecord } from '../../schemas/types.ts';

describe('spam tokenizer', () => {
  it('is deterministic: equal inputs give the same tokens in the same order', () => {
    const a = tokenize(spamInput());
    const b = tokenize(JSON.parse(JSON.stringify(spamInput())));
    assert.deepEqual(a, b);
    assert.equal(new Set(a).size, a.length);
    assert.ok(a.includes('subject:lunch'));
    assert.ok(a.includes('noon'));
    assert.ok(a.includes('the usual'), 'word pairs');
    assert.ok(a.includes('from:domain:corp.test'));
  });

  it('bounds tokens and text on huge input', () => {
    const words = Array.from({ length: 200_000 }, (_, i) => `w${i.toString(36)}x`).join(' ');
    const t0 = performance.now();
    const toks = tokenize(spamInput({ text: words, html: `<p>${words}</p>`, urls: Array.from({ length: 5000 }, (_, i) => `http://h${i}.example.org/p`) }));
    assert.ok(toks.length <= LIMITS.maxTokens, `${toks.length} tokens`);
    assert.ok(performance.now() - t0 < 2000, 'bounded time');
    assert.ok(tokenize(spamInput({ text: 'x'.repeat(5_000_000) })).length < 100);
  });

  it("an upstream filter's subject tag leaves no token: the same words as the untagged subject", () => {
    const plain = tokenize(spamInput({ subject: 'Cheap pills today' }));
    assert.ok(!plain.includes('subject:spam'));
    for (const subject of ['*****SPAM***** Cheap pills today', '{Spam?} Cheap pills today', '(SPAM? 08.00) Cheap pills today', 'SPAM: Cheap pills today']) {
      const tagged = tokenize(spamInput({ subject }));
      assert.deepEqual(tagged, plain, subject);
    }
    assert.ok(tokenize(spamInput({ subject: 'Spam filters compared' })).includes('subject:spam'), 'the word in a subject of its own stays');
  });

  it('reads a number as its shape: another price, dose or phone number gives the same tokens', () => {
    const a = tokenize(spamInput({ subject: 'Only $19.95 today', text: 'Order 100mg now, 70% off. Call 713-853-5660 before 2009' }));
    const b = tokenize(spamInput({ subject: 'Only $24.99 today', text: 'Order 250mg now, 35% off. Call 415-555-0199 before 2010' }));
    assert.deepEqual(a, b);
    for (const t of ['subject:$99.99', 'subject:only $99.99', '999mg', 'order 999mg', '99%', '999-999-9999', '9999']) assert.ok(a.includes(t), t);
    assert.ok(!a.some((t) => /[0-8]/.test(t) && !t.includes(':')), `no word keeps a digit other than 9: ${a.join(' | ')}`);
    // The obfuscation scan still reads the digits, and words without digits are as they were.
    const o = tokenize(spamInput({ text: 'Buy v1agra and c1alis here' }));
    for (const t of ['viagra', 'cialis', 'v9agra', 'here']) assert.ok(o.includes(t), t);
    // A word too long to be a word keeps its skip token as before (its first character and length).
    assert.ok(tokenize(spamInput({ text: '1234567890123456' })).includes('skip:1 10'));
  });

  it('drops collection artifacts: recipients, collector hosts, list footers and subject tags', () => {
    const toks = tokenize(spamInput({
      subject: '[SAdev] Re: new release',
      to: [{ name: '', address: 'zzzz@spamassassin.taint.org' }, { name: '', address: 'carol@real.test' }],
      text: 'Mail carol@real.test or see http://spamassassin.taint.org/x.\nThe release is out.\n\n_______________________________________________\nSpamassassin-devel mailing list\nSpamassassin-devel@lists.sourceforge.net\nhttps://lists.sourceforge.net/lists/listinfo/spamassassin-devel\n',
      received: [
        'from localhost (localhost [127.0.0.1]) by phobos.labs.netnoteinc.com (Postfix) with ESMTP id AE2D043F9B',
        'from usw-sf-list2.sourceforge.net (usw-sf-fw2.sourceforge.net [216.136.171.252]) by dogma.slashnull.org (8.11.6/8.11.6)',
        'from [192.168.0.4] (chello062178142216.4.14.vie.surfer.at [62.178.142.216]) by mail.uptime.at (8.12.5/8.12.5)',
      ],
    }));
    for (const t of toks) assert.doesNotMatch(t, /taint|netnoteinc|slashnull|zzzz|carol@|listinfo|mailing list|sadev|sourceforge/i, t);
    assert.ok(toks.includes('subject:re'), 'the Re: survives the tag cut');
    assert.ok(toks.includes('release'), 'the body before the footer is kept');
    assert.ok(toks.includes('origin:tld:at'), 'the originating hop is the earliest public one');
    assert.ok(toks.includes('origin:dynamic'));
    assert.ok(!toks.some((t) => t.startsWith('origin:') && t.includes('sourceforge')));
  });

  it('tokenizes URL hosts, HTML structure, attachments, mailer and authentication verdicts', () => {
    const auth = {
      spf: { result: 'fail' }, dmarc: { result: 'fail', disposition: 'reject', fromDomain: 'bank.test' }, dkim: [{ result: 'pass', aligned: false }], arc: { result: 'none' },
    } as unknown as AuthSection;
    const toks = tokenize(spamInput({
      html: '<html><body><p style="display:none">hidden</p><img src="http://x.test/a.gif"><a href="http://1.2.3.4/login">Verify</a></body></html>',
      urls: ['http://1.2.3.4/login', 'https://www.paypal-secure.example.net/verify?id=1'],
      attachments: [{ type: 'application/x-msdownload', filename: 'invoice.pdf.exe', flags: ['executable', 'double-extension'] }],
      fields: { 'x-mailer': 'Microsoft Outlook Express 6.00.2600.0000', 'content-type': 'multipart/mixed' },
      auth,
    }));
    for (const t of ['url:ip-host', 'url:p:login', 'url:p:verify', 'html:hidden-text', 'attachment:ext:exe', 'attachment:flag:double-extension', 'mailer:microsoft outlook express 6', 'auth:spf:fail', 'auth:dmarc:fail', 'auth:dmarc-disposition:reject', 'auth:dkim:pass', 'verify']) {
      assert.ok(toks.includes(t), `missing ${t}`);
    }
  });

  it('tokenizes how a message was made: Date form and clock vs the first relay, Message-ID shape beside the mailer, From name, unthreaded Re:, MIME structure', () => {
    const relay = 'from mail.sender.test (mail.sender.test [198.18.0.7]) by mx.corp.test with ESMTP; Fri, 1 Aug 2025 10:00:30 +0000';
    const honest = tokenize(spamInput({ received: [relay], fields: { 'content-type': 'text/plain', to: 'bob@corp.test', 'x-mailer': 'Foo 2.1' }, inReplyTo: '<0@corp.test>', subject: 'Re: Lunch' }));
    for (const t of ['date:shape:a, 9 a 9999 99:99:99 +9999', 'date:vs-origin:same', 'date:tz-as-origin', 'message-id:shape:D', 'mailer+message-id:foo|D', 'from:name-in-local', 'to:count:le1', 'mime:parts:le1', 'lang:eng']) {
      assert.ok(honest.includes(t), `missing ${t}`);
    }
    for (const t of ['subject:re-unthreaded', 'date:weekday-mismatch', 'date:no-weekday']) assert.ok(!honest.includes(t), `unexpected ${t}`);

    const forged = tokenize(spamInput({
      date: 'Sat, 1 Aug 2025 10:00:00 +0900', // 1 Aug 2025 is a Friday; nine hours ahead of the relay's clock and zone
      received: [relay], subject: 'Re: your account', inReplyTo: null,
      messageId: '<000801c2abcd$0a1b2c3d$0100a8c0@qwrtzpl>', fields: { 'x-mailer': 'Microsoft Outlook Express 6.00.2600.0000', to: 'bob@corp.test' },
      from: [{ name: 'Xkcdqz Brmmt', address: 'offers4u@bulk.test' }],
      text: 'hi', html: `<p>${'Buy now, limited offer. '.repeat(20)}</p>`, parts: 2, depth: 1,
    }));
    for (const t of ['date:weekday-mismatch', 'date:vs-origin:past-h', 'date:tz-not-origin', 'subject:re-unthreaded', 'message-id:shape:h$h$h', 'mailer+message-id:microsoft outlook express|h$h$h', 'from:name-unrelated', 'from:name-consonants', 'from:local-mixed-digits', 'mime:alt-ratio:text-short', 'mime:parts:le2']) {
      assert.ok(forged.includes(t), `missing ${t}`);
    }
    const odd = tokenize(spamInput({ date: '3 Dec 2002 12:24:13 -0000', received: [] }));
    assert.ok(odd.includes('date:no-weekday') && odd.includes('date:tz:-0000') && !odd.some((t) => t.startsWith('date:vs-origin')), 'no relay: no clock comparison');
    assert.ok(tokenize(spamInput({ date: 'sometime last week' })).includes('date:unparsed'));
    assert.ok(tokenize(spamInput({ date: 'Fri, 1 Aug 2025 10:00:00 +2500' })).includes('date:tz-invalid'));
  });

  it('reads the record: MIME section, raw header fields after the trace, envelope, auth; refuses a record without MIME section', () => {
    const raw = Buffer.from('Received: from us\r\nX-Mailer: Foo 2.1\r\nContent-Type: text/plain;\r\n charset=utf-8\r\nSubject: x\r\n\r\nX-Mailer: not a header\r\n');
    assert.deepEqual(rawFields(raw), { 'x-mailer': 'Foo 2.1', 'content-type': 'text/plain; charset=utf-8' });
    // Read as the MIME stage reads them (runtime/header-fields.ts); this reader used to trim both ends
    // of a name and take the colon from a continuation line, so it read fields the MIME stage calls invalid.
    const odd = Buffer.from('\fX-Mailer: formfed\r\nX-Priority\r\n : folded\r\nUser-Agent\f: ok\r\n\r\nx\r\n', 'latin1');
    assert.deepEqual(rawFields(odd), { 'user-agent': 'ok' }, 'a name after a form feed or before a folded colon is no field');
    const record = { envelope: { id: 'r1', raw, traceLength: 0, clientIp: '203.0.113.9', clientHostname: null, helo: 'x', mailFrom: '', rcptTo: ['bob@corp.test'] }, mime: null, auth: null } as unknown as MailRecord;
    assert.throws(() => spamInputFromRecord(record), MissingMimeSectionError);
  });
});

describe('spam tokenizer: evidence beyond the words (tok-4)', () => {
  it('the handing-over relay from the envelope (live traffic): reverse DNS none / dynamic / static, HELO forms, sender-side hops', () => {
    const env = (clientHostname: string | null, helo: string) => ({ clientIp: '81.2.69.20', clientHostname, helo, mailFrom: 'a@b.test', rcptTo: ['bob@corp.test'] });
    const none = tokenize(spamInput({ envelope: env(null, '[81.2.69.20]') }));
    assert.ok(none.includes('relay:rdns:none') && none.includes('relay:helo-ip-literal') && none.includes('received:sender-hops:le0'), none.filter((t) => t.startsWith('relay') || t.startsWith('received')).join(' '));
    const dyn = tokenize(spamInput({ envelope: env('dsl-81-2-69-20.pool.isp.test', 'pc1') }));
    assert.ok(dyn.includes('relay:rdns:dynamic') && dyn.includes('relay:helo-bare'));
    const ok = tokenize(spamInput({ envelope: env('mail.sender.test', 'mail.sender.test'), received: ['from submit.sender.test (submit.sender.test [10.0.0.5]) by mail.sender.test; Fri, 1 Aug 2025 10:00:00 +0000'] }));
    assert.ok(ok.includes('relay:rdns:static') && ok.includes('relay:helo-is-rdns-domain') && ok.includes('received:sender-hops:le1') && ok.includes('received:private-hop'));
    const noLookup = tokenize(spamInput({ envelope: env(null, 'x.test') }), { ...LIMITS, clientRdns: false });
    assert.ok(!noLookup.some((t) => t.startsWith('relay:rdns')), 'no lookup: a missing name says nothing');
  });

  it('a reverse name the ingress found not to resolve back to the client: relay:rdns:unconfirmed, from the envelope only', () => {
    const env = (clientHostnameConfirmed?: boolean | null) => ({ clientIp: '81.2.69.20', clientHostname: 'mail.sender.test', clientHostnameConfirmed, helo: 'mail.sender.test', mailFrom: 'a@b.test', rcptTo: ['bob@corp.test'] });
    const unconfirmed = tokenize(spamInput({ envelope: env(false) }));
    assert.ok(unconfirmed.includes('relay:rdns:unconfirmed') && unconfirmed.includes('relay:rdns:static'), unconfirmed.filter((t) => t.startsWith('relay')).join(' '));
    for (const c of [true, null, undefined]) assert.ok(!tokenize(spamInput({ envelope: env(c) })).includes('relay:rdns:unconfirmed'), `confirmed=${c}`);
    assert.ok(!tokenize(spamInput({ envelope: env(false) }), { ...LIMITS, clientRdns: false }).some((t) => t.startsWith('relay:rdns')), 'no lookup: no rDNS token at all');
    // Stored mail (the corpora) is unchanged: no Received form gives the token, not even sendmail's "may be forged".
    const stored = tokenize(spamInput({ received: ['from mail.sender.test (mail.sender.test [81.2.69.9] (may be forged)) by mx.receiver.test (8.11.6/8.11.6) with ESMTP id h2F0c2x31856; Fri, 1 Aug 2025 10:00:01 +0000'] }));
    assert.ok(!stored.includes('relay:rdns:unconfirmed'), stored.filter((t) => t.startsWith('relay')).join(' '));
    // A record from the ingress carries the field through to the tokens.
    const raw = Buffer.from('Subject: x\r\n\r\nx');
    const record = { envelope: { id: 'r1', raw, traceLength: 0, clientIp: '81.2.69.20', clientHostname: 'mail.sender.test', clientHostnameConfirmed: false, helo: 'mail.sender.test', mailFrom: '', rcptTo: ['bob@corp.test'] }, mime: mimeSection({ subject: 'x', text: 'x' }), auth: null } as unknown as MailRecord;
    assert.ok(tokenize(spamInputFromRecord(record)).includes('relay:rdns:unconfirmed'));
  });

  it('the handing-over relay from stored Received headers: the receiver\'s internal hops are skipped', () => {
    const toks = tokenize(spamInput({
      received: [
        'from mx1.receiver.test (mx1.receiver.test [81.2.69.1]) by store.receiver.test with LMTP; Fri, 1 Aug 2025 10:00:02 +0000',
        'from bot.example (unknown [81.2.69.77]) by mx1.receiver.test with ESMTP; Fri, 1 Aug 2025 10:00:01 +0000',
      ],
    }));
    assert.ok(toks.includes('relay:rdns:none') && toks.includes('received:sender-hops:le0'), toks.filter((t) => t.startsWith('relay') || t.startsWith('received')).join(' '));
    const exchange = tokenize(spamInput({ received: ['from mail.sender.test (81.2.69.9) by BN1.mail.protection.outlook.com (10.1.1.1) with Microsoft SMTP Server'] }));
    assert.ok(!exchange.some((t) => t.startsWith('relay:rdns')), 'a form that does not show the reverse name gives no rDNS token');
  });

  it('anchor text naming another site, shorteners, hidden-text share, display-name tricks', () => {
    const toks = tokenize(spamInput({
      from: [{ name: 'PayPal Service <service@paypal.com>', address: 'x@evil.test' }],
      html: '<p>Dear customer</p><a href="http://evil.test/login">https://www.paypal.com/signin</a> <a href="https://bit.ly/abc">here</a><div style="display:none">lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua</div>',
    }));
    for (const t of ['url:anchor-mismatch', 'url:shortener', 'html:hidden-share:most', 'from:name-address-other']) assert.ok(toks.includes(t), `missing ${t}`);
    assert.ok(!toks.includes('lorem'), 'hidden text is not tokenized');
    const honest = tokenize(spamInput({ from: [{ name: 'news@shop.test', address: 'news@shop.test' }], html: '<a href="https://www.shop.test/sale">www.shop.test</a>' }));
    assert.ok(honest.includes('url:anchor-match') && honest.includes('from:name-address-same') && !honest.includes('url:anchor-mismatch'));
  });

  it('training corpora: headerless messages give words only; masked fields give no tokens', () => {
    const h = tokenize(spamInput({ headerless: true, subject: 're : meeting', text: 'please review the agenda , thanks', html: null }));
    assert.ok(h.includes('subject:meeting') && h.includes('agenda'));
    assert.ok(!h.some((t) => t.includes(':') && !t.startsWith('subject:')), h.join(' '));
    const m = tokenize(spamInput({ masked: ['from:', 'message-id:'] }));
    assert.ok(!m.some((t) => t.startsWith('from:') || t.startsWith('message-id:')));
    assert.ok(m.includes('noon'));
  });

  it('token kinds: words are what a headerless message gives; every other token of a full message is structure', () => {
    const full = spamInput({ received: ['from mx.corp.test (mx.corp.test [192.0.2.1]) by in.corp.test; Fri, 1 Aug 2025 10:00:00 +0000'], urls: ['http://menu.corp.test/today'] });
    const words = new Set(tokenize(spamInput({ headerless: true, subject: full.subject, text: full.text, html: null })));
    for (const t of words) assert.ok(isWordToken(t), t);
    for (const t of tokenize(full)) if (!words.has(t) && !t.startsWith('subject:')) assert.ok(!isWordToken(t), t);
    assert.ok(!isWordToken('subject:len:le20') && isWordToken('subject:lunch') && isWordToken('skip:a 20') && !isWordToken('html:only'));
  });

  it("token kinds: of a message's URL tokens only the links' registered domains are domain tokens (what the default model leaves out)", () => {
    const toks = tokenize(spamInput({ urls: ['https://www.paypal-secure.example.co.uk:8443/verify.php?id=1', 'http://1.2.3.4/login', 'http://bit.ly/x', 'http://user@menu.corp.test/today'] }));
    const urlToks = toks.filter((t) => t.startsWith('url:'));
    assert.deepEqual(urlToks.filter(isUrlDomainToken).sort(), ['url:bit.ly', 'url:corp.test', 'url:example.co.uk'], urlToks.join(' | '));
    assert.ok(urlToks.some((t) => t.startsWith('url:tld:') || t.startsWith('url:p:')), 'the other URL tokens are there, and are not domain tokens');
  });
});
