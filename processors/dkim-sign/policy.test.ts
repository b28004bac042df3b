/**
 * A signature vouches for every From mailbox and the Sender, so the user must be allowed to send as
 * each of them — not only as the first From address — and a From or Sender the parser cannot read
 * unambiguously is refused (`unparseable-address`). Through signMessage, the stage's own entry point.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import type { DkimSignConfig } from './config.ts';
import { MAX_ADDRESS_FIELD_LENGTH } from '../../runtime/header-fields.ts';
import { headerFields, senderIdentities, SigningRefused } from './policy.ts';
import { signMessage } from './sign.ts';

const key = { domain: 'example.org', selector: 's1', algorithm: 'ed25519-sha256' as const, privateKey: generateKeyPairSync('ed25519').privateKey, bits: null, file: 'memory' };
const config: DkimSignConfig = {
  keys: new Map([['example.org', [key]]]),
  // alice may send as herself only (own-address rule); team may send as anyone at example.org.
  senders: { users: { team: ['example.org'] }, allowOwnAddress: true },
  signHeaders: ['From', 'Sender', 'To', 'Subject'], oversignHeaders: ['From'], auid: 'none', hSeparator: ': ', expireSeconds: 0, parentDomainKeys: false,
};
const message = (head: string) => Buffer.from(`${head}\r\nTo: x@example.net\r\nSubject: s\r\n\r\nbody\r\n`, 'utf8');
const sign = (head: string, user = 'alice@example.org') => signMessage(message(head), { config, authUser: user });
const refused = (head: string, code: string, user = 'alice@example.org') =>
  assert.rejects(sign(head, user), (e: unknown) => e instanceof SigningRefused && e.code === code, `${head} → ${code}`);

describe('every identity in From and Sender must be allowed', () => {
  test('a second From mailbox, a group member or the Sender the user may not send as → not-authorized', async () => {
    await refused('From: alice@example.org, ceo@example.org', 'not-authorized');
    await refused('From: alice@example.org; ceo@example.org', 'not-authorized');
    await refused('From: Board: alice@example.org, ceo@example.org;', 'not-authorized');
    await refused('From: Board: alice@example.org;, CEO <ceo@example.org>', 'not-authorized');
    await refused('From: alice@example.org\r\nSender: ceo@example.org', 'not-authorized');
    await refused('From: ceo@example.org\r\nSender: alice@example.org', 'not-authorized');
  });

  test('text the parser cannot read as mailboxes only → unparseable-address (never a guess)', async () => {
    for (const head of [
      'From: ceo, alice@example.org', // an entry without an address
      'From: alice@example.org <ceo@example.org>', // an address as display name, unquoted
      'From: alice@example.org ceo@example.org', // read as one mailbox with a display name
      'From: alice@@example.org',
      'From: <>',
      'From: alice@example.org\r\nSender: a@example.org, b@example.org',
    ]) await refused(head, 'unparseable-address');
    await refused('From: alice@example.org\r\nSender: alice@example.org\r\nSender: alice@example.org', 'multiple-sender');
  });

  test('allowed: every mailbox permitted; display names, comments and encoded words are not addresses', async () => {
    for (const [head, user] of [
      ['From: Alice <alice@example.org>', 'alice@example.org'],
      ['From: "ceo@example.org" <alice@example.org>', 'alice@example.org'],
      ['From: alice@example.org (not ceo@example.org)', 'alice@example.org'],
      ['From: =?utf-8?q?ceo=40example.org?= <alice@example.org>', 'alice@example.org'],
      ['From: alice@example.org\r\nSender: alice@example.org', 'alice@example.org'],
      ['From: alice@example.org, ceo@example.org\r\nSender: team@example.org', 'team'],
      ['From: Board: alice@example.org, ceo@example.org;', 'team'],
    ] as const) {
      const r = await sign(head, user);
      assert.equal(r.section.signatures.length, 1, head);
      assert.equal(r.section.fromDomain, 'example.org', head);
    }
  });
});

/** A header (latin1: each character one byte, as the tests below write them) before To and a body. */
const head = (h: string) => Buffer.from(`${h}\r\nTo: x@example.net\r\n\r\nbody\r\n`, 'latin1');

describe('field names are read as every stage reads them (runtime/header-fields.ts)', () => {
  test('a no-break space byte before the colon still names the field (this reader decoded UTF-8 and missed it; MIME and egress trim it)', () => {
    assert.equal(senderIdentities(head('From: alice@example.org\r\nSender\xa0: ceo@example.org')).sender?.address, 'ceo@example.org');
  });
  test('a UTF-8 no-break space (C2 A0) before the colon, or a form feed before the name, names no field (as the MIME stage reads them)', () => {
    assert.deepEqual(headerFields(head('From: alice@example.org\r\nSender\xc2\xa0: ceo@example.org')).map(([n]) => n), ['from', 'sender\xc2', 'to']);
    assert.deepEqual(headerFields(head('From: alice@example.org\r\n\fFrom: ceo@other.example')).map(([n]) => n), ['from', 'to']);
  });
});

describe('a header line that is neither a valid field nor a continuation is refused (invalid-header-line), not signed', () => {
  // No reader here takes these lines for a From or Sender field, but a receiver's parser might,
  // and would show that address under our signature (a second From once signed this way).
  test('a second From behind a form feed, a control character, a no-break space or a fold; a name outside ftext; a line without a colon', async () => {
    for (const line of [
      '\fFrom: ceo@other.example',
      '\vFrom: ceo@other.example',
      '\0From: ceo@other.example',
      'From\0: ceo@other.example',
      'Fr\x01om: ceo@other.example',
      'From\x7f: ceo@other.example',
      '\xa0From: ceo@other.example',
      'From\xc2\xa0: ceo@other.example',
      'From\r\n : ceo@other.example',
      'Sender\xe9: ceo@other.example',
      'From ceo@other.example',
      ': ceo@other.example',
    ]) {
      for (const h of [`From: alice@example.org\r\n${line}`, `${line}\r\nFrom: alice@example.org`]) {
        assert.throws(() => senderIdentities(head(h)), (e: unknown) => e instanceof SigningRefused && e.code === 'invalid-header-line', JSON.stringify(h));
      }
    }
    await assert.rejects(signMessage(head('From: alice@example.org\r\n\fFrom: ceo@other.example'), { config, authUser: 'alice@example.org' }), (e: unknown) => e instanceof SigningRefused && e.code === 'invalid-header-line');
  });

  test('a normal message, obs-fold continuations (space or tab, of any field), white space before the colon and a header without a body still sign', async () => {
    for (const h of [
      'From: alice@example.org',
      'From:\r\n alice@example.org\r\nX-Long: a\r\n\tb\r\n  c',
      'From : alice@example.org\r\nX-Tab\t: v',
      'Subject: a\r\n \r\nFrom: alice@example.org',
    ]) {
      const r = await signMessage(head(h), { config, authUser: 'alice@example.org' });
      assert.equal(r.section.signatures.length, 1, JSON.stringify(h));
    }
    const bodiless = Buffer.from('From: alice@example.org\r\nTo: x@example.net\r\n', 'latin1');
    assert.equal(senderIdentities(bodiless).from[0]!.address, 'alice@example.org');
  });
});

describe('the sender policy on hostile From values', () => {
  // LOCAL_PART and the domain check repeat a group, but each repetition starts with '.', which the
  // repeated class cannot match: one way to match, linear time. Checked here on long near-misses.
  const N = 200_000;
  for (const [name, local] of [['dots', `${'a.'.repeat(N / 2)}a `], ['trailing dot', `${'a.'.repeat(N / 2)}`], ['quoted escapes', `"${'\\a'.repeat(N / 2)}`]] as const) {
    test(`${name} (${local.length} characters): refused in well under a second`, () => {
      const message = Buffer.from(`From: <${local}@example.org>\r\nSubject: x\r\n\r\nbody\r\n`);
      const t0 = performance.now();
      assert.throws(() => senderIdentities(message), SigningRefused);
      assert.ok(performance.now() - t0 < 1000, `${(performance.now() - t0).toFixed(0)} ms`);
    });
  }
});

describe('the sender policy on long From and Sender values: at most 8 KiB reach the address parser', () => {
  // postal-mime's addressParser makes a token per character of a run of ':' or ';': 1 MB cost 0.9–1.1 s
  // of CPU (a From of ':' 918 ms, 'IPv6:' 885 ms, a ';=' name 993 ms, a Sender of ':' 1,142 ms).
  const run = (f: string) => f.repeat(Math.ceil(1_000_000 / f.length));
  const cpuMs = (f: () => void) => {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  for (const [name, header] of [['From of ":"', `From: a${run(':')}b@example.org`], ['From of "IPv6:"', `From: a${run('IPv6:')}b@example.org`],
    ['From name of ";="', `From: a${run(';=')}b <a@example.org>`], ['Sender of ":"', `From: a@example.org\r\nSender: a${run(':')}b@example.org`]] as const) {
    test(`a 1 MB ${name} is refused (unparseable-address) in milliseconds`, () => {
      const message = Buffer.from(`${header}\r\nSubject: x\r\n\r\nbody\r\n`, 'latin1');
      let best = Infinity;
      for (let i = 0; i < 3 && best >= 100; i++) {
        best = Math.min(best, cpuMs(() => assert.throws(() => senderIdentities(message), (e: SigningRefused) => e.code === 'unparseable-address' && /characters long, at most 8192 are read/.test(e.message))));
      }
      assert.ok(best < 100, `${best.toFixed(0)} ms of CPU`);
    });
  }
  test('a From of exactly 8,192 characters is still read', () => {
    const from = `"${'a'.repeat(MAX_ADDRESS_FIELD_LENGTH - 22)}" <alice@example.org>`;
    assert.equal(from.length, MAX_ADDRESS_FIELD_LENGTH);
    assert.equal(senderIdentities(Buffer.from(`From: ${from}\r\n\r\nbody\r\n`)).from[0]!.address, 'alice@example.org');
    assert.throws(() => senderIdentities(Buffer.from(`From: a${from}\r\n\r\nbody\r\n`)), /8193 characters long/);
  });
});
