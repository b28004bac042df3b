/**
 * The local schema registry for `npm start` and the tests. `auto` (the default) runs Apicurio
 * Registry when a Java 21+ runtime is on the machine, and otherwise scop's own Confluent-compatible
 * registry (infra/registry/, schemas in the `_schemas` topic), saying so in the log.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaSettings } from '../runtime/kafka.ts';
import { probeRegistry } from '../runtime/registry.ts';
import { loggerFor } from '../runtime/log.ts';
import { assertPortFree, INFRA_DIR, tailOf } from './jvm.ts';
import { APICURIO_MIN_JAVA, startApicurio } from './apicurio/registry.ts';
import { findJava } from './java.ts';
import { ConfigError } from '../runtime/config.ts';

const log = loggerFor('registry');

export interface LocalRegistry {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export type LocalRegistryKind = 'auto' | 'apicurio' | 'scop';

export async function startLocalRegistry(opts: { dataDir: string; host: string; port: number; kafka: KafkaSettings; kind?: LocalRegistryKind }): Promise<LocalRegistry & { kind: 'apicurio' | 'scop' }> {
  const kind = opts.kind ?? 'auto';
  if (kind !== 'scop') {
    const java = findJava(APICURIO_MIN_JAVA);
    if (java) return { kind: 'apicurio', ...(await startApicurio({ ...opts, java: java.bin })) };
    if (kind === 'apicurio') {
      throw new ConfigError('SCOP_LOCAL_REGISTRY', `apicurio needs Java ${APICURIO_MIN_JAVA}+ and none was found (SCOP_JAVA_HOME, JAVA_HOME, /usr/lib/jvm)`,
        `install a JDK ${APICURIO_MIN_JAVA}+ and set SCOP_JAVA_HOME to it, or use SCOP_LOCAL_REGISTRY=scop`);
    }
    log.warn(`no Java ${APICURIO_MIN_JAVA}+ found for Apicurio Registry; starting scop's own Confluent-compatible registry instead`);
  }
  return { kind: 'scop', ...(await startScopRegistry(opts)) };
}

async function startScopRegistry(opts: { dataDir: string; host: string; port: number; kafka: KafkaSettings }): Promise<LocalRegistry> {
  const started = Date.now();
  await assertPortFree(opts.host, opts.port, 'SCOP_REGISTRY_PORT');
  mkdirSync(opts.dataDir, { recursive: true });
  const logFile = join(opts.dataDir, 'registry.log');
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(INFRA_DIR, 'registry', 'main.ts'), '--host', opts.host, '--port', String(opts.port)], {
    stdio: ['ignore', out, out],
    env: { ...process.env, KAFKA_BROKERS: opts.kafka.brokers.join(',') },
  });
  closeSync(out);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const url = `http://${opts.host}:${opts.port}`;
  const died = exited.then((code) => { throw new Error(`the schema registry exited during start-up (code ${code}); last lines of ${logFile}:\n${tailOf(logFile)}`); });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    }
  };
  process.once('exit', () => child.kill('SIGKILL'));
  try {
    await Promise.race([probeRegistry({ url }, 60000), died]);
  } catch (e) {
    await stop();
    throw e;
  }
  died.catch(() => {});
  log.info({ url, ms: Date.now() - started, pid: child.pid }, 'schema registry ready');
  return { url, pid: child.pid!, stop };
}
