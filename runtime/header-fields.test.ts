/**
 * The lenient view of header fields (header-fields.ts): a field's name as a reader outside scop that
 * drops control characters, white space, folds and non-ASCII bytes might take it, and the two readings
 * of an Authentication-Results authserv-id. The egress removes forged trust fields with it
 * (egress/relay/headers.test.ts); here it is asked directly, including about one field of megabytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asciiLower, authservIdOf, authservIdReadings, fieldName, lenientField, lookalikeName, MAX_LENIENT_NAME } from './header-fields.ts';

describe('the lenient view of a field', () => {
  it('names a field by its printable ASCII before the first colon, lower-cased; the value is the rest, folds and all', () => {
    for (const [text, name] of [
      ['Authentication-Results: x', 'authentication-results'],
      ['Authentication-Results\0: x', 'authentication-results'],
      ['\x01X-Spam-Flag\x7f: x', 'x-spam-flag'],
      ['X-Spam\r\n -Flag: x', 'x-spam-flag'], // a fold inside the name: a reader that unfolds first
      ['X-Spam-Flag\r\n\t: x', 'x-spam-flag'], // the colon after a fold
      ['Authentication-Results\xc2\xa0: x', 'authentication-results'], // UTF-8 no-break space
      ['Authen\xe2\x80\x8btication-Results: x', 'authentication-results'], // zero-width space
      [' X-Scop-Decision: x', 'x-scop-decision'], // white space first: no field for fieldName, still a name here
      ['\x01\x02: x', ''],
      [': x', ''],
    ] as const) {
      assert.deepEqual(lenientField(text), { name, value: ' x' }, JSON.stringify(text));
    }
    assert.equal(lenientField('X-Spam-Flag YES\r\n no colon'), null);
    assert.deepEqual(lenientField('Subject: a: b\r\n c'), { name: 'subject', value: ' a: b\r\n c' }, 'the first colon ends the name');
  });

  it('a valid field name is its own lenient name: no valid field of someone else is taken for another', () => {
    for (const text of ['X-Spamassassin: 1', 'Authentication-Results-Copy: x', 'X-Scopes: 2', 'Message-ID: <a@b>', 'DKIM-Signature: v=1']) {
      assert.equal(lenientField(text)!.name, fieldName(text), text);
    }
    // Only ASCII letters are lower-cased: the Kelvin sign (read as UTF-8) is not a k, and its bytes are not ASCII.
    assert.equal(lookalikeName('D\u212AIM-Signature'), 'dim-signature');
  });

  it('reads an authserv-id strictly: after CFWS, quoted or not, in any case; null when unreadable', () => {
    assert.equal(authservIdOf(' mx.scop.test; dkim=pass'), 'mx.scop.test');
    assert.equal(authservIdOf(' (a (nested) comment) "MX.Scop.Test" 1; none'), 'mx.scop.test');
    assert.equal(authservIdOf(' (a \\) quoted pair)\r\n mx.scop.test;'), 'mx.scop.test');
    for (const v of [' ; dkim=pass', ' (never closed; dkim=pass', ' "never closed; dkim=pass', '', ' \r\n ']) assert.equal(authservIdOf(v), null, JSON.stringify(v));
  });

  it('reads an authserv-id both ways: strictly, and with line breaks and control characters but tab dropped', () => {
    assert.deepEqual(authservIdReadings(' mx.scop.test; spf=pass'), { strict: 'mx.scop.test', lenient: 'mx.scop.test' });
    // A control character inside the id: strictly it ends the token (not ours), leniently it is ours.
    assert.deepEqual(authservIdReadings(' mx.scop\x01.test; spf=pass'), { strict: 'mx.scop\x01.test', lenient: 'mx.scop.test' });
    assert.deepEqual(authservIdReadings(' "mx.scop\0.test"; spf=pass'), { strict: 'mx.scop\0.test', lenient: 'mx.scop.test' });
    // The fuzzing finding: the form feed ends the CFWS strictly (nothing readable), leniently the id is `e` (not ours).
    assert.deepEqual(authservIdReadings(' (c) \fe"mx.t-: id'), { strict: null, lenient: 'e' });
    // A tab is white space for both.
    assert.deepEqual(authservIdReadings('\tmx.scop.test 1 ; none'), { strict: 'mx.scop.test', lenient: 'mx.scop.test' });
  });

  it('a lenient name is bounded: a longer one is cut to one character more, so it equals no name and keeps its prefix', () => {
    const long = `\x01X-Spam-${'Ab\x01'.repeat(10_000)}`;
    const name = lookalikeName(long);
    assert.equal(name.length, MAX_LENIENT_NAME + 1);
    assert.ok(name.startsWith('x-spam-abab'), name.slice(0, 20));
    assert.equal(lookalikeName(`Authentication-Results${'\0'.repeat(1_000_000)}`), 'authentication-results', 'control characters do not count');
    assert.equal(lookalikeName('a'.repeat(MAX_LENIENT_NAME)), 'a'.repeat(MAX_LENIENT_NAME), 'up to the bound, whole');
  });

  it('agrees with its definition on random text: the name is the printable ASCII lower-cased, the lenient authserv-id the strict one of the value with line breaks and control characters but tab removed', () => {
    // Seeded, so a failure repeats: the characters each reading treats specially, and a few plain ones.
    const alphabet = [' ', '\t', '\r', '\n', '\0', '\x01', '\x0b', '\f', '\x7f', '\xa0', '\xe9', '(', ')', '\\', '"', ';', ':', 'a', 'M', 'x', '.', '-'];
    let seed = 41;
    const rand = (k: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % k;
    for (let round = 0; round < 20_000; round++) {
      let text = '';
      for (let len = rand(24); len > 0; len--) text += alphabet[rand(alphabet.length)];
      assert.equal(lookalikeName(text), asciiLower(text.replace(/[^\x21-\x7e]+/g, '')), JSON.stringify(text));
      const { strict, lenient } = authservIdReadings(text);
      assert.equal(strict, authservIdOf(text), JSON.stringify(text));
      assert.equal(lenient, authservIdOf(text.replace(/[\x00-\x08\x0a-\x1f\x7f]+/g, '')), JSON.stringify(text));
    }
  });

  it('is linear in one field of megabytes, whatever its shape: 8 times the length costs about 8 times as much', () => {
    // Each shape is one field built of a repeated unit: a name of alternating control characters and
    // letters (many runs for the lookalike's replace), folds before the colon, nested and unclosed
    // comments, control characters in the CFWS, a quoted id that never ends.
    const shapes: Record<string, (n: number) => string> = {
      'long name, control characters between letters': (n) => `\x01${'a\x01\xa0'.repeat(n)}: x`,
      'folds before the colon': (n) => `X-Spam${'\r\n a'.repeat(n)}: x`,
      'no colon at all': (n) => `Authentication-Results${'\r\n \x01'.repeat(n)}`,
      'unclosed nested comments': (n) => `Authentication-Results: ${'(\x01'.repeat(n)}`,
      'control characters in the CFWS': (n) => `Authentication-Results: ${' \x0b\r\n '.repeat(n)}mx.scop.test;`,
      'quoted id that never ends': (n) => `Authentication-Results: "${'\\a'.repeat(n)}`,
    };
    const cost = (text: string) => {
      let t = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const f = lenientField(text);
        if (f) authservIdReadings(f.value);
        lookalikeName(text);
        t = Math.min(t, performance.now() - t0);
      }
      return t;
    };
    for (const [what, shape] of Object.entries(shapes)) {
      const small = shape(150_000);
      const large = shape(1_200_000);
      assert.ok(large.length >= 2_000_000, `${what}: ${large.length} characters`);
      const tSmall = cost(small);
      const tLarge = cost(large);
      // Wide margin: GC and other jobs move single runs by 2-3x on this machine; quadratic would be 64x.
      assert.ok(tLarge < 24 * tSmall + 50, `${what}: ${large.length} chars ${tLarge.toFixed(0)} ms, ${small.length} chars ${tSmall.toFixed(0)} ms`);
    }
  });
});
