/**
 * Ingress throughput: Postfix's smtp-source (Debian `postfix`, binaries only; no postfix daemon is
 * started) sends N messages of ~5 KB over M parallel sessions, first to a no-op smtp-server that
 * discards the data (the SMTP library's own ceiling), then to the scop ingress (which answers 250
 * only after Kafka acknowledged each record). Prints messages/s for both and their ratio.
 *
 * Run: KAFKA_BROKERS=… SCHEMA_REGISTRY_URL=… node --import tsx bench/ingress.ts [N=5000] [M=20]
 * (without those variables it starts a local Kafka + registry in .data/bench first).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../infra/ports.ts';
import { startStack, type Stack } from '../infra/stack.ts';
import { loadIngressConfig } from '../ingress/config.ts';
import { startIngress } from '../ingress/ingress.ts';
import { createIngressTopics, metricValue } from '../ingress/testkit.ts';
import { createKafkaClient } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec } from '../runtime/registry.ts';

const N = Number(process.argv[2] ?? 5000);
const M = Number(process.argv[3] ?? 20);
const MSG_BYTES = 5 * 1024;
const TIME_LIMIT_MS = 300_000;
const SMTP_SOURCE = '/usr/sbin/smtp-source';
const ROOT = resolve(import.meta.dirname, '..');

if (!existsSync(SMTP_SOURCE)) {
  console.error(`${SMTP_SOURCE} not found: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix (only its smtp-source binary is used)`);
  process.exit(2);
}

/** Runs smtp-source against host:port; resolves with the wall time, printing progress. */
function smtpSource(label: string, port: number, progress: () => Promise<number>): Promise<number> {
  return new Promise((ok, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn(SMTP_SOURCE, ['-d', '-s', String(M), '-m', String(N), '-l', String(MSG_BYTES), '-M', 'bench.example', '-f', 'bench@bench.example', '-t', 'sink@example.net', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const tick = setInterval(() => {
      void progress().then((n) => process.stdout.write(`\r  ${label}: ${n}/${N} messages`));
    }, 1000);
    const killer = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
    child.once('close', (code) => {
      clearInterval(tick);
      clearTimeout(killer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      process.stdout.write(`\r  ${label}: ${N}/${N} messages in ${(ms / 1000).toFixed(2)} s\n`);
      if (code !== 0) return fail(new Error(`smtp-source exited ${code}: ${err.trim().slice(-500)}`));
      ok(ms);
    });
  });
}

async function main(): Promise<void> {
  console.log(`ingress benchmark: ${N} messages of ${MSG_BYTES} bytes over ${M} parallel sessions (smtp-source -d)`);
  let stack: Stack | undefined;
  const env = { ...process.env };
  if (!env.KAFKA_BROKERS || !env.SCHEMA_REGISTRY_URL) {
    console.log('starting a local Kafka + schema registry in .data/bench …');
    stack = await startStack({ ...env, SCOP_DATA_DIR: join(ROOT, '.data', 'bench'), SCOP_KAFKA_PORT: String(await freePort()), SCOP_KAFKA_CONTROLLER_PORT: String(await freePort()), SCOP_REGISTRY_PORT: String(await freePort()) });
    env.KAFKA_BROKERS = stack.kafka.brokers.join(',');
    env.SCHEMA_REGISTRY_URL = stack.registry.url;
  }
  try {
    // 1. The no-op server: same library, same SIZE, discards the data.
    let sunk = 0;
    const noop = new SMTPServer({
      logger: false, disableReverseLookup: true, disabledCommands: ['AUTH', 'STARTTLS'], size: 25 * 1024 * 1024, hideENHANCEDSTATUSCODES: false,
      onData(stream, _session, cb) {
        stream.on('data', () => {});
        stream.on('end', () => { sunk++; cb(); });
      },
    });
    const noopPort = await freePort();
    await new Promise<void>((ok) => noop.listen(noopPort, '127.0.0.1', () => ok()));
    const noopMs = await smtpSource('no-op smtp-server', noopPort, async () => sunk);
    await new Promise<void>((ok) => noop.close(() => ok()));

    // 2. The ingress, writing to its own fresh topics.
    const kafkaSettings = { brokers: env.KAFKA_BROKERS!.split(','), clientId: 'bench-ingress' };
    const kafka = createKafkaClient(kafkaSettings);
    const codec = new RecordCodec({ url: env.SCHEMA_REGISTRY_URL! });
    const topics = await createIngressTopics(kafka, 'bench');
    const metrics = new Registry();
    const config = loadIngressConfig({
      INGRESS_HOSTNAME: 'mx.bench.scop', INGRESS_MX_PORT: String(await freePort()), INGRESS_SUBMISSION_PORT: String(await freePort()),
      INGRESS_REVERSE_DNS: 'false', INGRESS_MAX_SESSIONS_PER_PREFIX: String(M * 2), INGRESS_MAX_SESSIONS_MX: String(M * 2),
      INGRESS_MAX_MESSAGES_PER_PREFIX_PER_MINUTE: String(N * 10),
    }, join(ROOT, '.data', 'bench-ingress'));
    const ingress = await startIngress({ kafka, kafkaSettings, codec, log: loggerFor('bench-ingress'), metrics }, config, topics);
    const ingressMs = await smtpSource('scop ingress     ', ingress.ports.MX!, () => metricValue(metrics, 'scop_ingress_messages_accepted_total'));
    const accepted = await metricValue(metrics, 'scop_ingress_messages_accepted_total');
    const handoff = (await metrics.getSingleMetric('scop_ingress_kafka_handoff_seconds')!.get()).values;
    const sum = handoff.find((v) => (v as { metricName?: string }).metricName === 'scop_ingress_kafka_handoff_seconds_sum' && v.labels.outcome === 'acked')?.value ?? 0;
    const count = handoff.find((v) => (v as { metricName?: string }).metricName === 'scop_ingress_kafka_handoff_seconds_count' && v.labels.outcome === 'acked')?.value ?? 1;
    await ingress.stop();
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topics.inbound);
    await admin.disconnect();
    const inKafka = offsets.reduce((s, o) => s + Number(o.high), 0);

    const noopRate = N / (noopMs / 1000);
    const ingressRate = N / (ingressMs / 1000);
    console.log('');
    console.log(`no-op smtp-server : ${noopRate.toFixed(0)} messages/s`);
    console.log(`scop ingress      : ${ingressRate.toFixed(0)} messages/s  (${accepted} answered 250, ${inKafka} records in ${topics.inbound}, mean Kafka hand-off ${(1000 * sum / count).toFixed(1)} ms)`);
    console.log(`ratio ingress/no-op: ${(ingressRate / noopRate).toFixed(2)}`);
    if (accepted !== N || inKafka !== N) {
      console.error(`expected ${N} accepted and stored messages`);
      process.exitCode = 1;
    }
  } finally {
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
