/**
 * Test helpers: verify DKIM signatures with two verifiers that share no code with the signer's
 * formatting path: dkimpy (Debian python3-dkim, the library of `dkimverify`, via
 * dkimpy-verify.py) and mailauth's verifier, both fetching keys over real DNS from `dns`.
 */
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./dkimpy-verify.py', import.meta.url));

export interface PyResult { d: string; s: string; a: string; ok: boolean; error: string | null }

/** Skip reason when python3-dkim is missing (infra/debian-packages.txt lists it). */
export function dkimpyMissing(): string | false {
  return existsSync('/usr/lib/python3/dist-packages/dkim/__init__.py') ? false : 'python3-dkim not installed: apt-get install -y python3-dkim';
}

export function dkimpyVerify(message: Buffer, dns: { host: string; port: number }): Promise<PyResult[]> {
  return new Promise((ok, fail) => {
    const p = spawn(PYTHON, [SCRIPT, dns.host, String(dns.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', fail);
    p.on('close', (code) => {
      if (code !== 0) return fail(new Error(`dkimpy-verify exited ${code}: ${err}`));
      try { ok(JSON.parse(out) as PyResult[]); } catch (e) { fail(new Error(`dkimpy-verify: ${(e as Error).message}: ${out} ${err}`)); }
    });
    p.stdin.end(message);
  });
}

export async function mailauthVerify(message: Buffer, dns: { host: string; port: number }): Promise<{ d: string; s: string; a: string; result: string; comment: string }[]> {
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`${dns.host}:${dns.port}`]);
  const res = await dkimVerify(message, { resolver: (name: string, type: string) => r.resolve(name, type as 'TXT'), strict: true } as never) as unknown as { results: { signingDomain: string; selector: string; algo: string; status: { result: string; comment?: string } }[] };
  return res.results.map((x) => ({ d: x.signingDomain, s: x.selector, a: x.algo, result: x.status.result, comment: x.status.comment ?? '' }));
}
