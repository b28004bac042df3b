/**
 * Auth stage throughput, one process: messages verified per second (SPF + HELO SPF + 2 DKIM
 * signatures (RSA-2048, Ed25519) + ARC + DMARC + BIMI) against a real Knot DNS on loopback
 * (in-process DNS server if knotd is missing). Modes, measured in the same run:
 *   warm   verifyMessage() with a warm cache (the stage's steady state)
 *   raw    mailauth's own authenticate() (strict mode, as the stage) with the same warm resolver (baseline: our wrapper's cost)
 *   cold   verifyMessage() with the cache off: every lookup goes to the DNS server
 * Run: node --import tsx bench/auth.ts [seconds per mode, default 5]
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { authenticate } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { DnsResolver, emptyStats } from '../processors/auth/dns.ts';
import { verifyMessage } from '../processors/auth/verify.ts';
import { KnotServer, KNOTD, type ZoneRecord } from '../infra/dns/knot.ts';
import { TestDnsServer } from '../infra/dns/dns-server.ts';

const seconds = Number(process.argv[2] ?? 5);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');
const records: ZoneRecord[] = [
  { name: 'bench.test', type: 'TXT', value: 'v=spf1 ip4:192.0.2.0/24 include:_spf.bench.test -all' },
  { name: '_spf.bench.test', type: 'TXT', value: 'v=spf1 ip4:198.51.100.0/24 -all' },
  { name: 'mail.bench.test', type: 'TXT', value: 'v=spf1 a -all' },
  { name: 'mail.bench.test', type: 'A', value: '192.0.2.10' },
  { name: 'rsa._domainkey.bench.test', type: 'TXT', value: `v=DKIM1; p=${spki(rsa.publicKey)}` },
  { name: 'ed._domainkey.bench.test', type: 'TXT', value: `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}` },
  { name: '_dmarc.bench.test', type: 'TXT', value: 'v=DMARC1; p=reject; rua=mailto:agg@bench.test' },
  { name: 'default._bimi.bench.test', type: 'TXT', value: 'v=BIMI1; l=https://bench.test/logo.svg; a=' },
];

async function startDns(): Promise<{ port: number; stop: () => Promise<void>; kind: string }> {
  if (KNOTD) {
    const k = await new KnotServer().start({ test: records });
    return { port: k.port, stop: () => k.stop(), kind: 'Knot DNS (separate process)' };
  }
  const s = await new TestDnsServer().start();
  for (const r of records) s.add(r.name, r.type === 'TXT' ? { type: 'TXT', data: r.value } : { type: 'A', data: r.value });
  return { port: s.port, stop: () => s.stop(), kind: 'in-process DNS server' };
}

async function makeMessages(n: number): Promise<Buffer[]> {
  const body = `${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(60).replace(/(.{70})/g, '$1\r\n')}\r\n`;
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const raw = Buffer.from(`From: Bench <news@bench.test>\r\nTo: <user@example.net>\r\nSubject: bench ${i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <${i}@bench.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${body}`);
    const res = (await dkimSign(raw, { signatureData: [
      { signingDomain: 'bench.test', selector: 'rsa', privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), algorithm: 'rsa-sha256' },
      { signingDomain: 'bench.test', selector: 'ed', privateKey: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }), algorithm: 'ed25519-sha256' },
    ] } as never)) as { signatures: string };
    out.push(Buffer.concat([Buffer.from(res.signatures), raw]));
  }
  return out;
}

async function run(name: string, fn: (raw: Buffer, i: number) => Promise<void>, messages: Buffer[]): Promise<number> {
  // one second of warm-up (JIT, cache) that is not counted
  for (const w0 = performance.now(); performance.now() - w0 < 1000;) await fn(messages[0]!, 0);
  const t0 = performance.now();
  let n = 0;
  let lastPrint = t0;
  while (performance.now() - t0 < seconds * 1000) {
    await fn(messages[n % messages.length]!, n);
    n++;
    const now = performance.now();
    if (now - lastPrint >= 1000) {
      process.stdout.write(`  ${name}: ${n} messages, ${(n / ((now - t0) / 1000)).toFixed(0)}/s\n`);
      lastPrint = now;
    }
  }
  const rate = n / ((performance.now() - t0) / 1000);
  console.log(`${name.padEnd(5)} ${rate.toFixed(1)} messages/s (${n} in ${seconds} s)`);
  return rate;
}

const dns = await startDns();
try {
  console.log(`auth bench: ${seconds} s per mode, DNS from ${dns.kind} on 127.0.0.1:${dns.port}`);
  const messages = await makeMessages(50);
  const servers = [{ host: '127.0.0.1', port: dns.port }];
  const warm = new DnsResolver({ servers, timeoutMs: 2000, retries: 1, cacheSize: 10000, maxTtl: 3600 });
  const cold = new DnsResolver({ servers, timeoutMs: 2000, retries: 1, cacheSize: 0, maxTtl: 0 });
  const input = (raw: Buffer, i: number) => ({ raw, clientIp: '192.0.2.10', helo: 'mail.bench.test', mailFrom: 'bounce@bench.test', messageId: String(i) });
  const opts = { authservId: 'mx.bench.test', minKeyBits: 1024 };

  // sanity: the verdicts are what the zone says, so the numbers measure real work
  const { section } = await verifyMessage(input(messages[0]!, 0), { dns: warm, ...opts });
  const summary = `spf=${section.spf.result} dkim=${section.dkim.map((d) => d.result).join(',')} dmarc=${section.dmarc.result} bimi=${section.bimi.result}`;
  if (!/^spf=pass dkim=pass,pass dmarc=pass bimi=pass$/.test(summary)) throw new Error(`unexpected verdicts: ${summary}`);
  console.log(`verdicts: ${summary}; ${section.dns.lookups} DNS lookups per message`);

  const rawResolver = warm.forMessage(emptyStats());
  const rawRate = await run('raw', async (raw) => {
    await authenticate(raw, { ip: '192.0.2.10', helo: 'mail.bench.test', sender: 'bounce@bench.test', mta: 'mx.bench.test', resolver: rawResolver as never, strict: true } as never);
  }, messages);
  const warmRate = await run('warm', async (raw, i) => { await verifyMessage(input(raw, i), { dns: warm, ...opts }); }, messages);
  const coldRate = await run('cold', async (raw, i) => { await verifyMessage(input(raw, i), { dns: cold, ...opts }); }, messages);
  console.log(`ratios: warm/raw mailauth = ${(warmRate / rawRate).toFixed(2)}, warm/cold cache = ${(warmRate / coldRate).toFixed(2)}`);
  console.log(`cache: ${warm.cacheEntries} entries, ${warm.totals.cacheHits}/${warm.totals.lookups} lookups from cache`);
} finally {
  await dns.stop();
}
