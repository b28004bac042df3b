/**
 * What one crafted message costs each per-message stage, against a normal message of the same size
 * measured in the same run: MIME (parseMime), spam (spamInputFromMime + tokenize, as the stage does
 * from the MIME section) and auth (verifyMessage: SPF, DKIM, ARC, DMARC; DNS answered NXDOMAIN by an
 * in-process server). Each case runs in its own process so its peak RSS is its own.
 * Prints CPU ms per stage, the CPU per byte as a multiple of the normal message's, and the peak RSS.
 * Run: `npm run bench -- hostile-stages [--bytes N] [--only name,name]` (default 8 MiB;
 * INGRESS_MAX_MESSAGE_BYTES is 25 MiB).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseMime } from '../processors/mime/parse.ts';
import { spamInputFromMime } from '../processors/spam/input.ts';
import { tokenize } from '../processors/spam/tokenizer.ts';
import { verifyMessage } from '../processors/auth/verify.ts';
import { DnsResolver } from '../processors/auth/dns.ts';
import { TestDnsServer } from '../infra/dns/dns-server.ts';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i >= 0 ? process.argv[i + 1] : undefined; };
const BYTES = Number(arg('--bytes') ?? 8 * 1024 * 1024);

const HEAD = 'From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n';
const fill = (unit: string, bytes = BYTES) => unit.repeat(Math.max(1, Math.floor(bytes / unit.length)));
const words = 'the quick brown fox jumps over the lazy dog and then some more ordinary words follow here\r\n';
const b64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');
const mixed = (body: string, boundary = 'b') => `${HEAD}Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n${body}`;

/** Each builds a message of about BYTES bytes. */
const CASES: Record<string, () => string> = {
  'normal text': () => `${HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n${fill(words)}`,
  'normal text+html+attachment': () => mixed(`--b\r\nContent-Type: text/plain\r\n\r\n${fill(words, 64 * 1024)}\r\n--b\r\nContent-Type: text/html\r\n\r\n<html><body>${fill('<p>Some <b>text</b> and a <a href="https://example.org/x">link</a>.</p>\r\n', 64 * 1024)}</body></html>\r\n--b\r\nContent-Type: application/pdf; name="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(randomBytes(Math.floor(BYTES * 0.72)))}\r\n--b--\r\n`),
  'deep multipart nesting': () => { const n = Math.floor(BYTES / 80); let s = ''; for (let i = 0; i < n; i++) s += `--${i}\r\nContent-Type: multipart/mixed; boundary="${i + 1}"\r\n\r\n`; return mixed(s, '0'); },
  'many parts (tiny)': () => mixed(`${fill('--b\r\nContent-Type: text/plain\r\n\r\nx\r\n')}--b--\r\n`),
  'many headers': () => `${fill('X-Filler: some value that is ordinary\r\n')}${HEAD}\r\nbody\r\n`,
  'many addresses (one To:)': () => `${HEAD}To: ${fill('a@example.org, ', BYTES - 200)}b@example.org\r\n\r\nbody\r\n`,
  'encoded words (long Subject)': () => `${HEAD}X-Note: 1\r\nSubject: ${fill('=?utf-8?B?w6k=?= ')}\r\n\r\nbody\r\n`.replace('Subject: hello\r\n', ''),
  'encoded words (text/plain body)': () => `${HEAD}Content-Type: text/plain\r\n\r\n${fill('=?utf-8?Q?a?= ')}\r\n`,
  'html: unclosed tags': () => `${HEAD}Content-Type: text/html\r\n\r\n${fill('<div>')}`,
  'html: deep nesting': () => `${HEAD}Content-Type: text/html\r\n\r\n${fill('<b>', BYTES / 2)}x${fill('</b>', BYTES / 2)}`,
  'html: huge attribute list': () => `${HEAD}Content-Type: text/html\r\n\r\n<a ${fill('x=1 ')}href="https://e.org/">y</a>`,
  'html: unclosed comment': () => `${HEAD}Content-Type: text/html\r\n\r\n<p>a</p><!--${fill('<p>b</p>')}`,
  'html: many anchors': () => `${HEAD}Content-Type: text/html\r\n\r\n${fill('<a href="http://x.example/a">l</a>')}`,
  'html: entity soup': () => `${HEAD}Content-Type: text/html\r\n\r\n${fill('&amp;&#x41;&#65;&nbsp;&lt')}`,
  'base64 garbage': () => mixed(`--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${fill('!@#$%^&*()_+{}|:"<>?~`\r\n')}\r\n--b--\r\n`),
  'quoted-printable soft breaks': () => `${HEAD}Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${fill('=\r\n')}x\r\n`,
  'one long line': () => `${HEAD}Content-Type: text/plain\r\n\r\n${fill('abcdefgh ')}\r\n`,
  'nested message/rfc822': () => { const n = Math.floor(BYTES / 120); const h = 'Subject: x\r\nContent-Type: message/rfc822\r\n\r\n'; return `${HEAD}Content-Type: message/rfc822\r\n\r\n${h.repeat(n)}body\r\n`; },
  'attached messages nested 9 deep': () => { let m = `Subject: in\r\nContent-Type: text/plain\r\n\r\n${fill(words, BYTES - 4000)}`; for (let i = 0; i < 9; i++) m = `Subject: ${i}\r\nContent-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="m${i}.eml"\r\n\r\n${m}\r\n--n${i}--\r\n`; return `${HEAD}${m}`.replace('Subject: hello\r\n', ''); },
  'many attachments (zip)': () => { const zip = Buffer.concat([Buffer.from('504b0304140000000000', 'hex'), randomBytes(2000)]); return mixed(`${fill(`--b\r\nContent-Type: application/zip; name="a.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(zip)}\r\n`)}--b--\r\n`); },
  'many DKIM-Signature headers': () => `${fill('DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA; l=5\r\n', BYTES / 2)}${HEAD}\r\n${fill(words, BYTES / 2)}`,
  'many Received headers': () => `${fill('Received: from a (b [192.0.2.1]) by c with ESMTP id x; Mon, 1 Jan 2024 10:00:00 +0000\r\n')}${HEAD}\r\nbody\r\n`,
};

interface Result { name: string; bytes: number; mimeMs: number; spamMs: number; authMs: number; rssMb: number; note: string }

async function runCase(name: string): Promise<Result> {
  const raw = Buffer.from(CASES[name]!(), 'latin1');
  const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
  const dns = new TestDnsServer();
  await dns.start();
  const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: dns.port }], timeoutMs: 2000, retries: 0, cacheSize: 0, maxTtl: 0 });
  let t = cpu();
  const mime = await parseMime(raw);
  const mimeMs = cpu() - t;
  t = cpu();
  tokenize(spamInputFromMime(mime, raw, null, null));
  const spamMs = cpu() - t;
  t = cpu();
  await verifyMessage({ raw, clientIp: '192.0.2.1', helo: 'mx.example.org', mailFrom: 'alice@example.org', messageId: 'x' }, { dns: resolver, authservId: 'mx.test', minKeyBits: 1024 });
  const authMs = cpu() - t;
  await dns.stop();
  const note = `parts ${mime.parts}, depth ${mime.depth}, ${mime.tags.join(' ')}`.trim();
  return { name, bytes: raw.length, mimeMs, spamMs, authMs, rssMb: process.resourceUsage().maxRSS / 1024, note };
}

const only = arg('--case');
if (only) {
  console.log(JSON.stringify(await runCase(only)));
} else {
  const names = arg('--only')?.split(',') ?? Object.keys(CASES);
  const self = fileURLToPath(import.meta.url);
  const results: Result[] = [];
  for (const name of ['normal text', ...names.filter((n) => n !== 'normal text')]) {
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--case', name, '--bytes', String(BYTES)], { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 });
      results.push(JSON.parse(out.trim().split('\n').pop()!) as Result);
    } catch (e) {
      console.log(`${name}: failed (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    const r = results[results.length - 1]!;
    const base = results[0]!;
    const per = (ms: number, baseMs: number) => ((ms / r.bytes) / (Math.max(baseMs, 0.5) / base.bytes)).toFixed(1);
    console.log(`${r.name.padEnd(32)} ${(r.bytes / 1048576).toFixed(1).padStart(5)} MiB  mime ${r.mimeMs.toFixed(0).padStart(6)} ms (${per(r.mimeMs, base.mimeMs).padStart(6)}×)  spam ${r.spamMs.toFixed(0).padStart(6)} ms (${per(r.spamMs, base.spamMs).padStart(6)}×)  auth ${r.authMs.toFixed(0).padStart(6)} ms (${per(r.authMs, base.authMs).padStart(6)}×)  peak RSS ${r.rssMb.toFixed(0).padStart(5)} MB  ${r.note}`);
  }
}
