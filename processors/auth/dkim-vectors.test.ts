/**
 * DKIM and ARC vectors through verifyMessage(), keys over real DNS (in-process authoritative
 * server, UDP/TCP): Stalwart dkim/ (6, clock 1667843664) and arc/ (2), the RFC 8463 example (both
 * signatures), the RFC 6376 Appendix A negative example, and crymap's real signed mails.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { verifyMessage } from './verify.ts';
import { loadKeyedMessage, loadTxtLines, txtChunks } from './testing/suites.ts';
import { skipWithoutTestdata, testdataPath } from '../../runtime/testdata.ts';
import { authoritativeDns } from './testing/dns.ts';

const fx = authoritativeDns({ timeoutMs: 500, retries: 1 });
const dns = fx.server;

function serve(records: [string, string][]): void {
  dns.clear();
  for (const [name, value] of records) dns.add(name, { type: 'TXT', data: txtChunks(value) });
}

const verify = (raw: Buffer, now?: Date) => verifyMessage(
  { raw, clientIp: '192.0.2.1', helo: 'client.test', mailFrom: '', messageId: 'm' },
  { dns: fx.resolver, authservId: 'mx.test', minKeyBits: 1024, now },
);

const STALWART_CLOCK = new Date(1667843664 * 1000);

describe('Stalwart DKIM (every signature passes)', { skip: skipWithoutTestdata('stalwart-mail-auth') }, () => {
  for (const f of ['001', '002', '003', '004', '005', '006']) {
    test(`dkim/${f}.txt`, async () => {
      const { records, message } = loadKeyedMessage(`stalwart-mail-auth/resources/dkim/${f}.txt`);
      serve(records);
      const { section } = await verify(message, STALWART_CLOCK);
      assert.ok(section.dkim.length > 0, 'signatures found');
      for (const s of section.dkim) assert.equal(s.result, 'pass', `${s.domain}/${s.selector} ${s.algorithm}: ${s.reason}`);
    });
  }
});

describe('Stalwart ARC (chain passes, at least one DKIM pass)', { skip: skipWithoutTestdata('stalwart-mail-auth') }, () => {
  for (const f of ['001', '002']) {
    test(`arc/${f}.txt`, async () => {
      const { records, message } = loadKeyedMessage(`stalwart-mail-auth/resources/arc/${f}.txt`);
      serve(records);
      const { section } = await verify(message, STALWART_CLOCK);
      assert.equal(section.arc.result, 'pass', section.arc.reason);
      assert.ok(section.arc.chain.length >= 1);
      assert.ok(section.dkim.some((s) => s.result === 'pass'), JSON.stringify(section.dkim.map((s) => [s.domain, s.result, s.reason])));
    });
  }
});

test('RFC 8463 example: Ed25519 and RSA signatures both pass', { skip: skipWithoutTestdata('rfc8463-dkim') }, async () => {
  serve(loadTxtLines('rfc8463-dkim/dns-txt.txt'));
  const raw = readFileSync(testdataPath('rfc8463-dkim/signed-message.eml'));
  const { section } = await verify(raw);
  assert.deepEqual(section.dkim.map((s) => [s.algorithm, s.selector, s.result]), [['ed25519-sha256', 'brisbane', 'pass'], ['rsa-sha256', 'test', 'pass']]);
  assert.match(section.authenticationResults, /dkim=pass[^;]*header\.s=brisbane/);
  assert.match(section.authenticationResults, /dkim=pass[^;]*header\.s=test/);
});

test('RFC 8463 example with one byte of the body changed: both fail on the body hash', { skip: skipWithoutTestdata('rfc8463-dkim') }, async () => {
  serve(loadTxtLines('rfc8463-dkim/dns-txt.txt'));
  const raw = Buffer.from(readFileSync(testdataPath('rfc8463-dkim/signed-message.eml'), 'latin1').replace('Joe.', 'Joe!'), 'latin1');
  const { section } = await verify(raw);
  assert.deepEqual(section.dkim.map((s) => [s.result, s.bodyHashMatched]), [['fail', false], ['fail', false]]);
  assert.ok(section.dkim.every((s) => /body hash/.test(s.reason)));
});

test('RFC 6376 Appendix A example does not verify (its bh= is the relaxed body hash under c=simple)', { skip: skipWithoutTestdata('rfc6376-example') }, async () => {
  const pub = readFileSync(testdataPath('rfc6376-example/C-public-key.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, '');
  serve([['brisbane._domainkey.example.com', `v=DKIM1; p=${pub}`]]);
  const raw = Buffer.from(readFileSync(testdataPath('rfc6376-example/A.2-signed.eml'), 'utf8').replace(/\r?\n/g, '\r\n'));
  const { section } = await verify(raw);
  assert.equal(section.dkim.length, 1);
  assert.equal(section.dkim[0]!.result, 'fail');
  assert.match(section.dkim[0]!.reason, /body hash/);
});

describe('crymap real mail', { skip: skipWithoutTestdata('crymap-testdata') }, () => {
  before(() => serve(loadTxtLines('crymap-testdata/dkim-dns-txt.txt')));
  test('yahoo rsa-sha256 passes (clock at signing time)', async () => {
    const raw = readFileSync(testdataPath('crymap-testdata/dkim-yahoo-rsa-sha256.eml'));
    const { section } = await verify(raw, new Date(1703784697 * 1000 + 60000));
    assert.equal(section.dkim[0]!.result, 'pass', section.dkim[0]!.reason);
  });
  test('amazon: the amazon.co.jp key is gone, the amazonses.com signature passes', async () => {
    const raw = readFileSync(testdataPath('crymap-testdata/dkim-amazoncojp-2x-rsa-sha256.eml'));
    const { section } = await verify(raw, new Date(1694481247 * 1000 + 60000));
    const byDomain = Object.fromEntries(section.dkim.map((s) => [s.domain, s]));
    assert.equal(byDomain['amazonses.com']!.result, 'pass', byDomain['amazonses.com']!.reason);
    // RFC 6376 §6.1.2: PERMFAIL (no key for signature), written dkim=neutral (RFC 8601 §2.7.1: "not
    // otherwise able to be processed"), as mailauth's strict mode and the large receivers do.
    assert.equal(byDomain['amazon.co.jp']!.result, 'neutral');
    assert.match(byDomain['amazon.co.jp']!.reason, /no key/);
  });
});
