#!/usr/bin/env node
/** The `scop` command line. */
import { Command } from 'commander';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../runtime/config.ts';
import { createKafkaClient, kafkaSettingsFromEnv, probeBrokers } from '../runtime/kafka.ts';
import { probeRegistry, RecordCodec, registrySettingsFromEnv } from '../runtime/registry.ts';
import { applyTopics, TOPICS } from '../runtime/topics.ts';
import { startUnits, topologyDiagram, topologyTopics } from '../runtime/topology.ts';
import { generatedFileFor, renderTypes } from '../schemas/codegen.ts';
import { snapshot } from '../schemas/compat.ts';
import { SERVICES, serviceNamed } from './services.ts';
import { prepareInfra } from '../infra/prepare.ts';
import { accessFor, aclBindings, aclTable, applyAcls, kafkaAclsCommands } from '../infra/kafka/acls.ts';
import { registerSchemas, start } from './start.ts';
import { runService } from './run-service.ts';
import { registerUsersCommands } from '../ingress/users-cli.ts';
import { registerSpamCommands } from './spam.ts';
import { registerReplayCommand } from './replay.ts';
import { registerDkimCommands } from './dkim.ts';
import { printable } from './terminal.ts';
import { registerQuarantineCommands } from './quarantine.ts';
import { registerExplainCommands } from './explain.ts';
import { registerFirewallCommands } from './firewall.ts';
import { registerObserveCommands } from './observe.ts';
import { registerConsoleCommands } from './console.ts';

// `scop … | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });

const program = new Command('scop').description('scop: a secure-by-design mail pipeline on Apache Kafka').showHelpAfterError();

program.command('start').description('start Kafka, the schema registry and every service; Ctrl-C stops them all').action(start);

program
  .command('run')
  .description('run one service in this process (scop start does this for each)')
  .argument('<service>', `one of: ${SERVICES.map((s) => s.name).join(', ')}, or consecutive inbound stages joined by + (mime+auth)`)
  .action(async (name: string) => {
    await runService(serviceNamed(name));
  });

program
  .command('infra')
  .description('local servers')
  .command('prepare')
  .description('download the Kafka jars and the Apicurio Registry distribution from Maven Central into infra/.cache')
  .action(() => prepareInfra());

const topology = program.command('topology').description('the pipeline’s topology (runtime/topology.ts): services, start order, fused units, topics');
topology.command('diagram').description('print the topology as a Mermaid flowchart (the README’s diagram is this output)').action(() => {
  console.log(topologyDiagram());
});
topology.command('show').description('print what `scop start` runs for this environment (SCOP_INBOUND, SCOP_FUSED_INSTANCES), in start order').action(() => {
  for (const u of startUnits(process.env)) {
    console.log(`${u.name}\tinstances=${u.instances}\tprincipal=scop-${u.name}${u.members ? `\tfuses=${u.members.join('+')}` : ''}\treads=${u.reads.map((k) => TOPICS[k].name).join(',')}\twrites=${u.writes.map((k) => TOPICS[k].name).join(',')}`);
  }
});

const topics = program.command('topics').description('the pipeline’s Kafka topics');
topics
  .command('apply')
  .description('create or update every topic from the declarative list (idempotent); uses KAFKA_BROKERS')
  .option('--replication <n>', 'replication factor for new topics (default: 3 copies, 2 in sync, on a cluster of 3 or more brokers; 1 on a single broker)')
  .action(async (opts: { replication?: string }) => {
    const settings = kafkaSettingsFromEnv();
    await probeBrokers(settings);
    const admin = createKafkaClient(settings).admin();
    await admin.connect();
    try {
      const { durability, ...r } = await applyTopics(admin, topologyTopics(), opts.replication === undefined ? undefined : Number(opts.replication));
      for (const [what, names] of Object.entries(r)) if (names.length) console.log(`${what}: ${names.join(', ')}`);
      console.log(`replication: ${durability.replicationFactor} copies, min.insync.replicas=${durability.minInsyncReplicas}${durability.warning ? ` (warning: ${durability.warning})` : ''}`);
    } finally {
      await admin.disconnect();
    }
  });
topics.command('list').description('print the declared topics').action(() => {
  for (const t of topologyTopics()) console.log(`${t.name}\tpartitions=${t.partitions}\tcleanup=${t.cleanup}\tschema=${t.valueSchema ?? '-'}\t${t.doc}`);
});

topics.command('acls').description('print the kafka-acls.sh commands that give each scop principal what it needs and nothing else (SECURITY.md)')
  .option('--bootstrap-server <host:port>', 'the cluster', '<broker:9092>')
  .option('--command-config <file>', 'admin client properties (SASL login of a super user)', '<admin.properties>')
  .option('--apply', 'create them now with KAFKA_BROKERS / KAFKA_SASL_* (a super user) instead of printing')
  .option('--table', 'print the table of principals as Markdown (SECURITY.md) instead')
  .action(async (opts: { bootstrapServer: string; commandConfig: string; apply?: boolean; table?: boolean }) => {
    // SCOP_INBOUND=mime+auth,…: the principals of those fused groups too.
    const access = accessFor(process.env);
    if (opts.table) { console.log(aclTable(access)); return; }
    const bindings = aclBindings(access);
    if (!opts.apply) {
      for (const line of kafkaAclsCommands(bindings, opts.bootstrapServer, opts.commandConfig)) console.log(line);
      return;
    }
    const settings = kafkaSettingsFromEnv();
    await probeBrokers(settings);
    const admin = createKafkaClient(settings).admin();
    await admin.connect();
    try {
      await applyAcls(admin, bindings);
      console.log(`created ${bindings.length} ACL bindings for ${new Set(bindings.map((b) => b.principal)).size} principals`);
    } finally {
      await admin.disconnect();
    }
  });

const schemas = program.command('schemas').description('the Avro record schemas in schemas/');
schemas.command('register').description('register every topic’s value schema (uses SCHEMA_REGISTRY_URL)').action(async () => {
  const settings = registrySettingsFromEnv();
  await probeRegistry(settings);
  for (const [topic, id] of Object.entries(await registerSchemas(new RecordCodec(settings)))) console.log(`${topic}-value\tid=${id}`);
});
schemas.command('snapshot').description('record the current schemas as released versions in schemas/history (refuses a BACKWARD-incompatible change)').action(() => {
  const written = snapshot();
  console.log(written.length ? written.map((f) => `wrote ${f}`).join('\n') : 'no schema changed since the last snapshot');
});
schemas.command('codegen').description('regenerate schemas/generated/*.ts from the .avsc files').action(() => {
  for (const [name, src] of renderTypes()) {
    const file = generatedFileFor(name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, src);
    console.log(`wrote ${file}`);
  }
});

registerUsersCommands(program);
registerSpamCommands(program);
registerReplayCommand(program);
registerDkimCommands(program);
registerQuarantineCommands(program);
registerExplainCommands(program);
registerFirewallCommands(program);
registerObserveCommands(program);
registerConsoleCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  // Config errors are the operator's to fix: one line, no stack trace.
  // Error texts may quote message data (a record id, a decode error): printable, line by line.
  if (e instanceof ConfigError) console.error(printable(e.message));
  else console.error(`scop: ${String((e as Error)?.stack ?? e).split('\n').map(printable).join('\n')}`);
  process.exit(e instanceof ConfigError ? 2 : 1);
});
