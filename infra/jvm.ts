/**
 * Running the local JVM servers (Kafka, and a JVM registry if one is used): resolving jars with
 * Maven into a git-ignored cache, starting a java child in its own process group, and stopping it
 * so nothing is left behind — also after a crash of the parent, via a pid file checked at start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loggerFor } from '../runtime/log.ts';

export const INFRA_DIR = dirname(fileURLToPath(import.meta.url));
export const CACHE_DIR = process.env.SCOP_INFRA_CACHE ? resolve(process.env.SCOP_INFRA_CACHE) : join(INFRA_DIR, '.cache');
const log = loggerFor('infra');

/** Copies a pom's runtime dependencies into CACHE_DIR/<name> once; later runs reuse the folder. */
export function resolveJars(pom: string, name: string, props: Record<string, string> = {}): string {
  return mavenOnce(pom, name, (out) => ['dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${out}`], props);
}

/**
 * Runs Maven once to fill CACHE_DIR/<name> (goals get the output folder); a `.complete` marker
 * makes later runs reuse it, and a half-done download is never mistaken for a finished one.
 */
export function mavenOnce(pom: string, name: string, goals: (outDir: string) => string[], props: Record<string, string> = {}): string {
  const dir = join(CACHE_DIR, name);
  if (existsSync(join(dir, '.complete'))) return dir;
  log.info({ pom, dir }, 'resolving from Maven Central (first run only; later runs reuse the cache)');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const args = ['-q', '-B', '-f', pom, ...goals(tmp), ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`)];
  const res = spawnSync('mvn', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    const why = res.error ? res.error.message : (res.stdout + res.stderr).trim().split('\n').slice(-5).join(' | ');
    throw new Error(`could not resolve ${name} with Maven (mvn ${args.join(' ')}): ${why}. Is Maven installed and Maven Central reachable?`);
  }
  writeFileSync(join(tmp, '.complete'), new Date().toISOString());
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  log.info({ dir, entries: readdirSync(dir).length - 1 }, 'ready in cache');
  return dir;
}

export async function assertPortFree(host: string, port: number, setting: string): Promise<void> {
  await new Promise<void>((ok, fail) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) =>
      fail(new Error(`${setting}: ${host}:${port} is already in use (${e.code}) — stop what listens there or choose another port with ${setting}`)));
    srv.listen(port, host, () => srv.close(() => ok()));
  });
}

export interface JavaProcess {
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

const running = new Set<JavaProcess>();
// Last resort when the parent exits without stopping its servers (an exception, process.exit):
// never leave a JVM behind.
process.once('exit', () => {
  for (const p of running) if (p.child.pid) try { process.kill(-p.child.pid, 'SIGKILL'); } catch { /* gone */ }
});

/** Kills a JVM left by a parent that was killed with SIGKILL (its pid file survives). */
export function reapStale(pidFile: string, marker: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(marker)) return;
    log.warn({ pid }, 'stopping a server left running by an earlier run');
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) spawnSync('sleep', ['0.1']);
  } catch { /* not running */ }
}

export function startJava(opts: { java?: string; classpath?: string; mainClass?: string; jar?: string; args: string[]; jvmArgs: string[]; logFile: string; pidFile: string; env?: NodeJS.ProcessEnv }): JavaProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const out = openSync(opts.logFile, 'a');
  const target = opts.jar ? ['-jar', opts.jar] : ['-cp', opts.classpath!, opts.mainClass!];
  const child = spawn(opts.java ?? 'java', [...opts.jvmArgs, ...target, ...opts.args], {
    stdio: ['ignore', out, out],
    detached: true, // own process group: Ctrl-C reaches us, and we stop the JVM in order
    env: { ...process.env, ...opts.env },
  });
  closeSync(out);
  if (child.pid) writeFileSync(opts.pidFile, String(child.pid));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const proc: JavaProcess = {
    child,
    logFile: opts.logFile,
    exited,
    async stop(graceMs = 30000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(proc);
      rmSync(opts.pidFile, { force: true });
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

export function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
