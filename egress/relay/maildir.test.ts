/**
 * Maildir folders: one folder per real mailbox. Names that are the same mailbox under Unicode
 * compatibility normalisation and case (KELVIN SIGN, full-width letters, upper case, a U-label
 * domain) share a folder on purpose; different mailboxes never do (before, every non-ASCII
 * character became `_`); a name too long for a file name is a permanent 5xx, not a temporary
 * failure retried for hours.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import { deliverMaildir, MAX_FOLDER_BYTES, mailboxFolder, mailboxKey } from './maildir.ts';

const root = mkdtempSync(join(tmpdir(), 'scop-maildir-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('mailbox folders', () => {
  test('compatibility forms, case and U-labels of one mailbox share its folder', () => {
    const kelvin = mailboxFolder('kelvin@example.org');
    for (const same of ['\u212Aelvin@example.org', 'KELVIN@EXAMPLE.ORG', '\uff4belvin@example.org', 'kelvin@example.org.', 'Kelvin@Example.Org']) {
      assert.equal(mailboxFolder(same), kelvin, same);
    }
    assert.equal(mailboxFolder('bob@bücher.example'), mailboxFolder('bob@xn--bcher-kva.example'));
    assert.equal(mailboxFolder('ÉLODIE@example.org'), mailboxFolder('e\u0301lodie@example.org'), 'NFC and NFD forms');
  });

  test('different mailboxes never share a folder; names stay inside the root and visible', () => {
    assert.notEqual(mailboxFolder('é@example.org'), mailboxFolder('ü@example.org'));
    assert.notEqual(mailboxFolder('a_b@example.org'), mailboxFolder('a/b@example.org'));
    assert.notEqual(mailboxFolder('a%2Fb@example.org'), mailboxFolder('a/b@example.org'));
    for (const r of ['../../etc@x', '.hidden@x', '..@x', 'a/b@x', 'a\\b@x', '\u0000@x', '']) {
      const f = mailboxFolder(r);
      assert.doesNotMatch(f, /[/\\\0]/, r);
      assert.ok(!f.startsWith('.'), `${r} → ${f}`);
    }
    assert.equal(mailboxFolder('bob@example.net'), 'bob@example.net', 'plain addresses keep their readable folder');
  });

  test('property: two addresses get one folder exactly when they are one mailbox (the encoding is reversible)', () => {
    const part = fc.string({ unit: fc.constantFrom('a', 'B', 'é', 'É', '\u212A', 'k', '%', '_', '.', '/', 'ﬁ', 'fi', '2', '²', ' ', 'Ω', '\u2126'), maxLength: 6 });
    fc.assert(fc.property(part, part, (a, b) => {
      const [x, y] = [`${a}@example.org`, `${b}@example.org`];
      assert.equal(mailboxFolder(x) === mailboxFolder(y), mailboxKey(x) === mailboxKey(y), `${x} / ${y}`);
    }), { numRuns: 2000 });
  });

  test('a name too long for a folder is a permanent 553 5.1.3 (nothing written); a normal one is delivered', async () => {
    const record = testMailRecord('Subject: x\r\n\r\nhi\r\n', { rcptTo: [] });
    const long = `${'é'.repeat(60)}@example.org`; // 120 bytes of UTF-8, 360 encoded
    assert.ok(mailboxFolder(long).length > MAX_FOLDER_BYTES);
    const [tooLong, fine] = await deliverMaildir(root, 'egress.test', record, [long, 'kelvin@example.org'], false);
    assert.equal(tooLong!.kind, 'permanent');
    assert.match(tooLong!.reply, /^553 5\.1\.3 mailbox name too long/);
    assert.equal(fine!.kind, 'delivered', fine!.reply);
    assert.deepEqual(readdirSync(root), ['kelvin@example.org']);
    const [again] = await deliverMaildir(root, 'egress.test', record, ['\u212Aelvin@example.org'], false);
    assert.match(again!.reply, /^already in /, 'the same mailbox: the replay finds the first copy');
    assert.ok(existsSync(join(root, 'kelvin@example.org', 'new')));
  });
});
