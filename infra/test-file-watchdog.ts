/**
 * A file-level time limit for `npm test`. Node's `--test-timeout` bounds each test, not a test file's
 * process: a file that hangs before its first test (seen in CI: tsx's esbuild service died while
 * the file was being loaded, and the load waited on it for good) keeps the whole run waiting until
 * the CI job's own limit. The watchdog polls the runner's child processes (one per test file, Linux
 * /proc) and SIGKILLs one that has run longer than the limit; the runner then reports that file as
 * failed, and run-tests.ts runs it once more alone, like any failing file.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface WatchdogKill { pid: number; file: string; ranMs: number }

/** Child pids of `parent` with their command lines (empty when /proc cannot be read). */
export function childProcesses(parent: number): { pid: number; cmdline: string[] }[] {
  const out: { pid: number; cmdline: string[] }[] = [];
  let pids: string[];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return out; }
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: the fields after it start at the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      out.push({ pid: Number(p), cmdline: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Polls every `everyMs`; a child of `parent` seen for longer than `limitMs` is SIGKILLed and reported. Returns stop(). */
export function watchTestFiles(parent: number, limitMs: number, onKill: (k: WatchdogKill) => void, everyMs = 5000): () => void {
  const firstSeen = new Map<number, number>();
  const timer = setInterval(() => {
    const now = Date.now();
    const alive = new Set<number>();
    for (const c of childProcesses(parent)) {
      alive.add(c.pid);
      const since = firstSeen.get(c.pid) ?? now;
      firstSeen.set(c.pid, since);
      if (now - since <= limitMs) continue;
      try { process.kill(c.pid, 'SIGKILL'); } catch { continue; }
      firstSeen.delete(c.pid);
      onKill({ pid: c.pid, file: c.cmdline.at(-1) ?? '?', ranMs: now - since });
    }
    for (const pid of firstSeen.keys()) if (!alive.has(pid)) firstSeen.delete(pid);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
