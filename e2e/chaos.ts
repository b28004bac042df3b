/**
 * A whole-pipeline chaos run, the way an outside reviewer tests a mail system: a Kafka broker of its
 * own, the mail path's services as `scop start` runs them (ingress → the inbound chain, fused with
 * SCOP_FUSED_INSTANCES instances or one process per stage → egress, each `scop run <unit>` forked
 * and restarted by the same supervisor `scop start` uses, cli/supervisor.ts, with its default restart
 * policy), the egress delivering to a sink SMTP server. N messages go in over several SMTP sessions
 * (each retried until a 250: e2e/chaos-mail.ts) while every service instance is SIGKILLed at
 * seeded-random moments and the broker is SIGKILLed or SIGTERMed and started again ~10 s later. Then
 * it waits for quiescence and tallies what the sink received: lost (a 250, never delivered) and
 * duplicated (by X-Scop-Record-Id and Message-ID).
 *
 * Kill moments are points of progress, not of time — so the same seed kills at the same stage of a
 * run on a quiet or a loaded box: "events" are messages accepted + messages delivered (0 … 2N), and
 * each kill is due at a seeded-random fraction of 2N, and fires a seeded 0–2 s later; a service that
 * is down (restarting) when its kill is due is killed once it serves again (its ready message).
 *
 * The spam learner, DKIM signer, Matrix notifier and console are not started: they are not on the
 * inbound mail path (they would only share the two cores). Used by bench/chaos.ts and
 * e2e/chaos.test.ts.
 */
import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSpamAssassin } from '../corpus/spam-assassin/index.ts';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { startLocalKafka, type LocalKafka, type LocalKafkaOptions } from '../infra/kafka/broker.ts';
import { freePort } from '../infra/ports.ts';
import { startLocalRegistry, type LocalRegistryKind } from '../infra/schema-registry.ts';
import { createKafkaClient, type KafkaSettings } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { readTopic } from '../runtime/stage-testing.ts';
import { applyTopics, TOPICS } from '../runtime/topics.ts';
import { INBOUND_CHAIN, runArgument } from '../runtime/topology.ts';
import type { MailRecord } from '../schemas/types.ts';
import { instanceEnv, registerSchemas } from '../cli/start.ts';
import { SERVICES, startedUnits } from '../cli/services.ts';
import { restartPolicyFromEnv, Supervised, type GiveUp } from '../cli/supervisor.ts';
import { ChaosSink, chaosMessage, sendAll, tally, type ChaosMessage, type SendProgress, type SendResult, type Tally } from './chaos-mail.ts';
import { deliverEverythingEnv } from './pipeline.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'cli', 'main.ts');
const log = loggerFor('chaos');

export interface ChaosOptions {
  deployment: 'fused' | 'separate';
  messages: number;
  sessions: number;
  /** SIGKILLs of each service instance: a seeded-random count in [min, max]. */
  kills: [number, number];
  /** Broker outages (SIGKILL or SIGTERM, seeded), each `brokerDownMs` long. */
  brokerKills: number;
  brokerDownMs: number;
  /** Fused instances (SCOP_FUSED_INSTANCES), for `fused`. */
  instances: number;
  seed: number;
  dataDir: string;
  /** A registry to use; without it one is started on the chaos broker (as `scop start` does). */
  registryUrl?: string;
  registryKind?: LocalRegistryKind;
  /** The sender gives a message up when it still has no 250 this long after the first was offered (ms). */
  sendLimitMs: number;
  /** After the last 250: how long to wait for every accepted message, every kill and every restart (ms). */
  drainMs: number;
  /** No new copy for this long ends the wait (late duplicates included). */
  settleMs: number;
  /** More environment for the services. */
  env?: NodeJS.ProcessEnv;
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface KillRecord {
  target: string;
  signal: 'SIGKILL' | 'SIGTERM';
  /** When it was due (events) and done (ms since the first message was offered). */
  dueAtEvents: number;
  atMs: number;
  pid?: number;
  /** Kill → the restarted service's ready message (or the broker answering again). */
  backMs?: number;
}

export interface Stall { fromMs: number; ms: number; waiting: number; lastKillBefore?: string }

/**
 * Stretches of at least `minMs` with no message delivered while accepted ones waited: how long the
 * pipeline took to resume after a kill (the run's latency cost; losses are counted apart). Between two
 * deliveries (or the last one and `endAt`), a stall starts at the earlier delivery or when the first
 * message still waiting then was accepted, whichever is later. A message is its acceptance time and
 * its first copy's time (undefined: never delivered).
 */
export function deliveryStalls(messages: readonly { acceptedAt: number; deliveredAt?: number }[], endAt: number, minMs: number): { fromMs: number; ms: number; waiting: number }[] {
  const times = [...new Set(messages.flatMap((m) => (m.deliveredAt === undefined ? [] : [m.deliveredAt])))].sort((a, b) => a - b);
  const out: { fromMs: number; ms: number; waiting: number }[] = [];
  let prev = -Infinity;
  for (const next of [...times, endAt]) {
    // Waiting in the gap: accepted before `next`, delivered at `next` or later (or never).
    const waiting = messages.filter((m) => m.acceptedAt < next && (m.deliveredAt === undefined || m.deliveredAt >= next));
    if (waiting.length > 0) {
      const from = Math.max(prev, Math.min(...waiting.map((m) => m.acceptedAt)));
      if (next - from >= minMs) out.push({ fromMs: from, ms: next - from, waiting: waiting.length });
    }
    prev = next;
  }
  return out.sort((x, y) => y.ms - x.ms);
}

export interface DuplicateDetail { messageId: string; copiesAtMs: number[]; lastKillBefore?: { target: string; msBefore: number } }

export interface ChaosResult {
  deployment: string;
  seed: number;
  sessions: number;
  tally: Tally;
  retries: SendResult['retries'];
  notAccepted: number;
  kills: KillRecord[];
  /** Planned kills that were not done (the run ended first). */
  killsNotDone: string[];
  gaveUp: string[];
  /** Records on mail.inbound.decided (read committed) and distinct record ids among them. */
  decided: { records: number; ids: number; error?: string };
  duplicates: DuplicateDetail[];
  /** The longest stretches without a delivery while accepted mail waited (ms since start), longest first. */
  stalls: Stall[];
  sendMs: number;
  totalMs: number;
  servicesLog: string;
}

/** mulberry32: a small seeded PRNG, so a run's kill plan can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PlannedKill {
  target: string;
  dueAtEvents: number;
  /**
   * Then this long more (seeded, 0–2 s): a kill at the very event that made it due would fall just
   * after a 250 or a delivery — when the ingress answers a whole hand-off batch — and so overstate
   * the SMTP window's duplicates; a reviewer's kill at a random moment is not tied to an answer.
   */
  delayMs: number;
  signal: 'SIGKILL' | 'SIGTERM';
}

/**
 * The kill plan: each service instance `kills` times, the broker `brokerKills` times (SIGKILL or
 * SIGTERM, half and half), each at a seeded-random point of 3 %–90 % of the run's 2N events, in order.
 */
export function planKills(targets: readonly string[], o: { messages: number; kills: [number, number]; brokerKills: number; seed: number }): PlannedKill[] {
  const rnd = seededRandom(o.seed);
  const due = () => Math.round((0.03 + 0.87 * rnd()) * 2 * o.messages);
  const delay = () => Math.round(2000 * rnd());
  const plan: PlannedKill[] = [];
  for (const t of targets) {
    const n = o.kills[0] + Math.floor(rnd() * (o.kills[1] - o.kills[0] + 1));
    for (let i = 0; i < n; i++) plan.push({ target: t, dueAtEvents: due(), delayMs: delay(), signal: 'SIGKILL' });
  }
  for (let i = 0; i < o.brokerKills; i++) plan.push({ target: 'broker', dueAtEvents: due(), delayMs: delay(), signal: rnd() < 0.5 ? 'SIGKILL' : 'SIGTERM' });
  return plan.sort((a, b) => a.dueAtEvents - b.dueAtEvents);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** One chaos run of one deployment; everything it starts is stopped before it returns. */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const say = o.progress ?? (() => {});
  const dir = resolve(o.dataDir);
  mkdirSync(dir, { recursive: true });
  const servicesLog = join(dir, 'services.log');
  const stops: (() => Promise<unknown>)[] = [];
  const supervised = new Map<string, Supervised>();
  const gaveUp: string[] = [];
  const dns = new TestDnsServer();
  const sink = new ChaosSink();
  try {
    await dns.start();
    stops.push(() => dns.stop());
    const brokerOpts: LocalKafkaOptions = { dataDir: join(dir, 'kafka'), port: await freePort(), controllerPort: await freePort() };
    say(`[${o.deployment}] starting a broker of its own …`);
    let broker: LocalKafka = await startLocalKafka(brokerOpts);
    stops.push(() => broker.stop());
    const kafka: KafkaSettings = { brokers: [broker.bootstrap], clientId: 'scop-chaos' };
    const admin = createKafkaClient(kafka).admin();
    await admin.connect();
    await applyTopics(admin);
    await admin.disconnect();
    let registryUrl = o.registryUrl;
    if (!registryUrl) {
      const reg = await startLocalRegistry({ dataDir: join(dir, 'registry'), host: '127.0.0.1', port: await freePort(), kafka, kind: o.registryKind ?? 'scop' });
      stops.push(() => reg.stop());
      registryUrl = reg.url;
    }
    const codec = new RecordCodec({ url: registryUrl });
    await registerSchemas(codec);
    await sink.start(await freePort());
    stops.push(() => sink.stop());

    const mxPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...deliverEverythingEnv(dir), ...o.env,
      KAFKA_BROKERS: broker.bootstrap, SCHEMA_REGISTRY_URL: registryUrl, SCOP_DATA_DIR: join(dir, 'scop'),
      SCOP_INBOUND: o.deployment, SCOP_FUSED_INSTANCES: String(o.instances),
      DNS_SERVERS: dns.address, EGRESS_DNS_SERVERS: dns.address, DNS_TIMEOUT_MS: '500', DNS_RETRIES: '0',
      INGRESS_MX_PORT: String(mxPort), INGRESS_SUBMISSION_PORT: String(await freePort()), INGRESS_REVERSE_DNS: 'false',
      EGRESS_NEXT_HOP: `smtp://127.0.0.1:${sink.port}`, EGRESS_STARTTLS: 'off',
    };
    for (const s of SERVICES) env[s.metricsPortEnv] = String(await freePort());
    // The mail path of this deployment, in `scop start`'s order.
    const units = startedUnits(env).filter(({ unit }) => unit.name === 'ingress' || unit.name === 'egress' || unit.members || INBOUND_CHAIN.members.includes(unit.name));
    const policy = restartPolicyFromEnv(env);
    const out = openSync(servicesLog, 'a');
    stops.push(async () => closeSync(out));
    // Ready messages of restarted runs: when a killed service serves again.
    const readyAt = new Map<string, number>();
    /** The last kill of each service, until its next run is ready. */
    const awaitingBack = new Map<string, { rec: KillRecord; killedAt: number }>();
    for (const { unit, def } of units) {
      for (let i = 1; i <= unit.instances; i++) {
        const name = unit.instances > 1 ? `${unit.name}-${i}` : unit.name;
        // As `scop start` gives it: its own metrics port after the first, its instance identity.
        const childEnv = await instanceEnv(env, def, name, i);
        const sup = new Supervised({
          name, policy, log,
          spawn: () => fork(MAIN, ['run', runArgument(unit)], { cwd: ROOT, execArgv: ['--import', 'tsx'], env: childEnv, stdio: ['ignore', out, out, 'ipc'] }),
          onSpawn: (child) => child.on('message', (m: { type?: string }) => {
            if (m?.type !== 'ready') return;
            readyAt.set(name, Date.now());
            const k = awaitingBack.get(name);
            if (k) { k.rec.backMs = Date.now() - k.killedAt; awaitingBack.delete(name); }
          }),
          onGiveUp: (g: GiveUp) => { gaveUp.push(`${g.service} (${g.fastCrashes} fast crashes)`); },
        });
        supervised.set(name, sup);
        const first = sup.start();
        await new Promise<void>((ok, fail) => {
          first.on('message', (m: { type?: string }) => { if (m?.type === 'ready') ok(); });
          first.once('exit', (c, s) => fail(new Error(`${name} exited during start-up (${c ?? s}); see ${servicesLog}`)));
        });
        sup.supervise();
        say(`[${o.deployment}] ${name} ready`);
      }
    }

    // Messages: the SpamAssassin corpus, each with a Message-ID of this run.
    const corpus = loadSpamAssassin().filter((_, i) => i % 97 === 0);
    const run = `${o.deployment}-${o.seed}-${Date.now().toString(36)}`;
    const messages: ChaosMessage[] = Array.from({ length: o.messages }, (_, i) => chaosMessage(run, i, corpus[i % corpus.length]!.raw));
    const plan = planKills([...supervised.keys()], o);
    say(`[${o.deployment}] ${o.messages} messages over ${o.sessions} sessions; ${plan.length} kills planned (seed ${o.seed})`);

    const t0 = Date.now();
    const progress: SendProgress = { accepted: 0 };
    const delivered = new Set<string>();
    let seen = 0;
    const events = () => {
      for (; seen < sink.deliveries.length; seen++) delivered.add(sink.deliveries[seen]!.messageId);
      return progress.accepted + delivered.size;
    };
    const kills: KillRecord[] = [];
    let brokerBusy: Promise<void> | undefined;
    const pending = [...plan];
    const killedPids = new Set<number>();
    /** When each planned kill became due (its delay counts from then). */
    const reached = new Map<PlannedKill, number>();

    const killBroker = async (k: PlannedKill, rec: KillRecord) => {
      const pid = broker.pid;
      rec.pid = pid;
      if (k.signal === 'SIGTERM') await broker.stop();
      else {
        try { process.kill(-pid, 'SIGKILL'); } catch { process.kill(pid, 'SIGKILL'); }
        while (alive(pid)) await sleep(50);
      }
      const downAt = Date.now();
      say(`[${o.deployment}] broker ${k.signal} at ${((downAt - t0) / 1000).toFixed(1)} s; down for ${o.brokerDownMs} ms`);
      await sleep(o.brokerDownMs);
      broker = await startLocalKafka(brokerOpts);
      rec.backMs = Date.now() - downAt;
    };

    // The kill loop: due kills in order; a service that is down is killed once it runs again.
    let stopKilling = false;
    const killer = (async () => {
      while (pending.length > 0 && !stopKilling) {
        const now = events();
        // A service is killed again only once its next run serves (its ready message): killing a process
        // that is still starting tests the restart policy's crash-loop limit, not the pipeline.
        const runs = (t: string) => { const sup = supervised.get(t)!; return sup.state === 'running' && !killedPids.has(sup.child!.pid!) && readyAt.has(t); };
        const at = Date.now();
        for (const k of pending) if (k.dueAtEvents <= now && !reached.has(k)) reached.set(k, at);
        const i = pending.findIndex((k) => reached.has(k) && at >= reached.get(k)! + k.delayMs && (k.target === 'broker' ? !brokerBusy : runs(k.target)));
        if (i < 0) { await sleep(50); continue; }
        const k = pending.splice(i, 1)[0]!;
        const rec: KillRecord = { target: k.target, signal: k.signal, dueAtEvents: k.dueAtEvents, atMs: Date.now() - t0 };
        kills.push(rec);
        if (k.target === 'broker') {
          brokerBusy = killBroker(k, rec).catch((e: unknown) => { log.error({ err: e }, 'broker restart failed'); throw e; }).finally(() => { brokerBusy = undefined; });
          continue;
        }
        const child = supervised.get(k.target)!.child!;
        rec.pid = child.pid;
        killedPids.add(child.pid!);
        readyAt.delete(k.target);
        const killedAt = Date.now();
        child.kill('SIGKILL');
        say(`[${o.deployment}] SIGKILL ${k.target} (pid ${child.pid}) at ${(rec.atMs / 1000).toFixed(1)} s, ${now} events`);
        awaitingBack.set(k.target, { rec, killedAt });
      }
    })();
    const ticker = setInterval(() => say(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: accepted ${progress.accepted}, delivered ${delivered.size} (${sink.deliveries.length} copies), kills ${kills.length}/${plan.length}`), 10_000);
    try {
      const sent = await sendAll({ host: '127.0.0.1', port: mxPort, messages, sessions: o.sessions, from: 'chaos@chaos.example', to: 'sink@example.net', deadline: t0 + o.sendLimitMs, progress });
      const sendMs = Date.now() - t0;
      // Quiescence: every accepted message delivered, every kill done and its service back, and no new
      // copy for settleMs (late duplicates count) — or the drain time is up.
      const deadline = Date.now() + o.drainMs;
      let last = sink.deliveries.length;
      let quietSince = Date.now();
      while (Date.now() < deadline) {
        await sleep(250);
        events();
        if (sink.deliveries.length !== last) { last = sink.deliveries.length; quietSince = Date.now(); }
        const all = [...sent.accepted].every((id) => delivered.has(id));
        const back = kills.every((k) => k.backMs !== undefined);
        if (all && pending.length === 0 && back && !brokerBusy && Date.now() - quietSince >= o.settleMs) break;
      }
      stopKilling = true;
      if (pending.length > 0) say(`[${o.deployment}] ${pending.length} planned kills not done`);
      const killsNotDone = pending.splice(0).map((k) => k.target);
      await killer;
      await brokerBusy?.catch(() => {});
      const t = tally(o.messages, sent.accepted, sink.deliveries);
      // Attribution: did the inbound side write any record twice (read committed)?
      let readError: string | undefined;
      const records = await readTopic(createKafkaClient({ ...kafka, brokers: [broker.bootstrap], clientId: 'scop-chaos-reader' }), TOPICS.inboundDecided.name, t.deliveredUnique, { settleMs: 3000, timeoutMs: 60_000 }).catch((e: unknown) => { readError = `could not read it: ${(e as Error).message}`; return []; });
      const ids = new Set<string>();
      for (const r of records) ids.add((await codec.decodeAs<MailRecord>(r.value, 'MailRecord')).envelope.id);
      const duplicates = t.duplicated.sameRecord.concat(t.duplicated.resent).map((messageId): DuplicateDetail => {
        const copiesAtMs = sink.deliveries.filter((d) => d.messageId === messageId).map((d) => d.at - t0);
        const second = copiesAtMs[1] ?? 0;
        const before = kills.filter((k) => k.atMs <= second).at(-1);
        return { messageId, copiesAtMs, ...(before ? { lastKillBefore: { target: before.target, msBefore: second - before.atMs } } : {}) };
      });
      const first = firstCopies(sink.deliveries);
      const stalls = deliveryStalls([...sent.acceptedAt].map(([id, acceptedAt]) => ({ acceptedAt, deliveredAt: first.get(id) })), Date.now(), 15_000).slice(0, 8).map((g): Stall => {
        const before = kills.filter((k) => k.atMs + t0 <= g.fromMs).at(-1);
        return { fromMs: g.fromMs - t0, ms: g.ms, waiting: g.waiting, ...(before ? { lastKillBefore: `${before.target} at ${(before.atMs / 1000).toFixed(1)} s` } : {}) };
      });
      return {
        deployment: o.deployment, seed: o.seed, stalls, sessions: o.sessions, tally: t, retries: sent.retries, notAccepted: sent.notAccepted.size,
        kills, killsNotDone, gaveUp, decided: { records: records.length, ids: ids.size, ...(readError ? { error: readError } : {}) }, duplicates, sendMs, totalMs: Date.now() - t0, servicesLog,
      };
    } finally {
      clearInterval(ticker);
      stopKilling = true;
      pending.length = 0;
    }
  } finally {
    for (const s of [...supervised.values()].reverse()) await s.stop().catch(() => {});
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => log.warn({ err: e }, 'stop failed'));
  }
}

/** When each message's first copy arrived (later copies do not end a stall of the others). */
function firstCopies(deliveries: readonly { messageId: string; at: number }[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const d of deliveries) if (!first.has(d.messageId)) first.set(d.messageId, d.at);
  return first;
}

/** The run as lines for people (bench/chaos.ts, the test's output). */
export function formatChaos(r: ChaosResult): string[] {
  const t = r.tally;
  const pct = (n: number) => `${((100 * n) / Math.max(1, t.accepted)).toFixed(2)} %`;
  const dup = t.duplicated.sameRecord.length + t.duplicated.resent.length;
  const byTarget = new Map<string, number>();
  for (const k of r.kills) byTarget.set(k.target, (byTarget.get(k.target) ?? 0) + 1);
  return [
    `chaos [${r.deployment}] seed ${r.seed}: ${t.offered} messages, ${r.sessions} SMTP sessions; kills: ${[...byTarget].map(([k, n]) => `${k}×${n}`).join(' ')}${r.killsNotDone.length ? ` (not done: ${r.killsNotDone.join(' ')})` : ''}`,
    `  accepted (250): ${t.accepted} of ${t.offered}${r.notAccepted ? ` (${r.notAccepted} given up)` : ''}; sender retries: ${r.retries['4xx']} after a 4xx, ${r.retries.connection} after a dropped/refused session`,
    `  delivered: ${t.deliveredUnique} unique accepted messages, ${t.deliveries} copies${t.deliveredNotAccepted ? `, ${t.deliveredNotAccepted} delivered without a 250 seen (not lost)` : ''}`,
    `  LOST (250, never delivered): ${t.lost.length} (${pct(t.lost.length)})${t.lost.length ? `: ${t.lost.slice(0, 5).join(' ')}` : ''}`,
    `  DUPLICATED: ${dup} messages (${pct(dup)}), ${t.extraCopies} extra copies: ${t.duplicated.sameRecord.length} the same record delivered again (pipeline), ${t.duplicated.resent.length} sent again by the sender after an unanswered DATA (new record id; RFC 1047)`,
    `  mail.inbound.decided: ${r.decided.error ?? `${r.decided.records} records, ${r.decided.ids} record ids${r.decided.records > r.decided.ids ? ' (the inbound side wrote some twice)' : ''}`}`,
    ...r.duplicates.slice(0, 20).map((d) => `    dup ${d.messageId}: copies at ${d.copiesAtMs.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s${d.lastKillBefore ? `; last kill before the 2nd: ${d.lastKillBefore.target} ${(d.lastKillBefore.msBefore / 1000).toFixed(1)} s earlier` : ''}`),
    `  stalls ≥ 15 s with accepted mail waiting (from s, for s, waiting, last kill before): ${r.stalls.length ? r.stalls.map((g) => `${(g.fromMs / 1000).toFixed(1)}+${(g.ms / 1000).toFixed(1)} (${g.waiting}; ${g.lastKillBefore ?? 'none'})`).join(', ') : 'none'}`,
    `  kills (at s, target, back after s): ${r.kills.map((k) => `${(k.atMs / 1000).toFixed(1)} ${k.target}${k.target === 'broker' ? `(${k.signal})` : ''}→${k.backMs === undefined ? '?' : (k.backMs / 1000).toFixed(1)}`).join(', ')}`,
    `  sending took ${(r.sendMs / 1000).toFixed(1)} s, the whole run ${(r.totalMs / 1000).toFixed(1)} s${r.gaveUp.length ? `; SUPERVISOR GAVE UP: ${r.gaveUp.join(', ')}` : ''}; services' log: ${r.servicesLog}`,
  ];
}

/** The last lines of the services' log (for a failed run's message). */
export function servicesLogTail(r: Pick<ChaosResult, 'servicesLog'>, lines = 40): string {
  try { return readFileSync(r.servicesLog, 'utf8').split('\n').slice(-lines).join('\n'); } catch { return ''; }
}
