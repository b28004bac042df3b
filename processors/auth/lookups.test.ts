/**
 * Reputation lookups against test list zones served by Knot DNS on loopback (no test reaches the
 * Internet): URI domains of the body, sender domains and attachment hashes as symbols; refusal codes
 * and non-127 answers list nothing; a list that does not answer lists nothing; config errors name
 * the variable; the auth stage's process() emits them beside its verdict symbols.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError } from '../../runtime/config.ts';
import { loggerFor } from '../../runtime/log.ts';
import { testMailRecord, testMime } from '../../runtime/stage-testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { KnotServer, KNOTD, type ZoneRecord } from '../../infra/dns/knot.ts';
import { loadAuthConfig } from './config.ts';
import { DnsResolver, emptyStats } from './dns.ts';
import { lookupSymbols, lookupTargets, type LookupConfig } from './lookups.ts';
import { authService } from './service.ts';

const PAYLOAD = Buffer.from('MZ this is a known-bad attachment');
const SHA = createHash('sha256').update(PAYLOAD).digest('hex');
const Z = (name: string, value: string): ZoneRecord => ({ name, type: 'A', value });
const records: ZoneRecord[] = [
  Z('evil-shop.com.dbl.test', '127.0.1.2'),
  Z('phish.co.uk.dbl.test', '127.0.1.4'),
  Z('refused.org.dbl.test', '127.255.255.254'), // "query refused": lists nothing
  Z('wildcard.net.dbl.test', '203.0.113.9'), // a wildcarding resolver's answer: lists nothing
  Z('spammer.org.dbl.test', '127.0.1.2'),
  Z(`${SHA.slice(0, 32)}.${SHA.slice(32)}.hbl.test`, '127.0.3.1'),
];

const knot = new KnotServer();
let dns: DnsResolver;
before(async () => {
  if (!KNOTD) return;
  await knot.start({ test: records });
  dns = new DnsResolver({ servers: [{ host: '127.0.0.1', port: knot.port }], timeoutMs: 1000, retries: 0, cacheSize: 1000, maxTtl: 3600 });
});
after(() => knot.stop());

/**
 * A message with links, a sender domain and an attachment, and the MIME section the MIME stage
 * writes for it (built from the schema, runtime/stage-testing.ts testMime: the auth stage reads the
 * section, not the parser, which is another stage's code).
 */
function message(): MailRecord {
  const raw = Buffer.from([
    'From: Shop <offers@spammer.org>', 'To: bob@example.net', 'Subject: deals', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
    '--b', 'Content-Type: text/plain', '',
    'Buy at https://www.evil-shop.com/cart and https://login.phish.co.uk/x, see also http://refused.org/ http://wildcard.net/',
    'https://clean-site.com/ http://192.0.2.1/raw https://mail.invalid/x and https://evil-shop.com/again', '--b',
    'Content-Type: application/octet-stream; name="tool.bin"', 'Content-Disposition: attachment; filename="tool.bin"', 'Content-Transfer-Encoding: base64', '',
    PAYLOAD.toString('base64'), '--b--', '',
  ].join('\r\n'));
  const record = testMailRecord(raw, { mailFrom: 'bounce@mailer.spammer.org', rcptTo: ['bob@example.net'] });
  const mime = testMime({
    headers: { from: [{ name: 'Shop', address: 'offers@spammer.org', group: null }], to: [{ name: '', address: 'bob@example.net', group: null }], subject: 'deals' },
    urls: ['https://www.evil-shop.com/cart', 'https://login.phish.co.uk/x', 'http://refused.org/', 'http://wildcard.net/', 'https://clean-site.com/', 'http://192.0.2.1/raw', 'https://mail.invalid/x', 'https://evil-shop.com/again'],
    attachments: [{ filename: 'tool.bin', declaredType: 'application/octet-stream', sniffedType: null, disposition: 'attachment', size: PAYLOAD.length, sha256: SHA, flags: [], virus: null }],
    tags: ['has-text', 'has-attachments'],
  });
  return { ...record, mime };
}

const lists: LookupConfig = { uri: [{ zone: 'dbl.test', symbol: 'URIBL_DBL' }], sender: [{ zone: 'dbl.test', symbol: 'SENDER_DBL' }], hash: [{ zone: 'hbl.test', symbol: 'ATTACHMENT_HASH_LISTED' }], maxDomains: 20 };

describe('reputation lookups on Knot list zones', { skip: !KNOTD && 'knotd not installed (apt-get install -y knot)' }, () => {
  test('what is queried: registrable domains of the URLs (no IPs, no reserved TLDs, distinct), sender domains, attachment hashes', async () => {
    const t = lookupTargets(message(), 20);
    assert.deepEqual(t.uri, ['evil-shop.com', 'phish.co.uk', 'refused.org', 'wildcard.net', 'clean-site.com']);
    assert.deepEqual(t.sender, ['spammer.org']);
    assert.deepEqual(t.hash, [{ name: 'tool.bin', sha256: SHA }]);
    assert.deepEqual(lookupTargets(message(), 2).uri, ['evil-shop.com', 'phish.co.uk'], 'bounded');
  });

  test('hits become one symbol per list naming every listed item and its answer; refusals, wildcards and clean domains do not', async () => {
    const stats = emptyStats();
    const symbols = await lookupSymbols(message(), lists, dns, stats);
    assert.deepEqual(symbols, [
      { symbol: 'URIBL_DBL', score: null, options: ['evil-shop.com=127.0.1.2', 'phish.co.uk=127.0.1.4'] },
      { symbol: 'SENDER_DBL', score: null, options: ['spammer.org=127.0.1.2'] },
      { symbol: 'ATTACHMENT_HASH_LISTED', score: null, options: ['tool.bin=127.0.3.1'] },
    ]);
    assert.equal(stats.lookups, 7);
    assert.deepEqual(await lookupSymbols(message(), { uri: [], sender: [], hash: [], maxDomains: 20 }, dns, emptyStats()), [], 'no lists, no queries');
  });

  test('a list that does not answer lists nothing (and does not fail the message)', async () => {
    const silent = new DnsResolver({ servers: [{ host: '127.0.0.1', port: 9 }], timeoutMs: 100, retries: 0, cacheSize: 0, maxTtl: 0 });
    assert.deepEqual(await lookupSymbols(message(), lists, silent, emptyStats()), []);
  });

  test('the auth stage emits the list symbols beside its verdicts', async () => {
    const env = { DNS_SERVERS: `127.0.0.1:${knot.port}`, DNS_RETRIES: '0', AUTH_SERVID: 'mx.scop.test', AUTH_URI_LISTS: 'dbl.test=URIBL_DBL', AUTH_HASH_LISTS: 'hbl.test=ATTACHMENT_HASH_LISTED' };
    const state = authService.stage.init!({ env, log: loggerFor('lookups-test'), metrics: new Registry() } as never) as never;
    const r = await authService.stage.process(message(), { log: loggerFor('lookups-test'), recordId: 'r', state, signal: new AbortController().signal, source: { topic: 't', partition: 0, offset: '0', headers: {} }, emit: () => undefined });
    const names = r!.symbols!.map((s) => s.symbol);
    assert.ok(names.includes('URIBL_DBL') && names.includes('ATTACHMENT_HASH_LISTED') && names.some((n) => n.startsWith('SPF_')), names.join(' '));
    assert.ok(!names.includes('SENDER_DBL'), 'no sender list configured');
  });
});

test('list configuration: zone=SYMBOL pairs; a bad entry names the variable', () => {
  assert.deepEqual(loadAuthConfig({ AUTH_URI_LISTS: 'dbl.example.net=URIBL_DBL, Multi.Surbl.Example.= SURBL_MULTI' }).lookups.uri, [{ zone: 'dbl.example.net', symbol: 'URIBL_DBL' }, { zone: 'multi.surbl.example', symbol: 'SURBL_MULTI' }]);
  assert.deepEqual(loadAuthConfig({}).lookups, { uri: [], sender: [], hash: [], maxDomains: 20 }, 'off by default');
  for (const bad of ['dbl.example.net', 'dbl.example.net=uribl', 'localhost=URIBL', 'a..b=X', 'dbl.example.net=X=Y']) {
    assert.throws(() => loadAuthConfig({ AUTH_URI_LISTS: bad }), (e: unknown) => e instanceof ConfigError && /AUTH_URI_LISTS/.test(e.message), bad);
  }
});
