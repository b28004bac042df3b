/** `scop infra prepare`: resolves every Maven artifact the local stack needs, ahead of the first start. */
import { join } from 'node:path';
import { INFRA_DIR, mavenOnce, resolveJars } from './jvm.ts';
import { JMX_EXPORTER_VERSION, KAFKA_VERSION } from './kafka/broker.ts';
import { APICURIO_MIN_JAVA, APICURIO_VERSION } from './apicurio/registry.ts';
import { findJava } from './java.ts';

export function prepareInfra(log: (line: string) => void = console.log): void {
  log(`[1/2] Kafka ${KAFKA_VERSION} jars …`);
  log(`      ${resolveJars(join(INFRA_DIR, 'kafka', 'pom.xml'), `kafka-${KAFKA_VERSION}`, { 'kafka.version': KAFKA_VERSION })}`);
  log(`      Prometheus JMX exporter ${JMX_EXPORTER_VERSION} (the broker's metrics): ${resolveJars(join(INFRA_DIR, 'kafka', 'jmx-exporter', 'pom.xml'), `jmx-exporter-${JMX_EXPORTER_VERSION}`, { 'jmx.exporter.version': JMX_EXPORTER_VERSION })}`);
  const java = findJava(APICURIO_MIN_JAVA);
  if (!java) {
    log(`[2/2] Apicurio Registry: skipped, no Java ${APICURIO_MIN_JAVA}+ here (scop's own registry will be used)`);
    return;
  }
  log(`[2/2] Apicurio Registry ${APICURIO_VERSION} (runs on Java ${java.version}) …`);
  log(`      ${mavenOnce(join(INFRA_DIR, 'apicurio', 'pom.xml'), `apicurio-${APICURIO_VERSION}`, (out) => ['package', `-Dscop.outputDirectory=${out}`], { 'apicurio.version': APICURIO_VERSION })}`);
}
