/**
 * Standalone schema registry process:
 *   node --import tsx infra/registry/main.ts --port 8081 --host 127.0.0.1 [--topic _schemas] [--replication-factor 1]
 * Brokers come from KAFKA_BROKERS (and the other KAFKA_* settings of runtime/kafka.ts).
 * SCOP_REGISTRY_TOKEN: the secret writes need (required when --host is not loopback);
 * SCOP_REGISTRY_ALLOWED_HOSTS: host names clients use for it (the Host check; IPs and localhost always pass).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, loadEnv } from '../../runtime/config.ts';
import { kafkaSettingsFromEnv, probeBrokers } from '../../runtime/kafka.ts';
import { loggerFor } from '../../runtime/log.ts';
import { DEFAULT_SCHEMAS_TOPIC, startRegistry } from './start-registry.ts';

const logger = loggerFor('registry');

function intOption(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name}`, `"${raw}" is not an integer in ${min}..${max}`, `pass --${name} <${min}-${max}>`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8081' },
      host: { type: 'string', default: '127.0.0.1' },
      topic: { type: 'string', default: DEFAULT_SCHEMAS_TOPIC },
      'replication-factor': { type: 'string', default: '1' },
    },
    strict: true,
  });
  const port = intOption('port', values.port, 0, 65535);
  const replicationFactor = intOption('replication-factor', values['replication-factor'], 1, 32767);
  const access = loadEnv({
    SCOP_REGISTRY_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    SCOP_REGISTRY_ALLOWED_HOSTS: z.string().transform((s) => s.split(',').map((h) => h.trim()).filter(Boolean))
      .refine((l) => l.every((h) => /^[A-Za-z0-9.-]+$/.test(h)), 'must be comma-separated host names').optional(),
  }, {
    SCOP_REGISTRY_TOKEN: 'a random secret of 16+ characters that writes must present, e.g. SCOP_REGISTRY_TOKEN=$(openssl rand -hex 24)',
    SCOP_REGISTRY_ALLOWED_HOSTS: 'host names clients use to reach the registry, e.g. SCOP_REGISTRY_ALLOWED_HOSTS=registry.example.org',
  });
  const kafka = kafkaSettingsFromEnv();
  // A wrong KAFKA_BROKERS should fail in one clear line, not after kafkajs' retry storm.
  await probeBrokers(kafka);
  const registry = await startRegistry({ host: values.host, port, topic: values.topic, replicationFactor, kafka, token: access.SCOP_REGISTRY_TOKEN, allowedHosts: access.SCOP_REGISTRY_ALLOWED_HOSTS });
  // The one line a supervising process waits for.
  process.stdout.write(`registry listening on ${registry.url}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    registry.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (e: unknown) => {
        logger.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`${e.message}\n`);
  } else {
    logger.fatal({ err: e }, 'schema registry failed to start');
  }
  process.exit(1);
});
