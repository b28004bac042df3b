/**
 * How long a group takes to resume after a member is killed: a member consumes a topic that gets a
 * record every 100 ms, is SIGKILLed, and a new process (what `scop start` restarts) joins in its
 * place; the figure is the time from the kill to the new process's first consumed record. Without
 * static membership the group waits for the dead member's session to expire; with it
 * (SCOP_INSTANCE_ID, platformatic) the new process takes the old place at once.
 * Used by runtime/resume.test.ts and `npm run bench -- resume`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createKafkaClient, type KafkaSettings } from './kafka.ts';
import { eventually, uniqueName } from './testing.ts';

const CHILD = join(import.meta.dirname, 'resume.test-probe-child.ts');

export interface ResumeCase { client: 'kafkajs' | 'platformatic'; sessionTimeoutMs: number; staticMember: boolean }

function member(brokers: string[], c: ResumeCase, topic: string, group: string, onRecord: (at: number) => void, onStarted: (at: number) => void = () => {}): ChildProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env, KAFKA_BROKERS: brokers.join(','), KAFKA_CLIENT: c.client, KAFKA_SESSION_TIMEOUT_MS: String(c.sessionTimeoutMs),
    RESUME_TOPIC: topic, RESUME_GROUP: group, LOG_LEVEL: 'warn',
  };
  if (c.staticMember) env.SCOP_INSTANCE_ID = `resume-probe-${group}`;
  else delete env.SCOP_INSTANCE_ID;
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  p.stdout!.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{"consumed"')) onRecord((JSON.parse(line) as { at: number }).at);
      else if (line.startsWith('{"started"')) onStarted((JSON.parse(line) as { started: number }).started);
    }
  });
  return p;
}

const waitFor = (what: string, cond: () => boolean, timeoutMs: number) => eventually(() => cond() || undefined, timeoutMs, what);

async function stopMember(p: ChildProcess): Promise<number | string | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode ?? p.signalCode;
  const gone = new Promise<number | string | null>((r) => p.once('exit', (code, signal) => r(code ?? signal)));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 15000);
  const code = await gone;
  clearTimeout(t);
  return code;
}

/**
 * resumeMs: from the SIGKILL of a consuming member to its replacement's first record; joinMs: the
 * part of it after the replacement's process was up (the group's share; the rest is Node and tsx
 * starting, which load slows); stopExit: how the replacement ended on SIGTERM afterwards (0: it
 * left the group cleanly).
 */
export async function measureResume(kafka: KafkaSettings, c: ResumeCase, timeoutMs = 120000): Promise<{ resumeMs: number; joinMs: number; stopExit: number | string | null }> {
  const topic = uniqueName('resume');
  const group = uniqueName('resume-group');
  const client = createKafkaClient(kafka);
  const admin = client.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = client.producer();
  await producer.connect();
  let n = 0;
  let producing = true;
  const ticker = (async () => {
    while (producing) {
      await producer.send({ topic, messages: [{ value: String(n++) }] });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const children: ChildProcess[] = [];
  try {
    let first = 0;
    const a = member(kafka.brokers, c, topic, group, () => { first++; });
    children.push(a);
    await waitFor('the first member to consume', () => first >= 3, timeoutMs);
    const exited = new Promise((r) => a.once('exit', r));
    const killedAt = Date.now();
    a.kill('SIGKILL');
    await exited;
    let resumedAt = 0;
    let upAt = 0;
    const b = member(kafka.brokers, c, topic, group, (at) => { resumedAt ||= at; }, (at) => { upAt = at; });
    children.push(b);
    await waitFor('the replacement to consume', () => resumedAt > 0, timeoutMs);
    return { resumeMs: resumedAt - killedAt, joinMs: resumedAt - upAt, stopExit: await stopMember(b) };
  } finally {
    producing = false;
    await ticker.catch(() => {});
    await producer.disconnect();
    for (const p of children) await stopMember(p);
  }
}
