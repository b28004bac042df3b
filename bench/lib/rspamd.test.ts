import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { it } from 'node:test';
import { TestDnsServer } from '../../infra/dns/dns-server.ts';
import { rspamdMissing, scanParallel, startRspamd, trainBayes } from './rspamd.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const missing = rspamdMissing();

// Rspamd is optional (benchmarks only, not in CI's packages): skipped where it is not installed.
it('starts Rspamd on loopback with its DNS on the given server, learns, scans in parallel and stops', { skip: missing, timeout: 300_000 }, async () => {
  const dns = new TestDnsServer();
  await dns.start();
  // Kept between runs: the compiled Hyperscan cache makes later starts fast.
  const dir = join(ROOT, '.data', 'test', 'rspamd');
  const r = await startRspamd(dir, dns.address);
  try {
    assert.match(r.normal, /^127\.0\.0\.1:\d+$/);
    assert.match(r.controller, /^127\.0\.0\.1:\d+$/);
    mkdirSync(join(dir, 'msgs'), { recursive: true });
    const files = ['spam', 'ham'].map((kind, i) => {
      const f = join(dir, 'msgs', `${kind}.eml`);
      writeFileSync(f, `From: a${i}@sender.example\nTo: b@example.net\nSubject: ${kind} ${i}\nMessage-ID: <${kind}@sender.example>\nDate: Sun, 6 Dec 2026 10:00:00 +0000\n\n${`${kind} words here and there, `.repeat(20)}\n`);
      return f;
    });
    if (r.bayes) await trainBayes(r, [files[0]!], [files[1]!]);
    const res = await scanParallel(r, [...files, ...files, ...files], { ip: '192.0.2.10', helo: 'sender.example', from: 'a0@sender.example', rcpt: 'b@example.net' }, 4);
    assert.equal(res.scanned, 6);
    // SPF for the envelope domain was asked of our loopback server, not of the world.
    assert.ok(dns.log.some((q) => /sender\.example/i.test(q)), `DNS questions: ${dns.log.slice(0, 10).join(', ')}`);
  } finally {
    await r.stop();
    await dns.stop();
  }
  for (const pids of Object.values(r.processes)) for (const p of pids) assert.equal(existsSync(`/proc/${p}/status`) && !/^State:\s+Z/m.test((await import('node:fs')).readFileSync(`/proc/${p}/status`, 'utf8')), false, `process ${p} stopped`);
});
