/**
 * RFC 5321 §4.5.3.1 limits on command lines, as a function (the SMTP sessions are in smtp.test.ts
 * "RFC 5321 size limits"): each boundary on both sides, octets not characters, the source route
 * counted, parameters not counted in the path, and no client text in a reply.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandLimitRefusal, MAX_COMMAND_LINE_OCTETS, MAX_MAIL_LINE_OCTETS, MAX_PATH_OCTETS } from './command-limits.ts';

const check = (line: string) => commandLimitRefusal(Buffer.from(line), line.split(/[ :]/, 1)[0]!.toUpperCase());
/** A path of exactly `octets` octets with its brackets, ASCII. */
const path = (octets: number) => `<${'a'.repeat(octets - 2 - '@example.org'.length)}@example.org>`;

describe('RFC 5321 command-line limits', () => {
  it('a command line may have 512 octets with its CRLF, not 513', () => {
    assert.equal(check(`NOOP ${'x'.repeat(MAX_COMMAND_LINE_OCTETS - 2 - 5)}`), undefined);
    assert.deepEqual(check(`NOOP ${'x'.repeat(MAX_COMMAND_LINE_OCTETS - 1 - 5)}`), { code: 500, text: '5.5.2 Line too long (at most 512 octets with CRLF)', reason: 'line-too-long' });
    assert.equal(check(`EHLO ${'é'.repeat(254)}`)?.code, 500, 'octets, not characters: 5 + 508 octets');
  });

  it('MAIL may be longer by the parameters offered (SIZE, BODY, SMTPUTF8, AUTH=): 1,067 octets', () => {
    assert.equal(MAX_MAIL_LINE_OCTETS, 1067);
    const longest = `MAIL FROM:${path(MAX_PATH_OCTETS)} SIZE=${'9'.repeat(20)} BODY=8BITMIME SMTPUTF8 AUTH=${'x'.repeat(500)}`;
    assert.ok(Buffer.byteLength(longest) + 2 <= MAX_MAIL_LINE_OCTETS, 'the longest line these parameters make fits');
    assert.equal(check(longest), undefined);
    const filler = (n: number) => `MAIL FROM:<a@example.org> X=${'x'.repeat(n - 'MAIL FROM:<a@example.org> X='.length)}`;
    assert.equal(check(filler(MAX_MAIL_LINE_OCTETS - 2)), undefined);
    assert.equal(check(filler(MAX_MAIL_LINE_OCTETS - 1))?.code, 500);
    assert.equal(check(`RCPT TO:<a@example.org> X=${'x'.repeat(600)}`)?.code, 500, 'RCPT has no such allowance');
  });

  it('a path may have 256 octets with its angle brackets, not 257: 501 5.1.7 at MAIL, 501 5.1.3 at RCPT', () => {
    assert.equal(check(`MAIL FROM:${path(256)}`), undefined);
    assert.equal(check(`RCPT TO:${path(256)}`), undefined);
    assert.deepEqual(check(`MAIL FROM:${path(257)}`), { code: 501, text: '5.1.7 Sender address too long (at most 256 octets with the angle brackets)', reason: 'path-too-long' });
    assert.deepEqual(check(`RCPT TO:${path(257)}`), { code: 501, text: '5.1.3 Recipient address too long (at most 256 octets with the angle brackets)', reason: 'path-too-long' });
    assert.equal(check(`rcpt to: ${path(257)} NOTIFY=NEVER`)?.code, 501, 'any case, space after the colon, parameters after');
  });

  it('counts octets of a UTF-8 path and the source route; not the parameters', () => {
    const utf8 = `<${'é'.repeat(122)}@example.org>`; // 126 characters, 258 octets
    assert.equal(check(`RCPT TO:${utf8}`)?.code, 501);
    assert.equal(check(`RCPT TO:<@${'r'.repeat(250)}.example:a@example.org>`)?.code, 501, 'a source route is part of the path');
    assert.equal(check(`MAIL FROM:<> SIZE=100 BODY=8BITMIME SMTPUTF8 AUTH=${'x'.repeat(300)}`), undefined, 'only the path counts against 256');
    assert.equal(check(`MAIL FROM:<a@example.org>${'x'.repeat(300)}`)?.code, 501, 'text glued to the path is part of it');
  });

  it('the local-part (64) and domain (255) limits: the first is not enforced, the second follows from the path', () => {
    assert.equal(check(`MAIL FROM:<${'a'.repeat(100)}@example.org>`), undefined, 'VERP/SRS/forwarding senders exceed 64');
    assert.equal(check(`RCPT TO:<a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(63)}>`)?.code, 501, 'a 255-octet domain makes a 259-octet path');
  });

  it('never puts the client text in the reply', () => {
    const r = check(`RCPT TO:<${'<script>'.repeat(40)}@example.org>`);
    assert.ok(r && !r.text.includes('script'));
    assert.ok(!check(`NOOP ${'secret'.repeat(200)}`)!.text.includes('secret'));
  });

  it('other commands and lines without a colon are left to smtp-server', () => {
    assert.equal(check(`VRFY ${'a'.repeat(400)}`), undefined);
    assert.equal(check(`MAIL ${'a'.repeat(400)}`), undefined, 'no colon: smtp-server answers its syntax error');
  });
});
