/**
 * A real Synapse homeserver for tests: installed into a venv by install-synapse.sh (run here if
 * missing), configured on loopback with SQLite, no federation, metrics, previews or presence, a
 * low message rate limit (users exempted with exemptFromRateLimit() post freely), users created by
 * shared-secret registration. stop()/start() keep the database, to test a homeserver that is down.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../infra/ports.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(HERE, '../..');

export interface SynapseUser {
  userId: string;
  localpart: string;
  password: string;
  accessToken: string;
}

export interface TestEvent {
  event_id: string;
  sender: string;
  origin_server_ts: number;
  content: Record<string, unknown> & { body?: string; formatted_body?: string };
}

export class TestSynapse {
  readonly serverName = 'scop.test';
  readonly secret = randomBytes(16).toString('hex');
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  output = '';

  private constructor(readonly dir: string, readonly port: number, readonly python: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Writes the config into a fresh folder and starts the server (installing Synapse first if needed). */
  static async create(opts: { messagesPerSecond?: number; burst?: number } = {}): Promise<TestSynapse> {
    const venv = process.env.SYNAPSE_VENV ?? join(ROOT, '.data', 'synapse-venv');
    const python = join(venv, 'bin', 'python');
    if (!existsSync(python)) {
      const r = spawnSync('bash', [join(HERE, 'install-synapse.sh')], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`install-synapse.sh failed (exit ${r.status})`);
    }
    const dir = join(ROOT, '.data', 'test', `synapse-${process.pid}-${randomBytes(3).toString('hex')}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const s = new TestSynapse(dir, await freePort(), python);
    const lenient = '{per_second: 1000, burst_count: 1000}';
    writeFileSync(join(dir, 'homeserver.yaml'), `
server_name: "${s.serverName}"
public_baseurl: "${s.url}/"
listeners:
  - port: ${s.port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: ${join(dir, 'homeserver.db')}
log_config: ${join(dir, 'log.yaml')}
media_store_path: ${join(dir, 'media')}
signing_key_path: ${join(dir, 'signing.key')}
registration_shared_secret: "${s.secret}"
macaroon_secret_key: "${randomBytes(16).toString('hex')}"
form_secret: "${randomBytes(16).toString('hex')}"
report_stats: false
enable_metrics: false
url_preview_enabled: false
presence:
  enabled: false
federation_domain_whitelist: []
trusted_key_servers: []
suppress_key_server_warning: true
rc_message:
  per_second: ${opts.messagesPerSecond ?? 1}
  burst_count: ${opts.burst ?? 3}
rc_login:
  address: ${lenient}
  account: ${lenient}
  failed_attempts: ${lenient}
rc_joins:
  local: ${lenient}
  remote: ${lenient}
rc_invites:
  per_room: ${lenient}
  per_user: ${lenient}
`);
    writeFileSync(join(dir, 'log.yaml'), `
version: 1
formatters:
  precise: {format: '%(asctime)s %(name)s %(levelname)s %(message)s'}
handlers:
  console: {class: logging.StreamHandler, formatter: precise}
root: {level: WARNING, handlers: [console]}
disable_existing_loggers: false
`);
    const gen = spawnSync(python, ['-m', 'synapse.app.homeserver', '-c', join(dir, 'homeserver.yaml'), '--generate-keys'], { cwd: dir, encoding: 'utf8' });
    if (gen.status !== 0) throw new Error(`synapse --generate-keys failed: ${gen.stderr}`);
    await s.start();
    return s;
  }

  /** Starts the server (again) on the same port and database; resolves when /health answers. */
  async start(): Promise<void> {
    if (this.proc) return;
    const proc = spawn(this.python, ['-m', 'synapse.app.homeserver', '-c', join(this.dir, 'homeserver.yaml')], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (b: Buffer) => { this.output = (this.output + b.toString()).slice(-20000); };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    // A test process that dies of an error must not leave the homeserver running.
    const orphanGuard = () => proc.kill('SIGKILL');
    process.once('exit', orphanGuard);
    this.exited = new Promise((ok) => proc.once('exit', () => { process.off('exit', orphanGuard); if (this.proc === proc) this.proc = undefined; ok(); }));
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      if (!this.proc) throw new Error(`synapse exited during start:\n${this.output}`);
      try {
        if ((await fetch(`${this.url}/health`)).ok) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`synapse did not answer /health within 60 s:\n${this.output}`);
  }

  /** Stops the server (SIGTERM, SIGKILL after 10 s) and waits until it is gone. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }

  /** stop() and delete its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async api<T>(method: string, path: string, token?: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** Shared-secret registration (the admin API's HMAC scheme). */
  async register(localpart: string, admin = false): Promise<SynapseUser> {
    const password = randomBytes(12).toString('hex');
    const { nonce } = await this.api<{ nonce: string }>('GET', '/_synapse/admin/v1/register');
    const mac = createHmac('sha1', this.secret).update([nonce, localpart, password, admin ? 'admin' : 'notadmin'].join('\0')).digest('hex');
    const r = await this.api<{ user_id: string; access_token: string }>('POST', '/_synapse/admin/v1/register', undefined, { nonce, username: localpart, password, admin, mac });
    return { userId: r.user_id, localpart, password, accessToken: r.access_token };
  }

  /** Lifts the message rate limit for one user (needs an admin's token). */
  async exemptFromRateLimit(adminToken: string, userId: string): Promise<void> {
    await this.api('POST', `/_synapse/admin/v1/users/${encodeURIComponent(userId)}/override_ratelimit`, adminToken, { messages_per_second: 0, burst_count: 0 });
  }

  async createRoom(token: string, name: string, invite: string[], powerLevels?: Record<string, unknown>): Promise<string> {
    return (await this.api<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', token, { name, invite, preset: 'private_chat', power_level_content_override: powerLevels })).room_id;
  }

  /** Every m.room.message in the room, oldest first. */
  async messages(token: string, roomId: string): Promise<TestEvent[]> {
    const out: TestEvent[] = [];
    let from: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ dir: 'b', limit: '500', filter: JSON.stringify({ types: ['m.room.message'] }) });
      if (from) q.set('from', from);
      const r = await this.api<{ chunk: TestEvent[]; end?: string }>('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?${q}`, token);
      out.push(...r.chunk);
      if (!r.end || r.chunk.length === 0) break;
      from = r.end;
    }
    return out.reverse();
  }
}
