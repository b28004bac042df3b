/**
 * Apicurio Registry (3.x, from Maven Central) as the local Confluent-compatible schema registry:
 * KafkaSQL storage (its journal is a Kafka topic, so schemas survive restarts and every instance
 * agrees), Confluent API at /apis/ccompat/v7, BACKWARD as the global compatibility rule (Apicurio's
 * own default is none). Needs Java 21+.
 */
import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { KafkaSettings } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import { freePort } from '../ports.ts';
import { assertPortFree, INFRA_DIR, mavenOnce, reapStale, startJava, tailOf } from '../jvm.ts';

export const APICURIO_VERSION = '3.3.3';
export const APICURIO_MIN_JAVA = 21;
const log = loggerFor('apicurio');

export interface ApicurioOptions {
  dataDir: string;
  host: string;
  port: number;
  kafka: KafkaSettings;
  java: string;
  heap?: string;
}

export async function startApicurio(o: ApicurioOptions): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const started = Date.now();
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = join(dataDir, 'apicurio.pid');
  reapStale(pidFile, dataDir);
  await assertPortFree(o.host, o.port, 'SCOP_REGISTRY_PORT');
  const managementPort = await freePort(o.host);
  const dist = mavenOnce(join(INFRA_DIR, 'apicurio', 'pom.xml'), `apicurio-${APICURIO_VERSION}`,
    (out) => ['package', `-Dscop.outputDirectory=${out}`], { 'apicurio.version': APICURIO_VERSION });
  const heap = o.heap ?? '256m';
  const proc = startJava({
    java: o.java,
    jar: join(dist, 'quarkus-run.jar'),
    args: [],
    jvmArgs: [
      `-Xms64m`, `-Xmx${heap}`, '-XX:+UseSerialGC',
      // C1 only and a class-data archive: a local registry needs a fast start, not peak throughput.
      '-XX:TieredStopAtLevel=1', '-XX:+AutoCreateSharedArchive', `-XX:SharedArchiveFile=${join(dataDir, 'apicurio.jsa')}`,
      `-Dscop.data=${dataDir}`,
      `-Dquarkus.http.host=${o.host}`, `-Dquarkus.http.port=${o.port}`,
      `-Dquarkus.management.host=${o.host}`, `-Dquarkus.management.port=${managementPort}`,
      '-Dapicurio.storage.kind=kafkasql',
      `-Dapicurio.kafkasql.bootstrap.servers=${o.kafka.brokers.join(',')}`,
      '-Dapicurio.kafkasql.topic=_apicurio-journal',
      '-Dapicurio.kafkasql.snapshots.topic=_apicurio-snapshots',
      '-Dapicurio.events.kafka.topic=_apicurio-events',
      '-Dapicurio.kafkasql.consumer.poll.timeout=200',
      '-Dapicurio.rules.global.compatibility=BACKWARD',
      '-Dapicurio.rest.deletion.artifact.enabled=true',
      '-Dquarkus.log.level=WARN',
    ],
    logFile: join(dataDir, 'apicurio.log'),
    pidFile,
  });
  const url = `http://${o.host}:${o.port}/apis/ccompat/v7`;
  // HTTP answers while the journal is still replaying; /health/ready turns 200 when it is done.
  const ready = `http://${o.host}:${managementPort}/health/ready`;
  const deadline = Date.now() + 120000;
  let exitCode: number | null | undefined;
  void proc.exited.then((c) => { exitCode = c; });
  for (;;) {
    if (exitCode !== undefined) throw new Error(`Apicurio exited during start-up (code ${exitCode}); last lines of ${proc.logFile}:\n${tailOf(proc.logFile)}`);
    if (Date.now() > deadline) {
      await proc.stop(5000);
      throw new Error(`Apicurio did not become ready within 120 s; last lines of ${proc.logFile}:\n${tailOf(proc.logFile)}`);
    }
    try {
      const r = await fetch(ready, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  log.info({ url, version: APICURIO_VERSION, ms: Date.now() - started, pid: proc.child.pid }, 'Apicurio Registry ready');
  return { url, pid: proc.child.pid!, stop: () => proc.stop(20000) };
}
