/**
 * Ingress throughput: Postfix's smtp-source (Debian `postfix`, binaries only; no postfix daemon is
 * started) sends N messages of ~5 KB over M parallel sessions to
 *   1. a no-op smtp-server that discards the data (the SMTP library's own ceiling),
 *   2. the scop ingress (250 only after Kafka acknowledged each record),
 *   3. the scop ingress with DNSBL checks on (two lists served by Knot on loopback; skipped
 *      without knotd), to show the lookups cost nothing once cached.
 * The three legs run in turn, R rounds; each round gives a ratio against the no-op leg of the same
 * round, and the medians are printed (a loaded machine makes single runs meaningless).
 *
 * Run: npm run bench -- ingress [N=4000] [M=20] [R=5]
 * (KAFKA_BROKERS / SCHEMA_REGISTRY_URL point at a running stack; without them it starts a local
 * Kafka + registry in .data/bench first). INGRESS_* variables in the environment apply to legs 2–3.
 * BENCH_INGRESS_VARIANTS adds ingress legs with other settings, for A/B comparisons in the same run:
 * `name:KEY=value,KEY=value;name2:…` with INGRESS_* keys, e.g.
 * `1 producer:INGRESS_KAFKA_PRODUCERS=1;platformatic:INGRESS_KAFKA_CLIENT=platformatic`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { KNOTD, KnotServer } from '../infra/dns/knot.ts';
import { freePort } from '../infra/ports.ts';
import { startStack, type Stack } from '../infra/stack.ts';
import { loadIngressConfig } from '../ingress/config.ts';
import { startIngress, type RunningIngress } from '../ingress/ingress.ts';
import { createIngressTopics, metricValue } from '../ingress/testkit.ts';
import { createKafkaClient, type KafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';

const N = Number(process.argv[2] ?? 4000);
const M = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 5);
const MSG_BYTES = 5 * 1024;
const TIME_LIMIT_MS = 300_000;
const SMTP_SOURCE = '/usr/sbin/smtp-source';
const ROOT = resolve(import.meta.dirname, '..');

if (!existsSync(SMTP_SOURCE)) {
  console.error(`${SMTP_SOURCE} not found: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix (only its smtp-source binary is used)`);
  process.exit(2);
}

/** Runs smtp-source against 127.0.0.1:port; resolves with messages/s. */
function smtpSource(port: number): Promise<number> {
  return new Promise((ok, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn(SMTP_SOURCE, ['-d', '-s', String(M), '-m', String(N), '-l', String(MSG_BYTES), '-M', 'bench.example', '-f', 'bench@bench.example', '-t', 'sink@example.net', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
    child.once('close', (code) => {
      clearTimeout(killer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return fail(new Error(`smtp-source exited ${code}: ${err.trim().slice(-500)}`));
      ok(N / (ms / 1000));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Leg { name: string; port: number; rates: number[]; ratios: number[]; ingress?: RunningIngress; metrics?: Registry; topic?: string }

/** BENCH_INGRESS_VARIANTS → legs' names and settings; a malformed entry stops the bench before it starts anything. */
function parseVariants(spec: string | undefined): { name: string; settings: Record<string, string> }[] {
  if (!spec?.trim()) return [];
  return spec.split(';').filter((v) => v.trim()).map((v) => {
    const colon = v.indexOf(':');
    const name = v.slice(0, colon).trim();
    const settings = Object.fromEntries(v.slice(colon + 1).split(',').map((kv) => kv.trim().split('=', 2) as [string, string]));
    const bad = Object.entries(settings).find(([k, val]) => !k.startsWith('INGRESS_') || val === undefined);
    if (colon < 1 || bad) throw new Error(`BENCH_INGRESS_VARIANTS: "${v}" is not name:INGRESS_KEY=value,…`);
    return { name, settings };
  });
}

async function startLeg(name: string, kafka: KafkaClient, env: Record<string, string>, registryUrl: string, extra: Record<string, string>, variant: Record<string, string> = {}): Promise<Leg> {
  const kafkaSettings = kafka.settings;
  const codec = new RecordCodec({ url: registryUrl });
  const topics = await createIngressTopics(kafka, 'bench');
  const metrics = new Registry();
  const config = loadIngressConfig({
    INGRESS_HOSTNAME: 'mx.bench.scop', INGRESS_MX_PORT: String(await freePort()), INGRESS_SUBMISSION_PORT: String(await freePort()),
    INGRESS_REVERSE_DNS: 'false', INGRESS_MAX_SESSIONS_PER_PREFIX: String(M * 2), INGRESS_MAX_SESSIONS_MX: String(M * 2),
    INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: String(N * ROUNDS * 10),
    ...extra,
    // INGRESS_* set in the environment win, to measure another configuration.
    ...Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('INGRESS_'))),
    // … and a variant's over those.
    ...variant,
  }, join(ROOT, '.data', 'bench-ingress'));
  const ingress = await startIngress({ kafka, kafkaSettings, codec, log: loggerFor(`bench-${name}`), metrics }, config, topics);
  return { name, port: ingress.ports.MX!, rates: [], ratios: [], ingress, metrics, topic: topics.inbound };
}

async function main(): Promise<void> {
  const variants = parseVariants(process.env.BENCH_INGRESS_VARIANTS);
  console.log(`ingress benchmark: ${ROUNDS} rounds of ${N} messages of ${MSG_BYTES} bytes over ${M} parallel sessions (smtp-source -d); node ${process.version}`);
  let stack: Stack | undefined;
  const knot = new KnotServer();
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  if (!env.KAFKA_BROKERS || !env.SCHEMA_REGISTRY_URL) {
    console.log('starting a local Kafka + schema registry in .data/bench …');
    stack = await startStack({ ...env, SCOP_DATA_DIR: join(ROOT, '.data', 'bench'), SCOP_KAFKA_PORT: String(await freePort()), SCOP_KAFKA_CONTROLLER_PORT: String(await freePort()), SCOP_KAFKA_METRICS_PORT: String(await freePort()), SCOP_REGISTRY_PORT: String(await freePort()) });
    env.KAFKA_BROKERS = stack.kafka.brokers.join(',');
    env.SCHEMA_REGISTRY_URL = stack.registry.url;
  }
  const legs: Leg[] = [];
  let noop: SMTPServer | undefined;
  try {
    let sunk = 0;
    noop = new SMTPServer({
      logger: false, disableReverseLookup: true, disabledCommands: ['AUTH', 'STARTTLS'], size: 25 * 1024 * 1024, hideENHANCEDSTATUSCODES: false,
      onData(stream, _session, cb) {
        stream.on('data', () => {});
        stream.on('end', () => { sunk++; cb(); });
      },
    });
    const noopPort = await freePort();
    await new Promise<void>((ok) => noop!.listen(noopPort, '127.0.0.1', () => ok()));
    legs.push({ name: 'no-op smtp-server', port: noopPort, rates: [], ratios: [] });

    const kafka = createKafkaClient({ brokers: env.KAFKA_BROKERS.split(','), clientId: 'bench-ingress' });
    legs.push(await startLeg('scop ingress', kafka, env, env.SCHEMA_REGISTRY_URL, {}));
    for (const v of variants) legs.push(await startLeg(`scop ingress, ${v.name}`, kafka, env, env.SCHEMA_REGISTRY_URL, {}, v.settings));
    if (KNOTD) {
      // Two lists; the client (127.0.0.1) is in neither, so every message is checked and passes.
      await knot.start({ test: [{ name: '2.0.0.127.bl-one.test', type: 'A', value: '127.0.0.2' }, { name: '2.0.0.127.bl-two.test', type: 'A', value: '127.0.0.2' }] });
      legs.push(await startLeg('scop ingress + DNSBL', kafka, env, env.SCHEMA_REGISTRY_URL, { INGRESS_DNS_SERVERS: knot.address, INGRESS_DNSBL_SITES: 'bl-one.test*2,bl-two.test' }));
    } else {
      console.log('knotd not found: the DNSBL leg is skipped (apt-get install -y knot)');
    }

    for (let r = 1; r <= ROUNDS; r++) {
      const line: string[] = [];
      for (const leg of legs) {
        leg.rates.push(await smtpSource(leg.port));
        if (leg !== legs[0]) leg.ratios.push(leg.rates.at(-1)! / legs[0]!.rates.at(-1)!);
        line.push(`${leg.name} ${leg.rates.at(-1)!.toFixed(0)}/s`);
      }
      console.log(`round ${r}/${ROUNDS}: ${line.join(', ')}`);
    }
    if (sunk !== N * ROUNDS) throw new Error(`the no-op server took ${sunk} messages, expected ${N * ROUNDS}`);

    console.log('');
    for (const leg of legs) {
      let detail = '';
      if (leg.ingress) {
        const accepted = await metricValue(leg.metrics!, 'scop_ingress_messages_accepted_total');
        const handoff = (await leg.metrics!.getSingleMetric('scop_ingress_kafka_handoff_seconds')!.get()).values;
        const sum = handoff.find((v) => (v as { metricName?: string }).metricName === 'scop_ingress_kafka_handoff_seconds_sum' && v.labels.outcome === 'acked')?.value ?? 0;
        const count = handoff.find((v) => (v as { metricName?: string }).metricName === 'scop_ingress_kafka_handoff_seconds_count' && v.labels.outcome === 'acked')?.value ?? 1;
        await leg.ingress.stop();
        const admin = kafka.admin();
        await admin.connect();
        const inKafka = (await admin.fetchTopicOffsets(leg.topic!)).reduce((s, o) => s + Number(o.high), 0);
        await admin.disconnect();
        detail = `  (${accepted} answered 250, ${inKafka} records in Kafka, mean hand-off ${(1000 * sum / count).toFixed(1)} ms; median ratio ${median(leg.ratios).toFixed(2)}, rounds ${leg.ratios.map((x) => x.toFixed(2)).join(' ')})`;
        if (accepted !== N * ROUNDS || inKafka !== N * ROUNDS) {
          console.error(`${leg.name}: expected ${N * ROUNDS} accepted and stored messages`);
          process.exitCode = 1;
        }
        if (leg.name.includes('DNSBL')) detail += `, DNS ${await metricValue(leg.metrics!, 'scop_ingress_dns_queries_total', { result: 'miss' })} queries / ${await metricValue(leg.metrics!, 'scop_ingress_dns_queries_total', { result: 'hit' })} cache hits`;
      }
      console.log(`${leg.name.padEnd(Math.max(22, ...legs.map((l) => l.name.length)))}: median ${median(leg.rates).toFixed(0)} messages/s${detail}`);
    }
    for (const leg of legs.slice(1)) console.log(`ratio ${leg.name} / no-op: ${median(leg.ratios).toFixed(2)} (median of ${ROUNDS} same-round ratios)`);
  } finally {
    for (const leg of legs) await leg.ingress?.stop().catch(() => {});
    if (noop) await new Promise<void>((ok) => noop!.close(() => ok()));
    await knot.stop();
    await stack?.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(`bench failed: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
