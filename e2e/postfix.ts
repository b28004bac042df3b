/**
 * A private Postfix instance for tests: its own config_directory, queue_directory and data_directory
 * under a folder the test owns, an SMTP listener on a loopback port, virtual Maildir delivery of
 * the given addresses to <dir>/mail/<domain>/<local>/ and a log file. Nothing of the
 * system Postfix (/etc/postfix's instance) is started or touched. Needs the Debian `postfix` package
 * and root (Postfix's master runs as root and drops to the `postfix` user).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../infra/ports.ts';

const run = promisify(execFile);

export interface PostfixOptions { dir: string; /** Addresses with a mailbox; any other address of their domains is refused (550). */ mailboxes: string[]; port?: number; hostname?: string }

export interface MaildirMessage { file: string; data: Buffer }

export class PrivatePostfix {
  readonly dir: string;
  readonly configDir: string;
  port = 0;
  private started = false;

  constructor(private readonly opts: PostfixOptions) {
    // Postfix's daemons run as the unprivileged `postfix` user and must reach their queue and data
    // folders. A checkout may sit under a folder only root can enter (e.g. `mktemp -d`, mode 0700), so
    // the instance lives in its own world-traversable folder under the system temp dir instead.
    this.dir = mkdtempSync(join(tmpdir(), `scop-postfix-${basename(resolve(opts.dir))}-`));
    chmodSync(this.dir, 0o755);
    const dir = this.dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    this.configDir = join(this.dir, 'config');
  }

  static available(): boolean {
    return existsSync('/usr/sbin/postfix') && existsSync('/usr/lib/postfix/sbin/master') && process.getuid?.() === 0;
  }

  private async postfix(...args: string[]): Promise<string> {
    const r = await run('/usr/sbin/postfix', ['-c', this.configDir, ...args], { env: { ...process.env, MAIL_CONFIG: this.configDir } });
    return `${r.stdout}${r.stderr}`;
  }

  async start(): Promise<void> {
    this.port = this.opts.port ?? (await freePort());
    const uid = Number((await run('id', ['-u', 'postfix'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postfix'])).stdout.trim());
    for (const d of ['config', 'queue', 'data', 'mail']) mkdirSync(join(this.dir, d), { recursive: true });
    chownSync(join(this.dir, 'data'), uid, gid);
    chownSync(join(this.dir, 'mail'), uid, gid);
    const domains = [...new Set(this.opts.mailboxes.map((a) => a.split('@')[1]!))].join(', ');
    writeFileSync(join(this.configDir, 'main.cf'), [
      'compatibility_level = 3.6',
      `queue_directory = ${join(this.dir, 'queue')}`,
      `data_directory = ${join(this.dir, 'data')}`,
      'command_directory = /usr/sbin',
      'daemon_directory = /usr/lib/postfix/sbin',
      'meta_directory = /etc/postfix',
      'shlib_directory = /usr/lib/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      `myhostname = ${this.opts.hostname ?? 'postfix.scop.test'}`,
      'mydomain = scop.test',
      'mydestination =',
      'inet_interfaces = loopback-only',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
      'smtpd_recipient_restrictions = permit_mynetworks, reject',
      'alias_maps =', 'alias_database =',
      'local_recipient_maps =',
      `virtual_mailbox_domains = ${domains}`,
      `virtual_mailbox_base = ${join(this.dir, 'mail')}`,
      `virtual_mailbox_maps = texthash:${join(this.configDir, 'vmailbox')}`,
      `virtual_uid_maps = static:${uid}`,
      `virtual_gid_maps = static:${gid}`,
      'virtual_minimum_uid = 1',
      `maillog_file_prefixes = ${this.dir}`,
      `maillog_file = ${join(this.dir, 'maillog')}`,
      'smtputf8_enable = yes',
      'message_size_limit = 52428800', 'virtual_mailbox_limit = 0',
      'biff = no',
      // One attempt per message as soon as possible; tests do not wait for backoffs.
      'queue_run_delay = 1s', 'minimal_backoff_time = 1s', 'maximal_backoff_time = 2s',
      'smtpd_banner = $myhostname ESMTP private test instance',
      '',
    ].join('\n'));
    // virtual(8) refuses regexp substitutions for security, so every mailbox is listed.
    writeFileSync(join(this.configDir, 'vmailbox'), this.opts.mailboxes.map((a) => `${a} ${a.split('@')[1]}/${a.split('@')[0]}/\n`).join(''));
    const svc = (name: string, type: string, priv: string, unpriv: string, wakeup: string, limit: string, cmd: string) => `${name}\t${type}\t${priv}\t${unpriv}\tn\t${wakeup}\t${limit}\t${cmd}`;
    writeFileSync(join(this.configDir, 'master.cf'), [
      svc(`127.0.0.1:${this.port}`, 'inet', 'n', '-', '-', '-', 'smtpd'),
      svc('pickup', 'unix', 'n', '-', '60', '1', 'pickup'),
      svc('cleanup', 'unix', 'n', '-', '-', '0', 'cleanup'),
      svc('qmgr', 'unix', 'n', '-', '300', '1', 'qmgr'),
      svc('rewrite', 'unix', '-', '-', '-', '-', 'trivial-rewrite'),
      svc('bounce', 'unix', '-', '-', '-', '0', 'bounce'),
      svc('defer', 'unix', '-', '-', '-', '0', 'bounce'),
      svc('trace', 'unix', '-', '-', '-', '0', 'bounce'),
      svc('verify', 'unix', '-', '-', '-', '1', 'verify'),
      svc('flush', 'unix', 'n', '-', '1000?', '0', 'flush'),
      svc('proxymap', 'unix', '-', '-', '-', '-', 'proxymap'),
      svc('proxywrite', 'unix', '-', '-', '-', '1', 'proxymap'),
      svc('smtp', 'unix', '-', '-', '-', '-', 'smtp'),
      svc('relay', 'unix', '-', '-', '-', '-', 'smtp'),
      svc('showq', 'unix', 'n', '-', '-', '-', 'showq'),
      svc('error', 'unix', '-', '-', '-', '-', 'error'),
      svc('retry', 'unix', '-', '-', '-', '-', 'error'),
      svc('discard', 'unix', '-', '-', '-', '-', 'discard'),
      svc('local', 'unix', '-', 'n', '-', '-', 'local'),
      svc('virtual', 'unix', '-', 'n', '-', '-', 'virtual'),
      svc('lmtp', 'unix', '-', '-', '-', '-', 'lmtp'),
      svc('anvil', 'unix', '-', '-', '-', '1', 'anvil'),
      svc('scache', 'unix', '-', '-', '-', '1', 'scache'),
      svc('postlog', 'unix-dgram', 'n', '-', '-', '1', 'postlogd'),
      '',
    ].join('\n'));
    await this.postfix('start');
    this.started = true;
  }

  /** Starts a stopped instance again on the same port. */
  async restart(): Promise<void> {
    await this.postfix('start');
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.postfix('stop').catch(() => this.postfix('abort').catch(() => ''));
    // master exits asynchronously; wait until its pid file is gone.
    const pidFile = join(this.dir, 'queue', 'pid', 'master.pid');
    for (let i = 0; i < 50 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
  }

  /** Messages delivered to one address (new/ and cur/ of its Maildir). */
  mailbox(address: string): MaildirMessage[] {
    const [local, domain] = address.split('@') as [string, string];
    const box = join(this.dir, 'mail', domain, local);
    const out: MaildirMessage[] = [];
    for (const sub of ['new', 'cur']) {
      const d = join(box, sub);
      if (!existsSync(d)) continue;
      for (const f of readdirSync(d)) out.push({ file: join(d, f), data: readFileSync(join(d, f)) });
    }
    return out;
  }

  log(): string {
    const f = join(this.dir, 'maillog');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
