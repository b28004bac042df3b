/**
 * Done-when of issue 13, scaled down: 1,000 idle sessions from 1,000 addresses of one IPv6 /64
 * (half on MX, half on submission) cannot keep a submission user from another network out.
 * Limits: 50 MX and 20 submission sessions, 10 per prefix and pool. With one shared pool counted
 * per exact address (the earlier design), the flood took every slot and the user got 421.
 *
 * The clients run in a network namespace of their own (ingress/netns-client.test-child.ts, `unshare -rn`),
 * where a whole /64 is local; the ingress serves the listening sockets bound there.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FloodReport, FloodRequest } from './netns-client.test-child.ts';
import { readRecords, recordIdOf, ROOT, sampleMessage, startTestIngress, type TestIngress } from './testkit.ts';
import { addUser } from './users.ts';

const canUnshare = spawnSync('unshare', ['-rn', 'ip', 'link', 'set', 'lo', 'up']).status === 0;

describe('a 1,000-session idle flood from one IPv6 /64', { skip: canUnshare ? false : 'needs `unshare -rn` (util-linux, user namespaces) and `ip` (iproute2)' }, () => {
  let child: ChildProcess;
  let t: TestIngress;
  const handles: Partial<Record<'MX' | 'SUBMISSION', Server>> = {};

  before(async () => {
    child = spawn('unshare', ['-rn', process.execPath, '--import', 'tsx', join(ROOT, 'ingress', 'netns-client.test-child.ts')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((ok, fail) => {
      child.once('exit', (code) => fail(new Error(`netns client exited (${code}) before handing over its sockets`)));
      child.on('message', (m: { type?: string; kind?: 'MX' | 'SUBMISSION' }, handle) => {
        if (m.type === 'listener' && m.kind) handles[m.kind] = handle as Server;
        if (handles.MX && handles.SUBMISSION) ok();
      });
    });
    t = await startTestIngress({
      name: 'flood',
      listenOn: { MX: handles.MX, SUBMISSION: handles.SUBMISSION },
      env: { INGRESS_MAX_SESSIONS_MX: '50', INGRESS_MAX_SESSIONS_SUBMISSION: '20', INGRESS_MAX_SESSIONS_PER_PREFIX: '10' },
    });
    await addUser(t.config.usersFile, 'alice@example.com', 'correct horse battery');
  });

  after(async () => {
    await t?.stop();
    child?.kill();
  });

  it('admits at most 10 of them per pool, and the user logs in and sends', async () => {
    const subject = `flood-${Date.now()}`;
    const req: FloodRequest = {
      type: 'flood', sessions: 1000, ports: { MX: t.ingress.ports.MX!, SUBMISSION: t.ingress.ports.SUBMISSION! },
      user: { name: 'alice@example.com', password: 'correct horse battery', rcpt: 'carol@example.org', body: sampleMessage({ subject }) },
    };
    const report = await new Promise<FloodReport>((ok) => {
      child.on('message', (m: FloodReport) => { if (m.type === 'report') ok(m); });
      child.send(req);
    });
    for (const listener of ['MX', 'SUBMISSION'] as const) {
      const g = report.greetings[listener];
      assert.equal(g['220 mx.te'], 10, `${listener}: ${JSON.stringify(g)}`);
      assert.equal(g['421 4.7.0'], 490, `${listener}: the rest is refused per prefix, with 421 (${JSON.stringify(g)})`);
    }
    const [greeting, starttls, auth, mail, rcpt, data] = report.user;
    assert.match(greeting!, /^220 /, report.user.join('\n'));
    assert.match(starttls!, /^220 /);
    assert.match(auth!, /^235 /);
    assert.match(mail!, /^250 /);
    assert.match(rcpt!, /^250 /);
    assert.match(data!, /^250 2\.6\.0 Ok: queued as /);
    const id = recordIdOf(data!)!;
    const recs = await readRecords(t.kafka, t.codec, t.topics.outbound, (r) => r.some((x) => x.envelope.id === id));
    const e = recs.find((x) => x.envelope.id === id)!.envelope;
    assert.equal(e.clientIp, '2001:db8:99::5');
    assert.equal(e.authUser, 'alice@example.com');
  });
});
