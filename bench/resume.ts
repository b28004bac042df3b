/**
 * Resume after a crash, before and after: a group member consuming a topic is SIGKILLed and a new
 * process joins in its place (what `scop start` does); printed is the time from the kill to the
 * replacement's first record (runtime/resume.test-probe.ts), and the part of it after the new process
 * was up (the group's share; the rest is Node starting), for
 *   - kafkajs with the old 30 s session (the baseline: what restarted stages waited),
 *   - kafkajs with the 10 s default session (KAFKA_SESSION_TIMEOUT_MS),
 *   - platformatic with the 10 s session, dynamic member,
 *   - platformatic as a static member (SCOP_INSTANCE_ID; what `scop start` sets with it), with a
 *     10 s and a 30 s session (a static member's resume should not depend on the session),
 * each `rounds` times, and each case's ratio to the baseline measured in the same run.
 * Run: `npm run bench -- resume [rounds=2]` (KAFKA_BROKERS=… to use a running broker; otherwise it
 * starts a local one in .data/bench-resume and stops it at the end). Bounded: 2 minutes per case.
 */
import { measureResume, type ResumeCase } from '../runtime/resume.test-probe.ts';
import { benchKafka } from './lib/bench-kafka.ts';

const ROUNDS = Number(process.argv[2] ?? 2);
const CASES: [string, ResumeCase][] = [
  ['kafkajs, 30 s session (baseline)', { client: 'kafkajs', sessionTimeoutMs: 30000, staticMember: false }],
  ['kafkajs, 10 s session', { client: 'kafkajs', sessionTimeoutMs: 10000, staticMember: false }],
  ['platformatic, 10 s session', { client: 'platformatic', sessionTimeoutMs: 10000, staticMember: false }],
  ['platformatic, static member, 10 s session', { client: 'platformatic', sessionTimeoutMs: 10000, staticMember: true }],
  ['platformatic, static member, 30 s session', { client: 'platformatic', sessionTimeoutMs: 30000, staticMember: true }],
];

const kafka = await benchKafka('resume');
const brokers = kafka.brokers;
const results = new Map<string, number[]>(CASES.map(([name]) => [name, []]));
const joins = new Map<string, number[]>(CASES.map(([name]) => [name, []]));
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, c] of CASES) {
      process.stderr.write(`round ${r + 1}/${ROUNDS}: ${name} …\n`);
      const { resumeMs, joinMs } = await measureResume({ brokers, clientId: 'bench-resume' }, c);
      results.get(name)!.push(resumeMs);
      joins.get(name)!.push(joinMs);
    }
  }
} finally {
  await kafka.stop();
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const base = mean(results.get(CASES[0]![0])!);
console.log('| case | kill → first record again (ms, each round) | mean | × baseline | of which after the new process was up (ms) |');
console.log('|---|---|---|---|---|');
for (const [name] of CASES) {
  const xs = results.get(name)!;
  console.log(`| ${name} | ${xs.join(', ')} | ${Math.round(mean(xs))} | ${(mean(xs) / base).toFixed(2)} | ${joins.get(name)!.join(', ')} |`);
}
