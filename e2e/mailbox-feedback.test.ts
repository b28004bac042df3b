/**
 * Feedback from the mailbox, end to end with real servers: the spam stage scores mail, the egress's
 * Maildir delivery (egress/relay/maildir.ts) stores it for a real Dovecot (imapd + imapsieve from Debian), a user moves it
 * into Junk over IMAP, imapsieve pipes it to imap/scop-feedback, which posts the label to the
 * learner's hook; the learner publishes a new version, the scorer switches and the next similar
 * message is spam. Moving one back out of Junk corrects its label to ham. Skips only when the
 * dovecot binary is absent (CI installs dovecot-imapd and dovecot-sieve). Here in e2e/ because it
 * joins two stages (the spam learner and the egress), which meet only here and in cli/.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deliverMaildir } from '../egress/relay/maildir.ts';
import { freePort } from '../infra/ports.ts';
import { testServiceContext } from '../runtime/stage-testing.ts';
import { eventually } from '../runtime/testing.ts';
import { loadLearnerConfig } from '../processors/spam/learner/config.ts';
import { addHookToken } from '../processors/spam/learner/hook.ts';
import { startLearner, type RunningLearner } from '../processors/spam/learner/service.ts';
import { learnerFixture, NEW_SPAM, type LearnerFixture } from '../processors/spam/learner/test-fixture.ts';

const DOVECOT = '/usr/sbin/dovecot';
const IMAP_DIR = join(import.meta.dirname, '..', 'processors', 'spam', 'learner', 'imap');

/** A few IMAP commands, one at a time (tagged; the test's own client — enough for LOGIN, CREATE, SELECT, UID MOVE). */
class Imap {
  private buf = '';
  private n = 0;
  private waiting: (() => void) | null = null;
  private constructor(private readonly s: Socket) {
    s.setEncoding('latin1');
    s.on('data', (d: string) => { this.buf += d; this.waiting?.(); });
  }
  static async open(port: number): Promise<Imap> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((ok, fail) => { s.once('connect', ok); s.once('error', fail); });
    const c = new Imap(s);
    await c.until(/^\* OK/m);
    return c;
  }
  private async until(re: RegExp): Promise<string> {
    const deadline = Date.now() + 30000;
    while (!re.test(this.buf)) {
      if (Date.now() > deadline) throw new Error(`IMAP: no ${re} in ${JSON.stringify(this.buf.slice(-500))}`);
      await new Promise<void>((r) => { this.waiting = r; setTimeout(r, 200); });
    }
    const out = this.buf;
    this.buf = '';
    return out;
  }
  async cmd(text: string): Promise<string> {
    const tag = `a${++this.n}`;
    this.s.write(`${tag} ${text}\r\n`);
    const out = await this.until(new RegExp(`^${tag} (OK|NO|BAD)`, 'm'));
    assert.match(out, new RegExp(`^${tag} OK`, 'm'), `IMAP ${text}: ${out}`);
    return out;
  }
  close(): void {
    this.s.end('z LOGOUT\r\n');
  }
}

describe('feedback from the mailbox (Dovecot imapsieve → hook → learner)', { skip: existsSync(DOVECOT) ? false : `${DOVECOT} not installed (apt-get install dovecot-imapd dovecot-sieve)` }, () => {
  const ctx = testServiceContext('spam-imap');
  const admin = ctx.kafka.admin();
  let fx: LearnerFixture;
  let learner: RunningLearner | undefined;
  let dovecot: ChildProcess | undefined;
  let imapPort = 0;
  let dir = '';
  const mailRoot = () => join(dir, 'mail');
  // Dovecot never gives mail access as root: as root the mail belongs to nobody.
  const owner = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : { uid: process.getuid!(), gid: process.getgid!() };
  const chownTree = (p: string) => {
    if (process.getuid?.() !== 0) return;
    chownSync(p, owner.uid, owner.gid);
    if (statSync(p).isDirectory()) for (const f of readdirSync(p)) chownTree(join(p, f));
  };

  before(async () => {
    await admin.connect();
    const hookPort = await freePort();
    fx = await learnerFixture(ctx, admin, 'spam-imap', 1, { SPAM_LEARNER_PUBLISH_LABELS: '3', SPAM_LEARNER_HOOK_PORT: String(hookPort) });
    dir = fx.dir;
    chmodSync(dir, 0o755);
    const tokensFile = join(dir, 'hook.tokens');
    const token = addHookToken(tokensFile, 'imap');
    const env = { ...fx.env, SPAM_LEARNER_HOOK_TOKENS_FILE: tokensFile };
    learner = await startLearner({ ...ctx, env }, loadLearnerConfig(env, ctx.dataDir));

    // Dovecot: imapd on a free loopback port, imapsieve with the scripts of imap/ (as an operator would set it up).
    imapPort = await freePort();
    for (const d of ['run', 'state', 'mail', 'home', 'bin', 'sieve']) mkdirSync(join(dir, d));
    copyFileSync(join(IMAP_DIR, 'scop-feedback'), join(dir, 'bin', 'scop-feedback'));
    chmodSync(join(dir, 'bin', 'scop-feedback'), 0o755);
    writeFileSync(join(dir, 'bin', 'scop-feedback.conf'), `url=http://127.0.0.1:${hookPort}/feedback\ntoken=${token}\n`, { mode: 0o644 });
    for (const f of ['report-spam.sieve', 'report-ham.sieve']) copyFileSync(join(IMAP_DIR, f), join(dir, 'sieve', f));
    writeFileSync(join(dir, 'users'), 'bob@example.net:{PLAIN}secret\n');
    writeFileSync(join(dir, 'dovecot.conf'), [
      `base_dir = ${dir}/run`, `state_dir = ${dir}/state`, `log_path = ${dir}/dovecot.log`,
      'protocols = imap', 'listen = 127.0.0.1', 'ssl = no', 'disable_plaintext_auth = no', 'auth_mechanisms = plain',
      `mail_location = maildir:${dir}/mail/%u`, 'first_valid_uid = 1',
      `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${dir}/users\n}`,
      `userdb {\n  driver = static\n  args = uid=${owner.uid} gid=${owner.gid} home=${dir}/home/%u\n}`,
      `service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${imapPort}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`,
      'protocol imap {\n  mail_plugins = $mail_plugins imap_sieve\n}',
      ['plugin {', '  sieve_plugins = sieve_imapsieve sieve_extprograms',
        '  imapsieve_mailbox1_name = Junk', '  imapsieve_mailbox1_causes = COPY APPEND', `  imapsieve_mailbox1_before = file:${dir}/sieve/report-spam.sieve`,
        '  imapsieve_mailbox2_name = *', '  imapsieve_mailbox2_from = Junk', '  imapsieve_mailbox2_causes = COPY', `  imapsieve_mailbox2_before = file:${dir}/sieve/report-ham.sieve`,
        `  sieve_pipe_bin_dir = ${dir}/bin`, '  sieve_global_extensions = +vnd.dovecot.pipe +vnd.dovecot.environment', '}'].join('\n'),
      '',
    ].join('\n'));
    for (const f of ['report-spam.sieve', 'report-ham.sieve']) {
      const r = spawnSync('sievec', ['-c', join(dir, 'dovecot.conf'), join(dir, 'sieve', f)], { encoding: 'utf8' });
      assert.equal(r.status, 0, `sievec ${f}: ${r.stderr}`);
    }
    chownTree(join(dir, 'mail'));
    chownTree(join(dir, 'home'));
    dovecot = spawn(DOVECOT, ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'inherit' });
    await eventually(() => new Promise<true | undefined>((ok) => {
      const s = connect(imapPort, '127.0.0.1');
      s.once('connect', () => { s.destroy(); ok(true); });
      s.once('error', () => ok(undefined));
    }), 30000, 'Dovecot listening');
  });

  after(async () => {
    dovecot?.kill('SIGTERM');
    await learner?.stop();
    await fx?.stage.stop();
    await admin.disconnect();
  });

  const counter = async (outcome: string) => (await ctx.metrics.getSingleMetric('scop_spam_learner_labels_total')!.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

  it('deliver, move to Junk in IMAP → label learnt → the next similar message is spam; out of Junk → ham', async () => {
    const base = await fx.model();
    const delivered = await fx.score([NEW_SPAM(1), NEW_SPAM(2), NEW_SPAM(3)]);
    assert.ok(delivered.every((r) => r.spam!.verdict !== 'spam'), 'the base model lets this spam through');
    for (const r of delivered) {
      const [out] = await deliverMaildir(mailRoot(), 'egress.scop.test', r, ['bob@example.net'], false);
      assert.equal(out!.kind, 'delivered', out!.reply);
    }
    chownTree(mailRoot());

    const imap = await Imap.open(imapPort);
    try {
      await imap.cmd('LOGIN bob@example.net secret');
      await imap.cmd('CREATE Junk');
      assert.match(await imap.cmd('SELECT INBOX'), /\* 3 EXISTS/);
      await imap.cmd('UID MOVE 1:* Junk'); // the user drags the three into Junk
      const learnt = await eventually(async () => { const m = await fx.model(); return m.version !== base.version ? m : undefined; }, 60000, 'a model learnt from the Junk moves');
      assert.equal(learnt.nspam, base.nspam + 3);
      assert.deepEqual(learnt.learner!.recent.map((r) => [r.recordId, r.label]).sort(), delivered.map((r) => [r.envelope.id, 'spam']).sort());
      assert.equal(await counter('learnt'), 3);

      await eventually(async () => ((await ctx.metrics.getSingleMetric('scop_spam_model_info')!.get()).values.find((v) => v.labels.version === learnt.version)?.value === 1 ? true : undefined), 30000, 'scorer on the learnt model');
      const [next] = await fx.score([NEW_SPAM(4)]);
      assert.equal(next!.spam!.modelVersion, learnt.version);
      assert.equal(next!.spam!.verdict, 'spam', 'the next similar message is spam');

      // One was not spam after all: out of Junk → a ham label that corrects the spam one.
      await imap.cmd('SELECT Junk');
      await imap.cmd('UID MOVE 1 INBOX');
      await eventually(async () => ((await counter('corrected')) === 1 ? true : undefined), 60000, 'the move out of Junk corrected a label');
    } finally {
      imap.close();
    }
  });
});
