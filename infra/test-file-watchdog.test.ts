import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { it } from 'node:test';
import { childProcesses, watchTestFiles, type WatchdogKill } from './test-file-watchdog.ts';

// A stand-in for the test runner: a parent whose children are a hung "file" and a quick one.
const PARENT = `
const { spawn } = require('node:child_process');
spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'hung.test.ts'], { stdio: 'ignore' });
spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)', 'quick.test.ts'], { stdio: 'ignore' });
setInterval(() => {}, 1000);
`;

it('kills a test file process that outlives the limit, names its file, and leaves the quick one alone', { timeout: 20000 }, async () => {
  const parent = spawn(process.execPath, ['-e', PARENT], { stdio: 'ignore' });
  try {
    const kills: WatchdogKill[] = [];
    const stop = watchTestFiles(parent.pid!, 1500, (k) => kills.push(k), 200);
    const deadline = Date.now() + 15000;
    while (kills.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    stop();
    assert.equal(kills.length, 1, 'exactly the hung child');
    assert.equal(kills[0]!.file, 'hung.test.ts');
    assert.ok(kills[0]!.ranMs > 1500);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(childProcesses(parent.pid!).map((c) => c.cmdline.at(-1)), [], 'the hung child is gone (the quick one had exited)');
  } finally {
    parent.kill('SIGKILL');
    await once(parent, 'exit');
  }
});

it('a process without children: nothing listed, nothing killed', () => {
  assert.deepEqual(childProcesses(2 ** 22 + 12345), []);
});
