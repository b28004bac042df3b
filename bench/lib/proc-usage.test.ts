import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { formatUsage, pidsListeningOn, processTree, sampleTree, UsageProbe } from './proc-usage.ts';

it('finds the process listening on a port, and nobody on a closed one', async () => {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', () => ok()));
  const port = (srv.address() as { port: number }).port;
  try {
    assert.deepEqual(pidsListeningOn(port), [process.pid]);
  } finally {
    await new Promise((ok) => srv.close(ok));
  }
  assert.deepEqual(pidsListeningOn(port), []);
});

it('a tree holds the children; its CPU grows with work done and its RSS is the sum', async () => {
  // A child that burns CPU for ~300 ms, then waits to be killed.
  const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 300); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    const probe = new UsageProbe(() => ({ child: [child.pid!] }));
    probe.start();
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(processTree(process.pid).includes(child.pid!), 'the child is in this process\'s tree');
    const [row] = probe.stop();
    assert.equal(row!.name, 'child');
    assert.ok(row!.cpuMs >= 100, `CPU of the busy child: ${row!.cpuMs} ms`);
    assert.ok(row!.rssKb > 1000 && row!.hwmKb >= row!.rssKb, `RSS ${row!.rssKb} kB, peak ${row!.hwmKb} kB`);
    const own = sampleTree([process.pid]);
    assert.ok(own.pids.includes(child.pid!) && own.rssKb > row!.rssKb, 'the parent tree counts the child too');
  } finally {
    child.kill('SIGKILL');
  }
  assert.deepEqual(sampleTree([2 ** 22 + 7]), { cpuMs: 0, rssKb: 0, hwmKb: 0, pids: [] }, 'a pid that does not exist counts nothing');
});

it('formats CPU per message sorted by cost, and the memory total', () => {
  const f = formatUsage([{ name: 'a', cpuMs: 100, rssKb: 2048, hwmKb: 4096 }, { name: 'b', cpuMs: 300, rssKb: 1024, hwmKb: 1024 }], 10);
  assert.equal(f.cpu, '40.0 ms per message: b 30.0, a 10.0');
  assert.equal(f.rss, '3 MB at the end (peak 5 MB): a 2, b 1');
});
