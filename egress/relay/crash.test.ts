/**
 * Measures the relay's at-least-once guarantee under crashes: the relay runs as a child process
 * delivering N messages to an SMTP next hop and is SIGKILLed again and again mid-stream, then
 * restarted. Nothing may be lost; a duplicate can only come from a transaction in doubt at a kill
 * (its "." sent, its reply not handled): at most EGRESS_MAX_IN_DOUBT per kill, and the restarted
 * relay must have named each one (journal mark). The numbers are printed for the README.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { produce, testBroker, testDecision, testMailRecord } from '../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../runtime/testing.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { loadRelayConfig } from './config.ts';
import { createRelayTopics, ScriptedSmtp } from './testing.ts';

const { svc, admin } = testBroker('egress-crash-test');

const CHILD = fileURLToPath(new URL('./crash.test-child.ts', import.meta.url));

/**
 * Distinct messages received so far, counted as they come: the receiver shares this process, and a
 * scan of everything received at each poll would delay its replies (the window a kill hits).
 */
function distinctCounter(smtp: ScriptedSmtp, re: RegExp): () => number {
  let seen = 0;
  const ids = new Set<string>();
  return () => {
    for (; seen < smtp.received.length; seen++) ids.add(re.exec(smtp.received[seen]!.data.toString())![1]!);
    return ids.size;
  };
}

interface ChildStats { inDoubt: number; peak: number; doubtSum: number; doubtCount: number; lagMeanMs: number; lagP99Ms: number }

/**
 * A relay child process (crash.test-child.ts): the promise of its ready message (with the records the
 * journal said its killed predecessor had in doubt) and its latest in-doubt figures.
 */
function spawnRelay(env: NodeJS.ProcessEnv): { child: ChildProcess; ready: Promise<string[]>; stats: { last?: ChildStats } } {
  const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stats: { last?: ChildStats } = {};
  const ready = new Promise<string[]>((ok, fail) => {
    child.on('message', (m: { type?: string; inDoubt?: string[] } & ChildStats) => {
      if (m?.type === 'ready') ok((m.inDoubt as string[] | undefined) ?? []);
      if (m?.type === 'stats') stats.last = m;
    });
    child.once('exit', (c, sig) => fail(new Error(`relay child exited before ready (${c ?? sig})`)));
  });
  ready.catch(() => {});
  return { child, ready, stats };
}

test('SIGKILL during delivery: none lost, duplicates counted', { timeout: Number(process.env.CRASH_KILLS ?? 2) * 60000 + 60000 }, async () => {
  const N = Number(process.env.CRASH_MESSAGES ?? 200);
  // Each restart waits for the killed member's session (EGRESS_GROUP_SESSION_MS, 10 s) to expire before the partitions move back.
  const KILLS = Number(process.env.CRASH_KILLS ?? 2);
  const t = await createRelayTopics(admin, 'crash');
  const smtp = new ScriptedSmtp();
  await smtp.start();
  const records: MailRecord[] = Array.from({ length: N }, (_, i) => ({
    ...testMailRecord(`Subject: crash ${i}\r\n\r\nbody ${i}\r\n`, { rcptTo: ['bob@example.net'] }),
    decision: testDecision('deliver'),
  }));
  await produce(svc.kafka, svc.codec, t.decided, 'MailRecord', records.map((record) => ({ record })));
  const env = { ...process.env, RELAY_TOPICS: JSON.stringify(t), RELAY_GROUP: uniqueName('crash'), EGRESS_NEXT_HOP: `smtp://127.0.0.1:${smtp.port}`, EGRESS_CONCURRENCY: '8', LOG_LEVEL: 'error' };
  const spawn = () => spawnRelay(env);
  let kills = 0;
  let current = spawn();
  // Records a restarted relay's journal said were in doubt at the kill (delivered again, logged by id).
  const reportedInDoubt = new Set<string>();
  try {
    await current.ready;
    while (kills < KILLS && smtp.received.length < N) {
      // Kill while deliveries are in flight: shortly after the count moved.
      const before = smtp.received.length;
      await eventually(() => (smtp.received.length > before + 5 || smtp.received.length >= N ? true : undefined), 60000, 'progress');
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 200)));
      current.child.kill('SIGKILL');
      kills++;
      const s = current.stats.last;
      // What the kill hit, as the child last reported it (≤ 100 ms before): in doubt now, mean doubt, event-loop delay.
      if (s) console.log(`# kill ${kills}: ${s.inDoubt} in doubt (peak ${s.peak}), doubt mean ${(1000 * s.doubtSum / Math.max(1, s.doubtCount)).toFixed(2)} ms over ${s.doubtCount}, event-loop delay mean ${s.lagMeanMs.toFixed(2)} ms p99 ${s.lagP99Ms.toFixed(2)} ms`);
      await new Promise((r) => current.child.once('exit', r));
      current = spawn();
      for (const id of await current.ready) reportedInDoubt.add(id);
    }
    const distinct = distinctCounter(smtp, /Subject: crash (\d+)/);
    await eventually(() => (distinct() >= N ? true : undefined), 90000, `all ${N} delivered`);
    await new Promise((r) => setTimeout(r, 2000));
    const counts = new Map<string, number>();
    for (const m of smtp.received) {
      const id = /Subject: crash (\d+)/.exec(m.data.toString())![1]!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const duplicates = [...counts.values()].reduce((a, c) => a + c - 1, 0);
    // A redelivery is recognisable by the receiver: every copy of one message names the same record
    // and has the same Message-ID (the test messages have none: the relay derives it from the record id).
    const recordIds = new Map<string, Set<string>>();
    const messageIds = new Map<string, Set<string>>();
    for (const m of smtp.received) {
      const text = m.data.toString();
      const id = /Subject: crash (\d+)/.exec(text)![1]!;
      recordIds.set(id, (recordIds.get(id) ?? new Set()).add(/^X-Scop-Record-Id: (.+)$/m.exec(text)?.[1]?.trim() ?? 'none'));
      messageIds.set(id, (messageIds.get(id) ?? new Set()).add(/^Message-ID: (.+)$/im.exec(text)?.[1]?.trim() ?? 'none'));
    }
    assert.ok([...recordIds.entries()].every(([i, ids]) => ids.size === 1 && ids.has(records[Number(i)]!.envelope.id)), 'every copy carries its record id');
    assert.ok([...messageIds.entries()].every(([i, ids]) => ids.size === 1 && [...ids][0]!.includes(records[Number(i)]!.envelope.id)), 'every copy has the same Message-ID, derived from the record id');
    const duplicated = [...counts].filter(([, c]) => c > 1).map(([i]) => records[Number(i)]!.envelope.id);
    console.log(`# crash measurement: ${N} messages, ${kills} SIGKILLs, ${smtp.received.length} deliveries, ${counts.size} distinct, ${duplicates} duplicates (${(duplicates / kills).toFixed(2)} per kill); ${reportedInDoubt.size} reported in doubt by the restarts`);
    assert.equal(counts.size, N, 'none lost');
    // Every duplicate was a transaction in doubt at a kill, and the restart named it (journal mark before the ".").
    assert.deepEqual(duplicated.filter((id) => !reportedInDoubt.has(id)), [], 'every message delivered twice was reported in doubt by the restarted relay');
    // A kill repeats at most the transactions in doubt at that moment: EGRESS_MAX_IN_DOUBT per process.
    const maxInDoubt = loadRelayConfig(env, tmpdir()).maxInDoubt.nextHop;
    assert.ok(duplicates <= kills * maxInDoubt, `at most ${maxInDoubt} (EGRESS_MAX_IN_DOUBT) repeated per kill: ${duplicates} after ${kills} kills`);
  } finally {
    current.child.kill('SIGKILL');
    await smtp.stop();
  }
});

test('scale-out: two instances share the partitions; one SIGKILLed mid-run, the other takes its partitions over: none lost', { timeout: 180000 }, async () => {
  const N = Number(process.env.SCALE_MESSAGES ?? 600);
  const t = await createRelayTopics(admin, 'scale');
  const smtp = new ScriptedSmtp();
  await smtp.start();
  const env = { ...process.env, RELAY_TOPICS: JSON.stringify(t), RELAY_GROUP: uniqueName('scale'), EGRESS_NEXT_HOP: `smtp://127.0.0.1:${smtp.port}`, EGRESS_CONCURRENCY: '8', LOG_LEVEL: 'error' };
  const spawn = () => spawnRelay(env);
  const a = spawn();
  const b = spawn();
  try {
    await Promise.all([a.ready, b.ready]);
    const records: MailRecord[] = Array.from({ length: N }, (_, i) => ({
      ...testMailRecord(`Subject: scale ${i}\r\n\r\nbody ${i}\r\n`, { rcptTo: ['bob@example.net'] }),
      decision: testDecision('deliver'),
    }));
    await produce(svc.kafka, svc.codec, t.decided, 'MailRecord', records.map((record) => ({ record })));
    await eventually(() => (smtp.received.length > N / 4 ? true : undefined), 90000, 'progress');
    const before = smtp.received.length;
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    const distinct = distinctCounter(smtp, /Subject: scale (\d+)/);
    await eventually(() => (distinct() >= N ? true : undefined), 120000, `all ${N} delivered by the survivor`);
    await new Promise((r) => setTimeout(r, 2000));
    const duplicates = smtp.received.length - distinct();
    console.log(`# scale-out: ${N} messages over 2 instances, one SIGKILLed after ${before} deliveries; the survivor finished: ${distinct()} distinct, ${duplicates} duplicates`);
    assert.equal(distinct(), N, 'none lost');
  } finally {
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
    await smtp.stop();
  }
});
