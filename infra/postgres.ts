/**
 * A throwaway PostgreSQL cluster on loopback (Debian's postgresql package) for tests and the history
 * benchmark: initdb into a fresh folder, `postgres` listening on 127.0.0.1:<port> with trust auth
 * for the loopback only, one database. PostgreSQL refuses to run as root, so as root the cluster
 * runs as the `postgres` system user the package creates. stop() shuts it down fast and removes it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

export const postgresAvailable = () => binDir() !== null;

export interface LocalPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * `keep`: reuse a cluster already in `dir` (initdb only when there is none) and leave it there on
 * stop — the history benchmark keeps its loaded million rows between runs that way.
 */
export async function startLocalPostgres(o: { dir: string; port: number; database?: string; keep?: boolean }): Promise<LocalPostgres> {
  const bin = binDir();
  if (!bin) throw new Error('no PostgreSQL server under /usr/lib/postgresql: install Debian\'s postgresql package (infra/debian-packages.txt)');
  const asRoot = userInfo().uid === 0;
  const pwd = asRoot ? (spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()) : '';
  const uid = asRoot ? Number(pwd) : undefined;
  const gid = asRoot ? Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()) : undefined;
  if (asRoot && !Number.isInteger(uid)) throw new Error('running as root needs the postgres system user (Debian\'s postgresql package creates it)');
  const data = join(o.dir, 'data');
  const reuse = o.keep === true && existsSync(join(data, 'PG_VERSION'));
  if (!reuse) {
    rmSync(o.dir, { recursive: true, force: true });
    mkdirSync(o.dir, { recursive: true });
    if (uid !== undefined && gid !== undefined) chownSync(o.dir, uid, gid);
    const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'scop', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'], { encoding: 'utf8', uid, gid });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const child: ChildProcess = spawn(join(bin, 'postgres'), ['-D', data, '-h', '127.0.0.1', '-p', String(o.port), '-k', o.dir, '-c', 'fsync=off', '-c', 'shared_buffers=64MB', '-c', 'max_connections=30'], {
    stdio: ['ignore', 'ignore', 'pipe'], uid, gid,
  });
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000); });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    }
    if (!o.keep) rmSync(o.dir, { recursive: true, force: true });
  };
  const database = o.database ?? 'scop';
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited during start-up: ${stderr}`);
    const r = spawnSync(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(o.port), '-U', 'scop', database], { encoding: 'utf8' });
    if (r.status === 0 || (reuse && /already exists/.test(r.stderr))) break;
    if (Date.now() > deadline) { await stop(); throw new Error(`PostgreSQL not ready within 30 s: ${r.stderr} ${stderr}`); }
    await new Promise((res) => setTimeout(res, 200));
  }
  return { url: `postgresql://scop@127.0.0.1:${o.port}/${database}`, stop };
}
