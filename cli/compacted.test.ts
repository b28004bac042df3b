/**
 * cliClients: the Kafka client and registry codec every CLI command starts with (scop replay, spam,
 * quarantine, firewall, explain, console users …), with one order of errors: a configuration error
 * naming its key before any server is asked, then the brokers, then the registry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from '../infra/ports.ts';
import { ConfigError } from '../runtime/config.ts';
import { RecordCodec } from '../runtime/registry.ts';
import { testKafka, testRegistry } from '../runtime/testing.ts';
import { cliClients } from './compacted.ts';

const brokers = () => testKafka().brokers.join(',');
const registry = () => testRegistry().url;
const keyOf = (key: string) => (e: unknown) => e instanceof ConfigError && e.key === key;

describe('cliClients', () => {
  it('a bad setting is named before any server is asked, even with the brokers down', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    await assert.rejects(cliClients({ env: { KAFKA_BROKERS: down, SCHEMA_REGISTRY_URL: 'not a url' }, probeTimeoutMs: 5_000, command: 'test' }), keyOf('SCHEMA_REGISTRY_URL'));
    assert.ok(performance.now() - t0 < 2_000, `no probe first (${(performance.now() - t0).toFixed(0)} ms)`);
    await assert.rejects(cliClients({ env: {}, probeTimeoutMs: 5_000, command: 'test' }), keyOf('KAFKA_BROKERS'), 'nothing set: the brokers first');
    await assert.rejects(cliClients({ env: { KAFKA_BROKERS: 'no port', SCHEMA_REGISTRY_URL: registry() }, command: 'test' }), (e: unknown) => keyOf('KAFKA_BROKERS')(e) && /host:port/.test((e as Error).message));
  });

  it('then the brokers, then the registry: each down is a ConfigError naming its key', async () => {
    const [b, r] = [await freePort(), await freePort()];
    await assert.rejects(cliClients({ env: { KAFKA_BROKERS: `127.0.0.1:${b}`, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${r}` }, probeTimeoutMs: 1_000, command: 'test' }),
      (e: unknown) => keyOf('KAFKA_BROKERS')(e) && /no broker at 127\.0\.0\.1/.test((e as Error).message), 'both down: the brokers are named');
    await assert.rejects(cliClients({ env: { KAFKA_BROKERS: brokers(), SCHEMA_REGISTRY_URL: `http://127.0.0.1:${r}` }, probeTimeoutMs: 1_000, command: 'test' }), keyOf('SCHEMA_REGISTRY_URL'));
  });

  it("both up: a client named after the command, under KAFKA_CLIENT_ID (scop by default), and a codec", async () => {
    const env = { KAFKA_BROKERS: brokers(), SCHEMA_REGISTRY_URL: registry() };
    const firewall = await cliClients({ env, command: 'firewall' });
    assert.equal(firewall.kafka.settings.clientId, 'scop-cli-firewall');
    assert.ok(firewall.codec instanceof RecordCodec);
    const replay = await cliClients({ env: { ...env, KAFKA_CLIENT_ID: 'ops' }, command: 'replay' });
    assert.equal(replay.kafka.settings.clientId, 'ops-cli-replay', 'the configured prefix, as the services use it');
    assert.deepEqual(replay.kafka.settings.brokers, testKafka().brokers);
  });
});
