/**
 * The end-to-end bench itself, run small on the test stack: it must deliver every message it sends, in
 * both deployments and in its open-loop phase, and say so in its exit code. No timing is asserted (speed
 * targets are ratios the bench prints, bench/README.md); this only keeps the bench from breaking
 * unnoticed — once its copies of each corpus file were taken for a sender's retransmissions and it
 * hung at 10 of 1,000 delivered, with nothing in `npm test` to say so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');

function runBench(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'e2e.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.once('exit', (code) => done({ code, out, err }));
  });
}

test('bench e2e, small (fused deployment): every message delivered, in the closed and the open loop (2 copies of each corpus file)', { timeout: 420_000 }, async () => {
  assert.ok(process.env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL, 'run through npm test (it starts Kafka and the registry)');
  // 20 messages from 10 corpus files: each file is sent twice, so the copies must count as messages of their own.
  // One deployment (the other runs the same bench code; e2e/ tests both pipelines), to keep npm test short.
  const r = await runBench(['20', '2'], { BENCH_RSPAMD: 'off', BENCH_DEPLOYMENT: 'fused', BENCH_OPEN_LOOP_N: '10', BENCH_TIME_LIMIT_MS: '120000' });
  assert.equal(r.code, 0, `bench exited ${r.code}\n${r.out}\n${r.err.slice(-3000)}`);
  assert.ok(!r.out.includes('e2e [separate]'), 'BENCH_DEPLOYMENT=fused runs one deployment');
  for (const d of ['fused']) {
    const section = r.out.slice(r.out.indexOf(`e2e [${d}]`));
    assert.ok(r.out.includes(`e2e [${d}]`), `a report for ${d}:\n${r.out}`);
    assert.match(section, /delivered: 20 in /, `${d}: all 20 delivered`);
    assert.match(section, /10 offered, 10 accepted, 0 refused.*, 10 delivered in/, `${d}: the open loop delivered what it offered`);
  }
  assert.match(r.out, /rspamd: SKIPPED — BENCH_RSPAMD=off/);
});

test('bench e2e: bad arguments are refused with the usage, before anything starts', async () => {
  const r = await runBench(['0', 'x'], { BENCH_RSPAMD: 'off' });
  assert.equal(r.code, 2);
  assert.match(r.err, /usage: bench\/e2e\.ts \[N ≥ 1\] \[sessions ≥ 1\]/);
});
