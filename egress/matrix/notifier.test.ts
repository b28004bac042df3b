/**
 * The Matrix notifier against a real Synapse (started once for this file) and the real broker:
 * routing, exactly-once posts, digests, rate limits, a SIGKILLed notifier, a homeserver that is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry, type Counter } from 'prom-client';
import { newAlert, publishAlert } from '../../runtime/alerts.ts';
import type { Admin, Producer } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import type { ServiceContext } from '../../runtime/service.ts';
import type { RunningSink } from '../../runtime/sink.ts';
import { createStageTopics, produce, readTopic, spawnStage, testServiceContext, type StageTopics } from '../../runtime/stage-testing.ts';
import { eventually } from '../../runtime/testing.ts';
import type { Alert } from '../../schemas/types.ts';
import { MatrixClient } from './client.ts';
import { ALERT_IDS_KEY } from './format.ts';
import type { Notifier } from './notifier.ts';
import { singleTxnId } from './notifier.ts';
import { matrixNotifierService } from './service.ts';
import { TestSynapse, type SynapseUser, type TestEvent } from './synapse-testing.ts';

const SERVICE_MODULE = fileURLToPath(new URL('./service.ts', import.meta.url));

describe('matrix notifier (real Synapse, real Kafka)', { timeout: 240000 }, () => {
  let syn: TestSynapse;
  let adminUser: SynapseUser;
  let bot: SynapseUser;
  let slow: SynapseUser;
  const svc = testServiceContext('matrix-test');
  let admin: Admin;
  let producer: Producer;
  const running: RunningSink<Notifier>[] = [];

  before(async () => {
    admin = svc.kafka.admin();
    producer = svc.kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    // One message per second with a burst of 3 for users not exempted: `slow` meets 429s.
    syn = await TestSynapse.create({ messagesPerSecond: 1, burst: 3 });
    adminUser = await syn.register('admin', true);
    bot = await syn.register('bot');
    slow = await syn.register('slowbot');
    await syn.exemptFromRateLimit(adminUser.accessToken, adminUser.userId);
    await syn.exemptFromRateLimit(adminUser.accessToken, bot.userId);
  });

  after(async () => {
    for (const r of running) await r.stop().catch(() => {});
    await Promise.all([admin?.disconnect(), producer?.disconnect()]);
    await syn?.destroy();
  });

  const room = (name: string) => syn.createRoom(adminUser.accessToken, name, [bot.userId, slow.userId]);
  const events = (roomId: string) => syn.messages(adminUser.accessToken, roomId);
  const idsIn = (evs: TestEvent[]) => evs.flatMap((e) => (e.content[ALERT_IDS_KEY] as string[] | undefined) ?? []);
  const committed = async (t: StageTopics) => {
    const [o] = await admin.fetchOffsets({ groupId: t.groupId, topics: [t.input] });
    return Number(o!.partitions[0]!.offset);
  };
  const matrixEnv = (user: SynapseUser, over: Record<string, string>) => ({
    MATRIX_HOMESERVER_URL: syn.url, MATRIX_ALLOW_INSECURE: 'true', MATRIX_USER: user.localpart, MATRIX_PASSWORD: user.password, MATRIX_RETRY_MAX: '1s', ...over,
  });
  const startNotifier = async (t: StageTopics, env: Record<string, string>): Promise<{ r: RunningSink<Notifier>; metrics: Registry }> => {
    const metrics = new Registry();
    const ctx: ServiceContext = { ...svc, env: { ...process.env, ...env }, metrics, log: loggerFor('matrix-notifier') };
    const r = await matrixNotifierService.run(ctx, { input: t.input, deadLetters: t.deadLetters, groupId: t.groupId });
    running.push(r);
    return { r, metrics };
  };
  const counter = async (metrics: Registry, name: string, labels: Record<string, string>) => {
    const m = (await (metrics.getSingleMetric(name) as Counter).get()).values;
    return m.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((n, v) => n + v.value, 0);
  };
  /** Every alert id exactly once across the room's posts. */
  const assertOnce = (evs: TestEvent[], alerts: Alert[]) => {
    const ids = idsIn(evs);
    assert.equal(ids.length, new Set(ids).size, `no alert posted twice (${ids.length} ids in ${evs.length} posts)`);
    assert.deepEqual([...ids].sort(), alerts.map((a) => a.id).sort());
  };

  it('the homeserver de-duplicates a transaction id per device, across logins', async () => {
    const roomId = await room('txn');
    const log = loggerFor('matrix-test');
    const client = (deviceId: string) => new MatrixClient({ homeserverUrl: syn.url, auth: { user: bot.localpart, password: bot.password, deviceId }, log });
    const [a, b, other] = [client('DEV_A'), client('DEV_A'), client('DEV_B')];
    for (const c of [a, b, other]) await c.connect();
    await a.join(roomId);
    const content = { msgtype: 'm.notice', body: 'once' };
    const first = await a.send(roomId, 'txn-1', content);
    assert.equal(await b.send(roomId, 'txn-1', content), first, 'a second login of the same device gets the first event back');
    assert.notEqual(await other.send(roomId, 'txn-1', content), first, 'another device posts again: the device id must stay fixed');
    assert.equal((await events(roomId)).length, 2);
  });

  it('posts each alert once to the rooms its kind and severity route to, HTML-escaped; bad records go to dead letters', async () => {
    const [ops, crit] = [await room('ops'), await room('crit')];
    const t = await createStageTopics(admin, 'matrix-route', 1);
    const block = newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: 'prefix blocked', details: { expires: 'in 1 h' } });
    const virus = newAlert({ kind: 'virus', source: 'av', severity: 'critical', summary: 'EICAR found', recordId: 'rec-1' });
    const dmarc = newAlert({ kind: 'dmarc-failure', source: 'auth', summary: 'not routed anywhere' });
    const err = newAlert({ kind: 'stage-error', source: 'mime', severity: 'info', summary: '<script>alert("x")</script> & more' });
    await publishAlert(producer, svc.codec, [block, virus, dmarc, err, block /* published twice, e.g. a retried batch */], t.input);
    await produce(svc.kafka, svc.codec, t.input, 'Alert', [{ raw: Buffer.from('not avro') }]);
    const { metrics } = await startNotifier(t, matrixEnv(bot, {
      MATRIX_ROUTES: JSON.stringify([{ room: ops, kinds: ['block', 'virus', 'stage-error'] }, { room: crit, minSeverity: 'critical' }]),
      MATRIX_DIGEST_WINDOW: '0',
    }));
    await eventually(async () => ((await committed(t)) === 6 ? true : undefined), 30000, 'all 6 offsets committed');
    await new Promise((r) => setTimeout(r, 500));
    const opsEvents = await events(ops);
    assertOnce(opsEvents, [block, virus, err]);
    assertOnce(await events(crit), [virus]);
    const errEvent = opsEvents.find((e) => idsIn([e])[0] === err.id)!;
    assert.match(String(errEvent.content.formatted_body), /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; more/);
    assert.ok(!String(errEvent.content.formatted_body).includes('<script'));
    assert.match(String(errEvent.content.body), /<script>alert\("x"\)<\/script> & more/);
    assert.equal(await counter(metrics, 'scop_matrix_alerts_skipped_total', { reason: 'unrouted' }), 1);
    const dead = await readTopic(svc.kafka, t.deadLetters, 1, { settleMs: 200 });
    assert.equal(dead.length, 1);
  });

  it('digests a burst of one kind and subject: the first alert at once, the rest in one message after the window', async () => {
    const ops = await room('digest');
    const t = await createStageTopics(admin, 'matrix-digest', 1);
    const burst = Array.from({ length: 20 }, (_, i) => newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: `connection refused from 203.0.113.${i % 2 ? 7 : 9}` }));
    const otherPrefix = newAlert({ kind: 'block', source: 'firewall', subject: '198.51.100.0/24', summary: 'connection refused from 198.51.100.1' });
    const critical = newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', severity: 'critical', summary: 'prefix blocked' });
    await startNotifier(t, matrixEnv(bot, { MATRIX_ROOM: ops, MATRIX_DIGEST_WINDOW: '3s' }));
    await publishAlert(producer, svc.codec, [burst[0]!, otherPrefix, ...burst.slice(1, 10), critical, ...burst.slice(10)], t.input);
    const singles = await eventually(async () => { const e = await events(ops); return e.length >= 3 ? e : undefined; }, 20000, 'three single posts');
    // Sink commits are coalesced (SCOP_SINK_COMMIT_INTERVAL_MS, 100 ms): wait for the first one, then check where it stopped.
    if (singles.length === 3) assert.equal(await eventually(async () => { const c = await committed(t); return c >= 0 ? c : undefined; }, 5000, 'the first offset commit'), 2, 'offsets stop at the first alert held for the digest');
    await eventually(async () => ((await committed(t)) === 22 ? true : undefined), 20000, 'all offsets committed after the digest');
    const all = await events(ops);
    assertOnce(all, [...burst, otherPrefix, critical]);
    assert.equal(all.length, 4, all.map((e) => e.content.body).join('\n---\n'));
    const digest = all.find((e) => idsIn([e]).length > 1)!;
    assert.match(String(digest.content.body), /19 more block alerts for 203\.0\.113\.0\/24 in the last 3 seconds/);
    assert.match(String(digest.content.body), /(10|9)× connection refused from 203\.0\.113\.(7|9)/);
  });

  it('posts open digests at a graceful stop and commits them; a post the room refuses goes to dead letters', async () => {
    const ops = await room('stop');
    const readOnly = await syn.createRoom(adminUser.accessToken, 'read-only', [bot.userId], { events_default: 50 });
    const t = await createStageTopics(admin, 'matrix-stop', 1);
    const { r } = await startNotifier(t, matrixEnv(bot, {
      MATRIX_ROUTES: JSON.stringify([{ room: ops, kinds: ['block'] }, { room: readOnly, kinds: ['virus'] }]),
      MATRIX_DIGEST_WINDOW: '10m',
    }));
    const burst = Array.from({ length: 5 }, () => newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: 'connection refused' }));
    const refused = newAlert({ kind: 'virus', source: 'av', summary: 'cannot be posted' });
    await publishAlert(producer, svc.codec, [...burst, refused], t.input);
    const dead = await readTopic(svc.kafka, t.deadLetters, 1, { settleMs: 200 });
    assert.match(dead[0]!.value.toString('latin1'), /M_FORBIDDEN/);
    await eventually(async () => ((await events(ops)).length === 1 ? true : undefined), 20000, 'the first alert');
    assert.equal(await committed(t), 1, 'the rest waits for the digest (10 min)');
    await r.stop();
    const evs = await events(ops);
    assertOnce(evs, burst);
    assert.equal(evs.length, 2);
    assert.equal(await committed(t), 6);
  });

  it('answers `!scop status` from an allowed user, once, and ignores everyone else', async () => {
    const ops = await room('commands');
    const t = await createStageTopics(admin, 'matrix-cmd', 1);
    await startNotifier(t, matrixEnv(bot, { MATRIX_ROOM: ops, MATRIX_DIGEST_WINDOW: '10m', MATRIX_COMMAND_USERS: adminUser.userId }));
    const held = Array.from({ length: 3 }, () => newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: 'connection refused' }));
    await publishAlert(producer, svc.codec, held, t.input);
    await eventually(async () => ((await events(ops)).length === 1 ? true : undefined), 20000, 'the first alert');
    await new Promise((r) => setTimeout(r, 1000)); // the listener's first sync
    const say = (user: SynapseUser, txn: string, body: string) =>
      syn.api('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(ops)}/send/m.room.message/${txn}`, user.accessToken, { msgtype: 'm.text', body });
    await syn.api('POST', `/_matrix/client/v3/join/${encodeURIComponent(ops)}`, slow.accessToken, {});
    await say(slow, 'c1', '!scop status');
    await say(adminUser, 'c2', '!scop status');
    const reply = await eventually(async () => (await events(ops)).find((e) => e.sender === bot.userId && /scop matrix notifier/.test(String(e.content.body))), 20000, 'a status reply');
    assert.match(String(reply.content.body), /posted: 1 alerts on their own, 0 digests/);
    assert.match(String(reply.content.body), /waiting: 2 alerts in 1 open digest windows/);
    await new Promise((r) => setTimeout(r, 1500));
    const replies = (await events(ops)).filter((e) => e.sender === bot.userId && /scop matrix notifier/.test(String(e.content.body)));
    assert.equal(replies.length, 1, 'one reply: the user not allowed gets none');
  });

  it('honours the homeserver’s rate limit (429 + retry_after_ms): every alert arrives, once, in order', async () => {
    const ops = await room('ratelimit');
    const t = await createStageTopics(admin, 'matrix-429', 1);
    const alerts = Array.from({ length: 8 }, (_, i) => newAlert({ kind: 'stage-error', source: 'test', summary: `error ${i}` }));
    await publishAlert(producer, svc.codec, alerts, t.input);
    const { metrics } = await startNotifier(t, matrixEnv(slow, { MATRIX_ROOM: ops, MATRIX_DIGEST_WINDOW: '0', MATRIX_DEVICE_ID: 'RATE' }));
    await eventually(async () => ((await committed(t)) === 8 ? true : undefined), 40000, 'all 8 committed');
    const evs = await events(ops);
    assertOnce(evs, alerts);
    assert.deepEqual(idsIn(evs), alerts.map((a) => a.id), 'in order');
    assert.ok(await counter(metrics, 'scop_matrix_requests_total', { endpoint: 'send', outcome: 'rate-limited' }) > 0, 'was rate-limited');
  });

  it('a notifier SIGKILLed mid-batch and restarted posts every alert exactly once (transaction ids), and a full replay as another device posts nothing (read-back)', async () => {
    const ops = await room('kill');
    const t = await createStageTopics(admin, 'matrix-kill', 1);
    const singles = Array.from({ length: 12 }, (_, i) => newAlert({ kind: 'stage-error', source: 'test', summary: `error ${i}` }));
    const burst = Array.from({ length: 10 }, () => newAlert({ kind: 'block', source: 'firewall', subject: '192.0.2.0/24', summary: 'connection refused' }));
    // Offsets: 6 singles, the burst's first alert (posted at once), 4 held for the digest, 6 singles, 5 more held.
    const alerts = [...singles.slice(0, 6), ...burst.slice(0, 5), ...singles.slice(6), ...burst.slice(5)];
    await publishAlert(producer, svc.codec, alerts, t.input);
    // The rate-limited user posts about one message a second, so the kill lands mid-batch.
    const env = (over: Record<string, string>) => ({ ...matrixEnv(slow, { MATRIX_ROOM: ops, MATRIX_DIGEST_WINDOW: '2s', MATRIX_DEVICE_ID: 'KILLTEST', ...over }), LOG_LEVEL: 'warn' });
    const first = spawnStage(SERVICE_MODULE, 'matrixNotifierService', t, env({}));
    await first.ready;
    await eventually(async () => ((await events(ops)).length >= 9 ? true : undefined), 30000, '9 posts');
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed');
    const postedAtKill = idsIn(await events(ops)).length;
    const committedAtKill = await committed(t);
    assert.ok(postedAtKill < alerts.length, `killed mid-batch (${postedAtKill}/${alerts.length} posted)`);
    assert.ok(committedAtKill < postedAtKill, `some alerts were posted but not committed (${committedAtKill} committed, ${postedAtKill} posted): the restart replays them`);
    // Same device, and no reading back of earlier posts: only the transaction ids keep the replay from posting twice.
    const second = spawnStage(SERVICE_MODULE, 'matrixNotifierService', t, env({ MATRIX_DEDUP_LOOKBACK: '0' }));
    await second.ready;
    try {
      // The group waits for the killed member's session (30 s) before the new one gets the partition.
      await eventually(async () => ((await committed(t)) === alerts.length ? true : undefined), 120000, 'all committed after the restart');
      await new Promise((r) => setTimeout(r, 1000));
      assertOnce(await events(ops), alerts);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    // The whole topic again, as a new group and another device of the same user (transaction ids no help): the read-back skips every alert.
    const posts = (await events(ops)).length;
    const { r, metrics } = await startNotifier({ ...t, groupId: `${t.groupId}-replay` }, matrixEnv(slow, { MATRIX_ROOM: ops, MATRIX_DIGEST_WINDOW: '2s', MATRIX_DEVICE_ID: 'REPLAY' }));
    await eventually(async () => ((await committed({ ...t, groupId: r.groupId })) === alerts.length ? true : undefined), 30000, 'replay committed');
    assert.equal(await counter(metrics, 'scop_matrix_alerts_skipped_total', { reason: 'already-posted' }), alerts.length);
    assert.equal((await events(ops)).length, posts, 'nothing posted again');
  });

  it('retries a homeserver that is down until it is back: nothing lost, nothing twice, offsets wait', async () => {
    const ops = await room('down');
    const t = await createStageTopics(admin, 'matrix-down', 1);
    const { metrics } = await startNotifier(t, matrixEnv(bot, { MATRIX_ROOM: ops, MATRIX_DIGEST_WINDOW: '2s', MATRIX_DEVICE_ID: 'DOWNTEST' }));
    const hello = newAlert({ kind: 'stage-error', source: 'test', summary: 'before the outage' });
    await publishAlert(producer, svc.codec, hello, t.input);
    await eventually(async () => ((await committed(t)) === 1 ? true : undefined), 20000, 'first alert committed');
    const [helloEvent] = await events(ops);

    await syn.stop();
    const during = [
      ...Array.from({ length: 3 }, (_, i) => newAlert({ kind: 'virus', source: 'av', summary: `virus ${i}` })),
      ...Array.from({ length: 4 }, () => newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: 'connection refused' })),
    ];
    await publishAlert(producer, svc.codec, during, t.input);
    await eventually(async () => ((await counter(metrics, 'scop_matrix_requests_total', { outcome: 'unavailable' })) >= 2 ? true : undefined), 20000, 'failed attempts');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await committed(t), 1, 'nothing committed while the homeserver is down');

    await syn.start();
    await eventually(async () => ((await committed(t)) === 8 ? true : undefined), 30000, 'all committed once it is back');
    const evs = await events(ops);
    assertOnce(evs, [hello, ...during]);

    // Synapse keeps transaction ids across its own restart: a fresh login of the same device re-sending the first post gets the same event.
    const again = new MatrixClient({ homeserverUrl: syn.url, auth: { user: bot.localpart, password: bot.password, deviceId: 'DOWNTEST' }, log: loggerFor('matrix-test') });
    await again.connect();
    assert.equal(await again.send(ops, singleTxnId(hello.id), { msgtype: 'm.notice', body: 'again' }), helloEvent!.event_id);
    assert.equal((await events(ops)).length, evs.length);
  });
});
