/**
 * A miniature `scop start` for cli/supervisor.test.ts: supervises two real children (one exits at
 * once on SIGTERM, one shuts down gracefully), stops them on SIGTERM/SIGINT as start.ts does, and
 * prints one JSON line per event, so the test can signal the whole process group (as Ctrl-C does)
 * and check that nothing was restarted.
 */
import { spawn } from 'node:child_process';
import { loggerFor } from '../runtime/log.ts';
import { Supervised } from './supervisor.ts';

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const policy = { initialDelayMs: 100, maxDelayMs: 400, stableAfterMs: 60000, maxFastCrashes: 100, windowMs: 60000 };
const scripts = {
  abrupt: 'setInterval(() => {}, 1000)',
  graceful: "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 200)); process.on('SIGINT', () => {}); setInterval(() => {}, 1000)",
};
const children = Object.entries(scripts).map(([name, script]) => new Supervised({
  name, policy, log: loggerFor('fixture'),
  spawn: () => spawn(process.execPath, ['-e', script], { stdio: 'ignore' }),
  onSpawn: (child, run) => say({ event: 'spawn', name, pid: child.pid, run }),
  onRestart: (e) => say({ event: 'restart', ...e }),
  onGiveUp: (e) => say({ event: 'give-up', ...e }),
}));
for (const c of children) { c.start(); c.supervise(); }
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    for (const c of [...children].reverse()) await c.stop();
    // Long enough for any restart the supervisor had wrongly scheduled to happen.
    await new Promise((r) => setTimeout(r, 600));
    say({ event: 'stopped' });
    process.exit(0);
  })();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
say({ event: 'up' });
