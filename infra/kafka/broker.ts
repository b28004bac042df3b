/**
 * A local Apache Kafka broker in KRaft mode (one node, broker + controller) for `npm start` and the
 * tests: jars from Maven Central (infra/kafka/pom.xml), storage formatted on first start, ready when
 * a metadata request succeeds.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { probeBrokers, type KafkaSettings } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import { assertPortFree, INFRA_DIR, reapStale, resolveJars, startJava, tailOf, type JavaProcess } from '../jvm.ts';
import { spawnSync } from 'node:child_process';

/** Chosen by testing kafkajs 2.2.4 against it: see README "Why Kafka 4.4". */
export const KAFKA_VERSION = '4.4.0';
/** The last jmx_prometheus_javaagent on Maven Central (1.1+ are published on GitHub only). */
export const JMX_EXPORTER_VERSION = '1.0.1';
const log = loggerFor('kafka-broker');

export interface LocalKafkaOptions {
  dataDir: string;
  host?: string;
  port: number;
  controllerPort: number;
  /** JVM heap, e.g. "512m". */
  heap?: string;
  /**
   * Authentication and authorization (the ACL example, SECURITY.md): clients must log in with
   * SASL/SCRAM-SHA-512 as one of `users` (created when the storage is formatted), the standard
   * KRaft authorizer denies everything no ACL allows, and `admin` (which must be among the users) is
   * the super user the broker itself and operators' tools use. The controller listener uses SASL
   * PLAIN with the admin password (SCRAM credentials live in the metadata the controller serves).
   */
  sasl?: { users: Record<string, string> };
  /**
   * Mutual TLS (the mTLS test, SECURITY.md): the client listener speaks TLS with `keystore` (one PEM
   * file: the broker's private key, unencrypted PKCS#8, and its certificate chain) and requires a
   * client certificate signed by a CA in `truststore` (PEM); the broker talks to itself over it too,
   * so its certificate must allow client authentication. `client` is what the start-up probe (and
   * LocalKafka.adminSsl) connects with. Not combined with `sasl`.
   */
  tls?: { keystore: string; truststore: string; client: NonNullable<KafkaSettings['ssl']> };
  /**
   * Port for the Prometheus JMX exporter agent's /metrics (Kafka's own metrics, jmx-exporter/kafka.yaml);
   * undefined: no agent.
   */
  metricsPort?: number;
  /**
   * Membership of a cluster of several nodes (cluster.ts): this node's id, the controller quorum
   * (`id@host:port,…`), the cluster id every node is formatted with, and the cluster's size (the
   * internal topics get min(3, size) copies). Undefined: a cluster of one.
   */
  cluster?: { nodeId: number; voters: string; clusterId: string; size: number };
}

export interface LocalKafka {
  bootstrap: string;
  /** host:port of the JMX exporter's /metrics, when started with one. */
  metrics?: string;
  /** The admin's client settings when the broker requires SASL. */
  adminSasl?: { mechanism: 'scram-sha-512'; username: string; password: string };
  /** The client TLS settings the broker was probed with, when started with `tls`. */
  adminSsl?: KafkaSettings['ssl'];
  pid: number;
  stop(): Promise<void>;
}

type BrokerOptions = Required<Omit<LocalKafkaOptions, 'sasl' | 'tls' | 'metricsPort' | 'cluster'>> & Pick<LocalKafkaOptions, 'sasl' | 'tls' | 'metricsPort' | 'cluster'>;

/** A value inside a JAAS option string: quotes and backslashes escaped. */
const jaas = (v: string) => `"${v.replace(/[\\"]/g, '\\$&')}"`;

function listenerProperties(o: BrokerOptions): string[] {
  if (o.tls) {
    if (o.sasl) throw new Error('tls and sasl are not combined on the local broker');
    return [
      `listeners=SSL://${o.host}:${o.port},CONTROLLER://${o.host}:${o.controllerPort}`,
      `advertised.listeners=SSL://${o.host}:${o.port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=SSL:SSL,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=SSL',
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${o.tls.keystore}`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${o.tls.truststore}`,
      'ssl.client.auth=required',
    ];
  }
  if (!o.sasl) {
    return [
      `listeners=PLAINTEXT://${o.host}:${o.port},CONTROLLER://${o.host}:${o.controllerPort}`,
      `advertised.listeners=PLAINTEXT://${o.host}:${o.port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
    ];
  }
  const admin = o.sasl.users.admin;
  if (!admin) throw new Error('sasl.users must include admin (the super user the broker logs in as)');
  // They go into StorageTool's --add-scram syntax (name=…,password=…) and JAAS: keep them plain.
  const bad = Object.entries(o.sasl.users).find(([n, p]) => !/^[A-Za-z0-9._-]+$/.test(n) || !/^[A-Za-z0-9._-]+$/.test(p));
  if (bad) throw new Error(`sasl user "${bad[0]}": names and passwords must be letters, digits, . _ -`);
  return [
    `listeners=CLIENTS://${o.host}:${o.port},CONTROLLER://${o.host}:${o.controllerPort}`,
    `advertised.listeners=CLIENTS://${o.host}:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CLIENTS:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT',
    'inter.broker.listener.name=CLIENTS',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    'listener.name.clients.sasl.enabled.mechanisms=SCRAM-SHA-512',
    `listener.name.clients.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password=${jaas(admin)};`,
    'sasl.mechanism.controller.protocol=PLAIN',
    'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
    `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password=${jaas(admin)} user_admin=${jaas(admin)};`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users=User:admin',
    'allow.everyone.if.no.acl.found=false',
  ];
}

function serverProperties(o: BrokerOptions, logDir: string): string {
  const size = o.cluster?.size ?? 1;
  // Kafka's own topics (offsets, transactions) as durable as ours (runtime/topics.ts durabilityFor).
  const rf = Math.min(3, size);
  const isr = size >= 3 ? 2 : 1;
  return [
    'process.roles=broker,controller',
    `node.id=${o.cluster?.nodeId ?? 1}`,
    `controller.quorum.voters=${o.cluster?.voters ?? `1@${o.host}:${o.controllerPort}`}`,
    ...listenerProperties(o),
    `log.dirs=${logDir}`,
    'num.partitions=3',
    'auto.create.topics.enable=false',
    `offsets.topic.replication.factor=${rf}`,
    'offsets.topic.num.partitions=10',
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${isr}`,
    'transaction.state.log.num.partitions=10',
    `share.coordinator.state.topic.replication.factor=${rf}`,
    `share.coordinator.state.topic.min.isr=${isr}`,
    // No initial rebalance delay: one local node, and tests start consumers often.
    'group.initial.rebalance.delay.ms=0',
    // Room for a 25 MiB message plus its record (topics set max.message.bytes themselves).
    'message.max.bytes=41943040',
    'replica.fetch.max.bytes=41943040',
    'log.segment.bytes=268435456',
    '',
  ].join('\n');
}

const LOG4J2 = `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:scop.kafka.logfile}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
`;

export async function startLocalKafka(opts: LocalKafkaOptions): Promise<LocalKafka> {
  const o: BrokerOptions = { host: '127.0.0.1', heap: '512m', ...opts, dataDir: resolve(opts.dataDir) };
  const started = Date.now();
  const pidFile = join(o.dataDir, 'kafka.pid');
  reapStale(pidFile, o.dataDir);
  await assertPortFree(o.host, o.port, 'SCOP_KAFKA_PORT');
  await assertPortFree(o.host, o.controllerPort, 'SCOP_KAFKA_CONTROLLER_PORT');
  if (o.metricsPort !== undefined) await assertPortFree(o.host, o.metricsPort, 'SCOP_KAFKA_METRICS_PORT');

  const jars = resolveJars(join(INFRA_DIR, 'kafka', 'pom.xml'), `kafka-${KAFKA_VERSION}`, { 'kafka.version': KAFKA_VERSION });
  const classpath = `${jars}/*`;
  const logDir = join(o.dataDir, 'kafka-logs');
  mkdirSync(o.dataDir, { recursive: true });
  const props = join(o.dataDir, 'server.properties');
  writeFileSync(props, serverProperties(o, logDir));
  const log4j = join(o.dataDir, 'log4j2.properties');
  writeFileSync(log4j, LOG4J2);
  const logFile = join(o.dataDir, 'kafka.log');
  const jvmLogArgs = [`-Dlog4j2.configurationFile=${log4j}`, `-Dscop.kafka.logfile=${logFile}`];

  if (!existsSync(join(logDir, 'meta.properties'))) {
    // KRaft cluster ids are 16 random bytes in URL-safe base64 (Kafka's Uuid format). One may start
    // with '-', which the tool would take for an option: hence --cluster-id=<id>.
    const clusterId = o.cluster?.clusterId ?? newClusterId();
    // SCRAM users are part of the initial metadata (KIP-900): the broker needs admin's to log in to itself.
    const scram = Object.entries(o.sasl?.users ?? {}).flatMap(([name, password]) => ['--add-scram', `SCRAM-SHA-512=[name=${name},password=${password}]`]);
    const fmt = spawnSync('java', [...jvmLogArgs, '-cp', classpath, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', props, ...scram], { encoding: 'utf8' });
    if (fmt.status !== 0) throw new Error(`formatting Kafka storage in ${logDir} failed: ${(fmt.stdout + fmt.stderr).trim()}`);
    log.info({ logDir, clusterId }, 'formatted KRaft storage');
  }

  const proc: JavaProcess = startJava({
    classpath,
    mainClass: 'kafka.Kafka',
    args: [props],
    jvmArgs: [`-Xms${o.heap}`, `-Xmx${o.heap}`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true', ...jvmLogArgs, ...jmxExporterArgs(o.host, o.metricsPort)],
    logFile: join(o.dataDir, 'kafka.out'),
    pidFile,
  });
  const bootstrap = `${o.host}:${o.port}`;
  const adminSasl = o.sasl ? { mechanism: 'scram-sha-512' as const, username: 'admin', password: o.sasl.users.admin! } : undefined;
  const died = proc.exited.then((code) => {
    throw new Error(`Kafka exited during start-up (code ${code}); last lines of ${logFile}:\n${tailOf(logFile)}\n${tailOf(proc.logFile)}`);
  });
  try {
    await Promise.race([probeBrokers({ brokers: [bootstrap], clientId: 'scop-infra', sasl: adminSasl, ssl: o.tls?.client }, 90000), died]);
  } catch (e) {
    await proc.stop(5000);
    throw e;
  }
  died.catch(() => {}); // exit after a successful start is reported by stop()/the stack
  log.info({ bootstrap, version: KAFKA_VERSION, ms: Date.now() - started, pid: proc.child.pid, sasl: Boolean(o.sasl), tls: Boolean(o.tls) }, 'Kafka ready');
  return { bootstrap, adminSasl, ...(o.tls ? { adminSsl: o.tls.client } : {}), pid: proc.child.pid!, stop: () => proc.stop(), ...(o.metricsPort !== undefined ? { metrics: `${o.host}:${o.metricsPort}` } : {}) };
}

/** A KRaft cluster id: 16 random bytes in URL-safe base64 (Kafka's Uuid format). */
export const newClusterId = () => Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');

/** The Prometheus JMX exporter as a java agent (jar from Maven Central, rules in jmx-exporter/kafka.yaml). */
function jmxExporterArgs(host: string, port: number | undefined): string[] {
  if (port === undefined) return [];
  const dir = resolveJars(join(INFRA_DIR, 'kafka', 'jmx-exporter', 'pom.xml'), `jmx-exporter-${JMX_EXPORTER_VERSION}`, { 'jmx.exporter.version': JMX_EXPORTER_VERSION });
  const jar = join(dir, `jmx_prometheus_javaagent-${JMX_EXPORTER_VERSION}.jar`);
  return [`-javaagent:${jar}=${host}:${port}:${join(INFRA_DIR, 'kafka', 'jmx-exporter', 'kafka.yaml')}`];
}
