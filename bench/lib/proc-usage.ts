/**
 * CPU time and memory of named process trees, read from /proc (Linux only), for the benchmarks'
 * "CPU ms per message by process" and "total RSS" lines. A process found by the port it listens on
 * (the broker, the registry, Rspamd) is measured the same way as one the bench forked itself, so an
 * external stack (KAFKA_BROKERS set) is measured too when it runs on this box as the same user.
 *
 * CPU = utime + stime of each process and its descendants (threads are inside their process; the
 * reaped children's cutime/cstime are added too). RSS = VmRSS summed over the tree: pages shared
 * between processes (Rspamd's forked workers, the JVM's mapped files) are counted once per process,
 * so the total is an upper bound.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** USER_HZ: 100 on every Linux architecture Node supports (the kernel fixes it for /proc's ABI). */
const TICKS_PER_S = 100;

export interface ProcSample { cpuMs: number; rssKb: number; hwmKb: number; pids: number[] }

const readOr = (f: string): string | undefined => { try { return readFileSync(f, 'utf8'); } catch { return undefined; } };

/** Fields after the command name (which may contain spaces and parentheses), 0-based from field 3 "state". */
function statFields(pid: number): string[] | undefined {
  const s = readOr(`/proc/${pid}/stat`);
  if (!s) return undefined;
  return s.slice(s.lastIndexOf(')') + 2).trim().split(' ');
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** The pid and every descendant (by parent pid), read in one pass over /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const ppid = Number(statFields(pid)?.[1]);
    if (!Number.isFinite(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    if (out.includes(p)) continue;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** The pids with a listening TCP socket on this port (IPv4 or IPv6), from /proc/net/tcp* and each process's fds. */
export function pidsListeningOn(port: number): number[] {
  const inodes = new Set<string>();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (readOr(f) ?? '').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] local address "IP:PORT" in hex, cols[3] state (0A = LISTEN), cols[9] inode.
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hex}`) && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return [];
  const found: number[] = [];
  for (const pid of allPids()) {
    let fds: string[];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target: string;
      try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) { found.push(pid); break; }
    }
  }
  return found;
}

/** CPU and memory of these root pids and all their descendants now. Processes already gone count 0. */
export function sampleTree(roots: readonly number[]): ProcSample {
  const pids = [...new Set(roots.flatMap((r) => (existsSync(`/proc/${r}`) ? processTree(r) : [])))];
  let ticks = 0;
  let rssKb = 0;
  let hwmKb = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    // Fields from "state" (index 0): utime 11, stime 12, cutime 13, cstime 14.
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    const status = readOr(`/proc/${pid}/status`) ?? '';
    rssKb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    hwmKb += Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return { cpuMs: (ticks * 1000) / TICKS_PER_S, rssKb, hwmKb, pids };
}

export interface UsageRow { name: string; cpuMs: number; rssKb: number; hwmKb: number }

/**
 * A before/after probe over named process groups: `start()` samples each group, `stop()` samples again
 * and returns each group's CPU spent in between and its memory at the end.
 */
export class UsageProbe {
  private before = new Map<string, number>();
  constructor(private readonly groups: () => Record<string, readonly number[]>) {}

  start(): void {
    this.before = new Map(Object.entries(this.groups()).map(([name, pids]) => [name, sampleTree(pids).cpuMs]));
  }

  stop(): UsageRow[] {
    return Object.entries(this.groups()).map(([name, pids]) => {
      const s = sampleTree(pids);
      return { name, cpuMs: s.cpuMs - (this.before.get(name) ?? 0), rssKb: s.rssKb, hwmKb: s.hwmKb };
    });
  }
}

/** "broker 7.3, ingress 2.5, …" sorted by CPU, plus the total; and the memory line. */
export function formatUsage(rows: readonly UsageRow[], messages: number): { cpu: string; rss: string } {
  const sorted = [...rows].sort((a, b) => b.cpuMs - a.cpuMs);
  const total = sorted.reduce((s, r) => s + r.cpuMs, 0);
  const mb = (kb: number) => (kb / 1024).toFixed(0);
  const rss = sorted.reduce((s, r) => s + r.rssKb, 0);
  const hwm = sorted.reduce((s, r) => s + r.hwmKb, 0);
  return {
    cpu: `${(total / messages).toFixed(1)} ms per message: ${sorted.map((r) => `${r.name} ${(r.cpuMs / messages).toFixed(1)}`).join(', ')}`,
    rss: `${mb(rss)} MB at the end (peak ${mb(hwm)} MB): ${[...rows].sort((a, b) => b.rssKb - a.rssKb).map((r) => `${r.name} ${mb(r.rssKb)}`).join(', ')}`,
  };
}
