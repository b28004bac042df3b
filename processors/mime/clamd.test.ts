/**
 * ClamAV through clamd INSTREAM against a real clamd (Debian clamav-daemon), started here on a
 * loopback port with a signature database made here (an EICAR body signature): no signature
 * download is needed or possible.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { freePort } from '../../infra/ports.ts';
import { clamdScan, parseClamdAddress } from './clamd.ts';
import { mimeSymbols } from './symbols.ts';
import { parseMime } from './parse.ts';
import { boundedParser, loadMimeConfig } from './service.ts';
import { DEFAULT_LIMITS } from './structure.ts';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const CLAMD = ['/usr/sbin/clamd', '/usr/bin/clamd'].find((p) => existsSync(p));

let dir: string;
let port: number;
let clamd: ChildProcess | undefined;

async function ping(p: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect(p, '127.0.0.1');
    let got = '';
    s.on('connect', () => s.write('zPING\0'));
    s.on('data', (d) => { got += d.toString(); });
    s.on('end', () => ok(got.startsWith('PONG')));
    s.on('error', () => ok(false));
    s.setTimeout(2000, () => { s.destroy(); ok(false); });
  });
}

before(async () => {
  assert.ok(CLAMD, 'clamd is not installed: `apt-get install -y clamav-daemon` (listed in infra/debian-packages.txt); this test starts its own clamd with a local EICAR signature');
  dir = mkdtempSync(join(tmpdir(), 'scop-clamd-'));
  mkdirSync(join(dir, 'db'));
  // An extended (body) signature for any file type: name:target:offset:hex.
  writeFileSync(join(dir, 'db', 'scop-test.ndb'), `Scop-Eicar-Test:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  port = await freePort();
  writeFileSync(join(dir, 'clamd.conf'), [
    'Foreground yes', `DatabaseDirectory ${join(dir, 'db')}`, 'TCPAddr 127.0.0.1', `TCPSocket ${port}`,
    `LogFile ${join(dir, 'clamd.log')}`, `PidFile ${join(dir, 'clamd.pid')}`, 'StreamMaxLength 30M', 'ScanMail yes',
    ...(process.getuid?.() === 0 ? ['User root'] : []),
  ].join('\n'));
  const check = spawnSync(CLAMD!, ['--version']);
  assert.equal(check.status, 0, `clamd --version failed: ${check.stderr}`);
  clamd = spawn(CLAMD!, ['--config-file', join(dir, 'clamd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  clamd.stderr!.on('data', (d) => { stderr += d.toString(); });
  const deadline = Date.now() + 60000;
  while (!(await ping(port))) {
    assert.ok(clamd.exitCode === null, `clamd exited: ${stderr}`);
    assert.ok(Date.now() < deadline, `clamd did not answer PING within 60 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (clamd && clamd.exitCode === null) {
    clamd.kill('SIGTERM');
    await new Promise((r) => clamd!.once('exit', r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ClamAV via clamd INSTREAM', () => {
  it('finds EICAR in a raw stream and says OK for clean bytes', async () => {
    const addr = parseClamdAddress(`127.0.0.1:${port}`);
    assert.deepEqual(await clamdScan(addr, Buffer.from(`junk ${EICAR} junk`)), { result: 'infected', detail: 'Scop-Eicar-Test.UNOFFICIAL' });
    assert.deepEqual(await clamdScan(addr, Buffer.alloc(200 * 1024, 'a')), { result: 'clean', detail: '' });
  });

  it('a message with EICAR in a base64 attachment is tagged virus and the attachment carries the signature', async () => {
    const raw = await new MailComposer({
      from: 'a@example.com', to: 'b@example.net', subject: 'eicar', text: 'hello',
      attachments: [{ filename: 'readme.txt', content: 'nothing here' }, { filename: 'eicar.com', content: Buffer.from(EICAR) }],
    }).compile().build();
    assert.ok(!raw.includes(EICAR), 'the test string is only in the base64-encoded attachment');
    const { clamd: cfg } = loadMimeConfig({ CLAMD_ADDRESS: `tcp://127.0.0.1:${port}` });
    const m = await parseMime(raw, { clamd: cfg });
    assert.deepEqual(m.scan, { engine: 'clamd', result: 'infected', detail: 'Scop-Eicar-Test.UNOFFICIAL' });
    assert.ok(m.tags.includes('virus'));
    assert.deepEqual(mimeSymbols(m).find((x) => x.symbol === 'MIME_VIRUS')?.options, ['Scop-Eicar-Test.UNOFFICIAL']);
    const eicar = m.attachments.find((a) => a.filename === 'eicar.com')!;
    assert.equal(eicar.virus, 'Scop-Eicar-Test.UNOFFICIAL');
    assert.ok(eicar.flags.includes('virus'));
    assert.equal(m.attachments.find((a) => a.filename === 'readme.txt')!.virus, null);
  });

  it('parsed in a worker thread (a large message), the scan and its attribution are the same', async () => {
    const raw = await new MailComposer({
      from: 'a@example.com', to: 'b@example.net', subject: 'eicar', text: 'hello',
      attachments: [{ filename: 'readme.txt', content: 'nothing here' }, { filename: 'eicar.com', content: Buffer.from(EICAR) }],
    }).compile().build();
    const { clamd: cfg } = loadMimeConfig({ CLAMD_ADDRESS: `tcp://127.0.0.1:${port}` });
    const parser = boundedParser({ limits: DEFAULT_LIMITS, clamd: cfg, inlineMaxBytes: 0, threads: 1, timeoutMs: 30_000 });
    try {
      const inWorker = await parser.parse(raw);
      const inline = await parseMime(raw, { clamd: cfg });
      assert.deepEqual({ ...inWorker, parsedAt: 0 }, { ...inline, parsedAt: 0 });
      assert.equal(inWorker.attachments.find((a) => a.filename === 'eicar.com')!.virus, 'Scop-Eicar-Test.UNOFFICIAL');
      assert.deepEqual(inWorker.attachmentFlags.includes('virus'), true);
      assert.equal(inWorker.tags[0], 'virus');
    } finally {
      await parser.close();
    }
  });

  it('a clean message scans clean; an unreachable clamd gives scan result error, not a failure', async () => {
    const raw = Buffer.from('From: a@example.com\r\nSubject: clean\r\n\r\nnothing\r\n');
    const clean = await parseMime(raw, { clamd: { address: { host: '127.0.0.1', port }, timeoutMs: 5000 } });
    assert.deepEqual(clean.scan, { engine: 'clamd', result: 'clean', detail: '' });
    const down = await parseMime(raw, { clamd: { address: { host: '127.0.0.1', port: await freePort() }, timeoutMs: 2000 } });
    assert.equal(down.scan?.result, 'error');
    assert.match(down.scan!.detail, /ECONNREFUSED/);
  });

  it('CLAMD_ADDRESS is validated with a clear error', () => {
    assert.throws(() => loadMimeConfig({ CLAMD_ADDRESS: 'not an address' }), /CLAMD_ADDRESS.*host:port/);
    assert.deepEqual(parseClamdAddress('/run/clamav/clamd.ctl'), { path: '/run/clamav/clamd.ctl' });
    assert.equal(loadMimeConfig({}).clamd, undefined);
  });
});
