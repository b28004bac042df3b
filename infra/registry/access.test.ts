/**
 * The registry's HTTP API refuses what a browser page or a stranger could do with it, against a
 * real broker (KAFKA_BROKERS): a rebound DNS name (Host check), a cross-site request (Origin check,
 * text/plain bodies), and — with a token — writes without it. Without a token it will not listen
 * beyond loopback. scop's own client (RecordCodec, SCHEMA_REGISTRY_PASSWORD) still registers.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../runtime/config.ts';
import { createKafkaClient, kafkaSettingsFromEnv } from '../../runtime/kafka.ts';
import { RecordCodec } from '../../runtime/registry.ts';
import { startRegistry, type RunningRegistry } from './start-registry.ts';

const kafka = kafkaSettingsFromEnv();
const topics: string[] = [];
const fresh = () => {
  const t = `_schemas-access-${randomUUID().slice(0, 8)}`;
  topics.push(t);
  return t;
};
after(async () => {
  const admin = createKafkaClient(kafka).admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
});

const CT = 'application/vnd.schemaregistry.v1+json';
const schema = JSON.stringify({ schema: JSON.stringify({ type: 'record', name: 'A', fields: [{ name: 'a', type: 'string' }] }) });

/** One request with exactly these headers (fetch cannot set Host); resolves to the status. */
function call(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { Host: u.host, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('without a token, on loopback', () => {
  let reg: RunningRegistry;
  before(async () => { reg = await startRegistry({ host: '127.0.0.1', port: 0, kafka, topic: fresh() }); });
  after(() => reg.close());

  test('Host: IP literals and localhost are served; another name (DNS rebinding) is refused', async () => {
    const port = new URL(reg.url).port;
    assert.equal((await call(reg.url, 'GET', '/subjects')).status, 200);
    assert.equal((await call(reg.url, 'GET', '/subjects', { Host: `localhost:${port}` })).status, 200);
    const rebound = await call(reg.url, 'GET', '/subjects', { Host: `attacker.example:${port}` });
    assert.equal(rebound.status, 403);
    assert.match(rebound.body, /DNS rebinding/);
    assert.equal((await call(reg.url, 'DELETE', '/subjects/x', { Host: `attacker.example:${port}` })).status, 403);
  });

  test('Origin: a page elsewhere cannot write (no text/plain "simple request" either); the same origin and non-browser clients can', async () => {
    const crossSite = await call(reg.url, 'POST', '/subjects/csrf/versions', { Origin: 'http://attacker.example', 'Content-Type': CT }, schema);
    assert.equal(crossSite.status, 403);
    assert.equal((await call(reg.url, 'DELETE', '/subjects/csrf', { Origin: 'null' })).status, 403);
    assert.equal((await call(reg.url, 'POST', '/subjects/csrf/versions', { 'Content-Type': 'text/plain' }, schema)).status, 415);
    assert.equal((await call(reg.url, 'POST', '/subjects/csrf/versions', { 'Content-Type': 'application/x-www-form-urlencoded' }, schema)).status, 415);
    assert.equal((await call(reg.url, 'POST', '/subjects/csrf/versions', { Origin: reg.url, 'Content-Type': CT }, schema)).status, 200);
    assert.equal((await call(reg.url, 'POST', '/subjects/plain/versions', { 'Content-Type': 'application/json' }, schema)).status, 200);
    const subjects = JSON.parse((await call(reg.url, 'GET', '/subjects')).body) as string[];
    assert.deepEqual(subjects.sort(), ['csrf', 'plain']);
  });
});

describe('with a token', () => {
  const token = randomUUID();
  let reg: RunningRegistry;
  before(async () => { reg = await startRegistry({ host: '127.0.0.1', port: 0, kafka, topic: fresh(), token, allowedHosts: ['registry.scop.test'] }); });
  after(() => reg.close());

  test('writes need it (Bearer or basic-auth password); reads, lookups and compatibility checks do not', async () => {
    const json = { 'Content-Type': CT };
    assert.equal((await call(reg.url, 'POST', '/subjects/s/versions', json, schema)).status, 401);
    assert.equal((await call(reg.url, 'POST', '/subjects/s/versions', { ...json, Authorization: 'Bearer wrong-token-of-some-length' }, schema)).status, 401);
    assert.equal((await call(reg.url, 'POST', '/subjects/s/versions', { ...json, Authorization: `Bearer ${token}` }, schema)).status, 200);
    assert.equal((await call(reg.url, 'PUT', '/config/s', json, '{"compatibility":"NONE"}')).status, 401);
    assert.equal((await call(reg.url, 'DELETE', '/subjects/s')).status, 401);
    assert.equal((await call(reg.url, 'GET', '/subjects/s/versions')).status, 200);
    assert.equal((await call(reg.url, 'POST', '/subjects/s', json, schema)).status, 200, 'lookup');
    assert.equal((await call(reg.url, 'POST', '/compatibility/subjects/s/versions/latest', json, schema)).status, 200);
    const basic = `Basic ${Buffer.from(`anyone:${token}`).toString('base64')}`;
    assert.equal((await call(reg.url, 'DELETE', '/subjects/s', { Authorization: basic })).status, 200);
    assert.equal((await call(reg.url, 'GET', '/subjects', { Host: `registry.scop.test:${new URL(reg.url).port}` })).status, 200, 'an allowed host name');
  });

  test("scop's own client registers with SCHEMA_REGISTRY_USERNAME/PASSWORD = any user / the token, and is refused without", async () => {
    const ok = new RecordCodec({ url: reg.url, username: 'scop', password: token });
    assert.ok((await ok.registerSchema('client-test', 'Block')) > 0);
    const anonymous = new RecordCodec({ url: reg.url });
    await assert.rejects(anonymous.registerSchema('client-test-2', 'Block'));
  });
});

test('no token: it will not listen beyond loopback (the error names SCOP_REGISTRY_TOKEN)', async () => {
  await assert.rejects(startRegistry({ host: '0.0.0.0', port: 0, kafka, topic: '_schemas-access-never-created' }), (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_REGISTRY_TOKEN');
  const reg = await startRegistry({ host: '0.0.0.0', port: 0, kafka, topic: fresh(), token: randomUUID() });
  await reg.close();
});
