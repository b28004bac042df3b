/**
 * DKIM verification amplification: what a message with many DKIM-Signature fields, each with its
 * own l= (so each asks for its own pass over the body), costs the auth stage's verifyMessage,
 * against one signature over the same body measured in the same run.
 *   one       1 signature                                    (the baseline)
 *   capped    200 signatures, AUTH_DKIM_MAX_SIGNATURES=5 (the default): 5 verified, 195 not checked
 *   uncapped  50 signatures, all verified (the highest limit the configuration allows)
 * Without the limit the cost grows with the number of signatures: 200 over 5 MiB took ~5 s where
 * one took ~0.08 s on the code before the limit.
 * Run: `npm run bench -- dkim-amplification [MiB] [rounds]` (default 5 MiB, 3 rounds, medians).
 */
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { DnsResolver } from '../processors/auth/dns.ts';
import { verifyMessage } from '../processors/auth/verify.ts';

const mib = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
const dns = new TestDnsServer();
await dns.start();
const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: dns.port }], timeoutMs: 200, retries: 0, cacheSize: 0, maxTtl: 0 });

const line = 'The quick brown fox jumps over the lazy dog, again and again.\r\n';
const body = line.repeat(Math.ceil((mib * 1048576) / line.length));
const sig = (i: number) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=amp.test; s=s${i}; l=${body.length - i}; h=from:subject; bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; b=AAAA\r\n`;
const message = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => sig(i)).join('') + 'From: a@amp.test\r\nSubject: x\r\n\r\n' + body);

async function ms(raw: Buffer, maxDkimSignatures: number): Promise<number> {
  const t0 = performance.now();
  await verifyMessage({ raw, clientIp: '192.0.2.1', helo: 'h.test', mailFrom: '', messageId: 'r' }, { dns: resolver, authservId: 'mx.test', minKeyBits: 1024, maxDkimSignatures });
  return performance.now() - t0;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const modes = { one: [message(1), 5], capped: [message(200), 5], uncapped: [message(50), 50] } as const;
const times: Record<keyof typeof modes, number[]> = { one: [], capped: [], uncapped: [] };
await ms(modes.one[0], 5); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, [raw, max]] of Object.entries(modes) as [keyof typeof modes, readonly [Buffer, number]][]) times[name].push(await ms(raw, max));
}
dns.stop();
const one = median(times.one);
console.log(`node ${process.version}; body ${mib} MiB; ${rounds} rounds, medians`);
for (const name of Object.keys(modes) as (keyof typeof modes)[]) {
  console.log(`${name.padEnd(9)} ${median(times[name]).toFixed(0).padStart(6)} ms  ×${(median(times[name]) / one).toFixed(1).padStart(5)} one signature  (rounds ${times[name].map((t) => t.toFixed(0)).join(' ')})`);
}
