/**
 * A local Prometheus (Debian's `prometheus` package) on loopback, for `scop observe` and the
 * end-to-end test: writes the given config and rules into its folder, starts the server, waits for
 * /-/ready, and stops it (SIGTERM, then SIGKILL) so nothing is left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loggerFor } from '../runtime/log.ts';
import { assertPortFree, tailOf } from './jvm.ts';

const log = loggerFor('prometheus');
export const PROMETHEUS_BIN = process.env.SCOP_PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.SCOP_PROMTOOL_BIN ?? '/usr/bin/promtool';

export const prometheusAvailable = () => existsSync(PROMETHEUS_BIN);

export interface LocalPrometheus {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startLocalPrometheus(o: { dir: string; port: number; host?: string; config: string; files?: Record<string, string>; retention?: string }): Promise<LocalPrometheus> {
  if (!prometheusAvailable()) throw new Error(`no Prometheus at ${PROMETHEUS_BIN}: install Debian's prometheus package (infra/debian-packages.txt) or set SCOP_PROMETHEUS_BIN`);
  const host = o.host ?? '127.0.0.1';
  const dir = resolve(o.dir);
  mkdirSync(join(dir, 'data'), { recursive: true });
  await assertPortFree(host, o.port, 'SCOP_PROMETHEUS_PORT');
  writeFileSync(join(dir, 'prometheus.yml'), o.config);
  for (const [name, text] of Object.entries(o.files ?? {})) writeFileSync(join(dir, name), text);
  const logFile = join(dir, 'prometheus.log');
  const out = openSync(logFile, 'a');
  const child = spawn(PROMETHEUS_BIN, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--storage.tsdb.retention.time=${o.retention ?? '15d'}`,
    `--web.listen-address=${host}:${o.port}`,
    '--web.enable-lifecycle',
  ], { stdio: ['ignore', out, out] });
  closeSync(out);
  const exited = new Promise<number | null>((ok) => child.once('exit', (c) => ok(c)));
  const url = `http://${host}:${o.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
  };
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Prometheus exited during start-up (code ${child.exitCode}); last lines of ${logFile}:\n${tailOf(logFile)}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error(`Prometheus not ready within 60 s; see ${logFile}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  log.info({ url, dir, pid: child.pid }, 'Prometheus ready');
  return { url, dir, stop };
}
