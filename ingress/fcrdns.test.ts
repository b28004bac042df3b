/**
 * Forward-confirmed reverse DNS of the SMTP client, black-box over SMTP against a real DNS server on
 * loopback (infra/dns/dns-server.ts: it speaks DNS over UDP/TCP and can leave one name unanswered,
 * which the timeout case needs): the ingress looks the client's PTR up through INGRESS_DNS_SERVERS,
 * checks that the name resolves back to the client, records the result in the envelope
 * (clientHostnameConfirmed) and writes "unknown" in its Received header for a name that does not
 * resolve back — and a DNS that fails or never answers is "not checked", never a refusal or a hang.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import type { MailRecord } from '../schemas/types.ts';
import { DnsCache } from './dns-cache.ts';
import { clientNames, confirmClientHostname, looksLikeHostname, MAX_PTR_NAMES } from './fcrdns.ts';
import { metricValue, readRecords, recordIdOf, sampleMessage, SmtpClient, startTestIngress, type TestIngress } from './testkit.ts';

// The default: an answered query must never time out on a loaded box; the timeout case waits 2 × this at most.
const DNS_TIMEOUT_MS = 2000;

/** Client address → its PTR name(s), in answer order, and how each name's A lookup goes. */
const CLIENTS = {
  confirmed: { ip: '127.0.90.1', ptr: 'good.rdns.test' },
  otherAddress: { ip: '127.0.90.2', ptr: 'liar.rdns.test' },
  nxdomain: { ip: '127.0.90.3', ptr: 'gone.rdns.test' },
  timeout: { ip: '127.0.90.4', ptr: 'slow.rdns.test' },
  servfail: { ip: '127.0.90.5', ptr: 'broken.rdns.test' },
  noPtr: { ip: '127.0.90.6', ptr: null },
  noA: { ip: '127.0.90.7', ptr: 'v6only.rdns.test' },
  // Several PTR names: the third resolves back (the first elsewhere, the second never answers).
  thirdOfThree: { ip: '127.0.90.8', ptr: ['liar.rdns.test', 'slow.rdns.test', 'third.rdns.test'] },
  // Only the fourth resolves back: past the bound of 3 names, not looked up.
  fourthOfFour: { ip: '127.0.90.9', ptr: ['liar.rdns.test', 'gone.rdns.test', 'v6only.rdns.test', 'fourth.rdns.test'] },
  // One name resolves elsewhere, the other fails: not settled, the name that may still be right kept.
  falseThenServfail: { ip: '127.0.90.10', ptr: ['liar.rdns.test', 'broken.rdns.test'] },
} as const;

const namesOf = (ptr: string | readonly string[] | null): readonly string[] => (ptr === null ? [] : typeof ptr === 'string' ? [ptr] : ptr);

const ptrOwner = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;

describe('client reverse DNS, forward-confirmed', () => {
  const dns = new TestDnsServer();
  let t: TestIngress;
  /** Record id → the envelope and the ingress's Received header. */
  const sent = new Map<string, keyof typeof CLIENTS>();
  let records: Map<keyof typeof CLIENTS, { record: MailRecord; received: string; ms: number }>;

  before(async () => {
    for (const c of Object.values(CLIENTS)) if (c.ptr) dns.set(ptrOwner(c.ip), namesOf(c.ptr).map((data) => ({ type: 'PTR', data })));
    dns.set('good.rdns.test', [{ type: 'A', data: '127.0.90.1' }, { type: 'A', data: '192.0.2.1' }]);
    dns.set('third.rdns.test', [{ type: 'A', data: '127.0.90.8' }]);
    dns.set('fourth.rdns.test', [{ type: 'A', data: '127.0.90.9' }]);
    dns.set('liar.rdns.test', [{ type: 'A', data: '127.0.0.99' }]);
    dns.set('slow.rdns.test', 'timeout');
    dns.set('broken.rdns.test', 'servfail');
    dns.set('v6only.rdns.test', [{ type: 'AAAA', data: '2001:db8::7' }]);
    // gone.rdns.test and 6.90.0.127.in-addr.arpa: not in the zone → NXDOMAIN.
    await dns.start();
    t = await startTestIngress({
      name: 'fcrdns',
      env: { INGRESS_REVERSE_DNS: 'true', INGRESS_DNS_SERVERS: dns.address, INGRESS_DNS_TIMEOUT_MS: String(DNS_TIMEOUT_MS), INGRESS_LOCAL_DOMAINS: 'example.net' },
    });
    const timings = new Map<keyof typeof CLIENTS, number>();
    await Promise.all(Object.entries(CLIENTS).map(async ([kind, c]) => {
      const started = Date.now();
      const s = await SmtpClient.connect(t.ingress.ports.MX!, { localAddress: c.ip });
      assert.equal((await s.reply()).code, 220, kind);
      await s.cmd('EHLO client.example.org');
      assert.equal((await s.cmd('MAIL FROM:<someone@sender.test>')).code, 250, kind);
      assert.equal((await s.cmd('RCPT TO:<bob@example.net>')).code, 250, kind);
      const reply = await s.data(sampleMessage({ subject: `fcrdns ${kind}` }));
      assert.equal(reply.code, 250, `${kind}: accepted whatever the DNS says (${reply.text})`);
      timings.set(kind as keyof typeof CLIENTS, Date.now() - started);
      sent.set(recordIdOf(reply)!, kind as keyof typeof CLIENTS);
      await s.cmd('QUIT');
      s.close();
    }));
    const all = await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => [...sent.keys()].every((id) => r.some((x) => x.envelope.id === id)));
    records = new Map(all.filter((r) => sent.has(r.envelope.id)).map((r) => {
      const kind = sent.get(r.envelope.id)!;
      return [kind, { record: r, received: r.envelope.raw.subarray(0, r.envelope.traceLength).toString('utf8'), ms: timings.get(kind)! }];
    }));
  });
  after(async () => {
    await t?.stop();
    await dns.stop();
  });

  it('a name whose A records include the client: confirmed, named in Received', () => {
    const { record, received } = records.get('confirmed')!;
    assert.equal(record.envelope.clientHostname, 'good.rdns.test');
    assert.equal(record.envelope.clientHostnameConfirmed, true);
    assert.match(received, /^Received: from client\.example\.org \(good\.rdns\.test \[127\.0\.90\.1\]\)/);
  });

  it('a name that resolves elsewhere, does not exist, or has no A record: not confirmed, "unknown" in Received, the PTR name kept in the envelope', () => {
    for (const kind of ['otherAddress', 'nxdomain', 'noA'] as const) {
      const { record, received } = records.get(kind)!;
      assert.equal(record.envelope.clientHostname, CLIENTS[kind].ptr, kind);
      assert.equal(record.envelope.clientHostnameConfirmed, false, kind);
      assert.ok(received.startsWith(`Received: from client.example.org (unknown [${CLIENTS[kind].ip}])`), `${kind}: ${received}`);
    }
  });

  it('a forward lookup that times out or fails: not checked (null), the name as before, the message accepted within the deadline', () => {
    for (const kind of ['timeout', 'servfail'] as const) {
      const { record, received } = records.get(kind)!;
      assert.equal(record.envelope.clientHostname, CLIENTS[kind].ptr, kind);
      assert.equal(record.envelope.clientHostnameConfirmed, null, kind);
      assert.ok(received.startsWith(`Received: from client.example.org (${CLIENTS[kind].ptr} [${CLIENTS[kind].ip}])`), `${kind}: ${received}`);
    }
    // The deadline is 2 × INGRESS_DNS_TIMEOUT_MS from connect; a generous bound for a loaded box, far under a hang (the SMTP clock is minutes).
    assert.ok(records.get('timeout')!.ms < 15_000, `the timeout client took ${records.get('timeout')!.ms} ms`);
  });

  it('no PTR record: no name, nothing to confirm (null), "unknown" in Received', () => {
    const { record, received } = records.get('noPtr')!;
    assert.equal(record.envelope.clientHostname, null);
    assert.equal(record.envelope.clientHostnameConfirmed, null);
    assert.match(received, /^Received: from client\.example\.org \(unknown \[127\.0\.90\.6\]\)/);
  });

  it('several PTR names: any of the first three that resolves back confirms the client and becomes its name (envelope and Received)', () => {
    const { record, received } = records.get('thirdOfThree')!;
    assert.equal(record.envelope.clientHostname, 'third.rdns.test');
    assert.equal(record.envelope.clientHostnameConfirmed, true);
    assert.match(received, /^Received: from client\.example\.org \(third\.rdns\.test \[127\.0\.90\.8\]\)/);
  });

  it('several PTR names: a fourth is not looked up (not confirmed, the first name kept, "unknown" in Received); a definite no and a failure leave it unsettled with the name that may be right', () => {
    const past = records.get('fourthOfFour')!;
    assert.equal(past.record.envelope.clientHostname, 'liar.rdns.test');
    assert.equal(past.record.envelope.clientHostnameConfirmed, false);
    assert.ok(past.received.startsWith('Received: from client.example.org (unknown [127.0.90.9])'), past.received);
    assert.ok(!dns.log.includes('A fourth.rdns.test'), 'at most three names are looked up');
    const mixed = records.get('falseThenServfail')!;
    assert.equal(mixed.record.envelope.clientHostname, 'broken.rdns.test');
    assert.equal(mixed.record.envelope.clientHostnameConfirmed, null);
    assert.ok(mixed.received.startsWith('Received: from client.example.org (broken.rdns.test [127.0.90.10])'), mixed.received);
  });

  it('a second connection from the same client while its PTR answer is cached gets the same name and result (the cached answer is not consumed)', async () => {
    const s = await SmtpClient.connect(t.ingress.ports.MX!, { localAddress: CLIENTS.thirdOfThree.ip });
    assert.equal((await s.reply()).code, 220);
    await s.cmd('EHLO client.example.org');
    assert.equal((await s.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    assert.equal((await s.cmd('RCPT TO:<bob@example.net>')).code, 250);
    const reply = await s.data(sampleMessage({ subject: 'fcrdns again' }));
    assert.equal(reply.code, 250);
    await s.cmd('QUIT');
    s.close();
    const id = recordIdOf(reply)!;
    const [again] = (await readRecords(t.kafka, t.codec, t.topics.inbound, (r) => r.some((x) => x.envelope.id === id))).filter((r) => r.envelope.id === id);
    assert.deepEqual([again!.envelope.clientHostname, again!.envelope.clientHostnameConfirmed], ['third.rdns.test', true]);
  });

  it('the reverse lookup went to INGRESS_DNS_SERVERS, and each check is counted by result', async () => {
    assert.ok(dns.log.includes(`PTR ${ptrOwner(CLIENTS.confirmed.ip)}`), dns.log.join(' '));
    assert.ok(dns.log.includes('A good.rdns.test'));
    assert.equal(await metricValue(t.metrics, 'scop_ingress_client_fcrdns_total', { result: 'confirmed' }), 3, 'confirmed, thirdOfThree twice');
    assert.equal(await metricValue(t.metrics, 'scop_ingress_client_fcrdns_total', { result: 'not_confirmed' }), 4);
    assert.equal(await metricValue(t.metrics, 'scop_ingress_client_fcrdns_total', { result: 'temperror' }), 3);
  });

  it('an IPv6 client is checked against AAAA only (an IPv4-mapped one against A), and the deadline holds when the DNS never answers', async () => {
    const cache = new DnsCache({ servers: [dns.address], timeoutMs: DNS_TIMEOUT_MS, size: 100 });
    dns.set('six.rdns.test', [{ type: 'AAAA', data: '2001:db8::1:0:0:7' }, { type: 'A', data: '192.0.2.7' }]);
    assert.equal((await confirmClientHostname({ dns: cache, ip: '2001:db8:0:0:1::7', hostnames: ['six.rdns.test'], deadlineMs: 10_000 })).confirmed, true, 'IPv6 forms compared normalised');
    assert.ok(dns.log.includes('AAAA six.rdns.test') && !dns.log.includes('A six.rdns.test'), `only AAAA asked for an IPv6 client: ${dns.log.join(' ')}`);
    assert.equal((await confirmClientHostname({ dns: cache, ip: '192.0.2.7', hostnames: ['six.rdns.test.'], deadlineMs: 10_000 })).confirmed, true, 'a trailing dot is the same name');
    assert.equal((await confirmClientHostname({ dns: cache, ip: '::ffff:192.0.2.7', hostnames: ['six.rdns.test'], deadlineMs: 10_000 })).confirmed, true);
    assert.equal((await confirmClientHostname({ dns: cache, ip: '2001:db8::8', hostnames: ['six.rdns.test'], deadlineMs: 10_000 })).confirmed, false);
    dns.set('silent.rdns.test', 'timeout');
    // A resolver whose own timeout is far past the deadline: the deadline alone ends the wait.
    const slow = new DnsCache({ servers: [dns.address], timeoutMs: 3000, size: 100 });
    const started = Date.now();
    const r = await confirmClientHostname({ dns: slow, ip: '192.0.2.8', hostnames: ['silent.rdns.test'], deadlineMs: 300 });
    assert.deepEqual([r.confirmed, r.result], [null, 'temperror']);
    assert.ok(Date.now() - started < 2500, `settled after ${Date.now() - started} ms`);
  });

  it('several names are looked up concurrently within one deadline: the first that resolves back settles it, names that never answer do not hold it up', async () => {
    const slow = new DnsCache({ servers: [dns.address], timeoutMs: 3000, size: 100 });
    dns.set('quiet-1.rdns.test', 'timeout');
    dns.set('quiet-2.rdns.test', 'timeout');
    dns.set('found.rdns.test', [{ type: 'A', data: '192.0.2.9' }]);
    let started = Date.now();
    const r = await confirmClientHostname({ dns: slow, ip: '192.0.2.9', hostnames: ['quiet-1.rdns.test', 'quiet-2.rdns.test', 'found.rdns.test'], deadlineMs: 2000 });
    assert.deepEqual([r.confirmed, r.result, r.hostname], [true, 'confirmed', 'found.rdns.test'], r.detail);
    assert.ok(Date.now() - started < 1500, `settled after ${Date.now() - started} ms: one after the other would wait for the silent names`);
    // None resolves back and two never answer: the deadline settles it, on the first name that may still be right.
    started = Date.now();
    const open = await confirmClientHostname({ dns: slow, ip: '192.0.2.10', hostnames: ['found.rdns.test', 'quiet-1.rdns.test', 'quiet-2.rdns.test'], deadlineMs: 400 });
    assert.deepEqual([open.confirmed, open.result, open.hostname], [null, 'temperror', 'quiet-1.rdns.test'], open.detail);
    assert.match(open.detail, /found\.rdns\.test: 192\.0\.2\.9; quiet-1\.rdns\.test: no A answer within 400 ms/);
    assert.ok(Date.now() - started < 2500, `settled after ${Date.now() - started} ms`);
    // At most MAX_PTR_NAMES names are looked up, duplicates and a trailing dot counted once.
    dns.log.length = 0;
    const many = await confirmClientHostname({ dns: slow, ip: '192.0.2.11', hostnames: ['a.rdns.test', 'a.rdns.test.', 'b.rdns.test', 'c.rdns.test', 'd.rdns.test'], deadlineMs: 5000 });
    assert.equal(many.result, 'not_confirmed');
    assert.deepEqual(dns.log.filter((l) => l.startsWith('A ')).sort(), ['A a.rdns.test', 'A b.rdns.test', 'A c.rdns.test'].slice(0, MAX_PTR_NAMES));
  });

  it('the names checked are the PTR answer, in order, host names only: a name with other characters is never looked up nor shown', async () => {
    const cache = new DnsCache({ servers: [dns.address], timeoutMs: DNS_TIMEOUT_MS, size: 100 });
    dns.set(ptrOwner('127.0.91.1'), [{ type: 'PTR', data: 'bad name.rdns.test' }, { type: 'PTR', data: 'ok-1.rdns.test' }, { type: 'PTR', data: 'ok_2.rdns.test' }, { type: 'PTR', data: 'ok-3.rdns.test' }, { type: 'PTR', data: 'ok-4.rdns.test' }]);
    assert.deepEqual(await clientNames(cache, '127.0.91.1', 'bad name.rdns.test'), ['ok-1.rdns.test', 'ok_2.rdns.test', 'ok-3.rdns.test']);
    // No answer to be had (NXDOMAIN now): the name smtp-server shows.
    assert.deepEqual(await clientNames(cache, '127.0.91.2', 'shown.rdns.test'), ['shown.rdns.test']);
    for (const bad of ['a..b', '-a.b', 'a-.b', 'a\r\nb', 'a b', `${'a'.repeat(64)}.b`, `${'a.'.repeat(127)}ab`, '']) assert.equal(looksLikeHostname(bad), false, JSON.stringify(bad));
    for (const good of ['a', 'a.b.', 'mail-1.example.org', '_x.example', `${'a'.repeat(63)}.b`]) assert.equal(looksLikeHostname(good), true, good);
  });
});
