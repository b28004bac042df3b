/**
 * Behaviour of the Kafka-backed schema registry against a real broker (KAFKA_BROKERS).
 * Every run uses fresh `_schemas-test-*` topics so runs never see each other's data.
 */
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { createKafkaClient, kafkaSettingsFromEnv } from '../../runtime/kafka.ts';
import { startRegistry, type RunningRegistry } from './start-registry.ts';

const kafka = kafkaSettingsFromEnv();
const topicsUsed: string[] = [];
const freshTopic = () => {
  const t = `_schemas-test-${randomUUID().slice(0, 8)}`;
  topicsUsed.push(t);
  return t;
};
// The broker is shared; leave it as we found it.
after(async () => {
  const admin = createKafkaClient(kafka).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: topicsUsed }).catch(() => undefined);
  await admin.disconnect();
});
const start = (topic: string) => startRegistry({ host: '127.0.0.1', port: 0, kafka, topic });

const CT = 'application/vnd.schemaregistry.v1+json';
interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test assertions poke at arbitrary JSON shapes
}
async function call(base: string, method: string, path: string, body?: unknown, rawBody?: string): Promise<Reply> {
  const res = await fetch(base + path, {
    method,
    headers: { 'Content-Type': CT, Accept: CT },
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const record = (name: string, fields: object[]) => ({ type: 'record', name, namespace: 'scop.test', fields });
const userV1 = record('User', [{ name: 'id', type: 'string' }]);
const userV2 = record('User', [
  { name: 'id', type: 'string' },
  { name: 'age', type: 'int', default: 0 },
]);
const userBreaking = record('User', [
  { name: 'id', type: 'string' },
  { name: 'email', type: 'string' },
]);
const avroBody = (schema: object, pretty = false) => ({ schema: pretty ? JSON.stringify(schema, null, 2) : JSON.stringify(schema) });

describe('schema registry on one topic', () => {
  const topic = freshTopic();
  let reg: RunningRegistry;
  let url: string;
  before(async () => {
    reg = await start(topic);
    url = reg.url;
  });
  after(async () => {
    await reg.close();
  });

  test('serves the root, health and supported types', async () => {
    assert.deepEqual(await call(url, 'GET', '/'), { status: 200, body: {} });
    assert.equal((await call(url, 'GET', '/healthz')).body.status, 'ok');
    assert.deepEqual((await call(url, 'GET', '/schemas/types')).body, ['AVRO']);
    const res = await fetch(`${url}/subjects`);
    assert.equal(res.headers.get('content-type'), CT);
    // Plain JSON clients are served plain JSON, and may post it.
    const plain = await fetch(`${url}/subjects/plain-json/versions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ schema: '"long"' }),
    });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('content-type'), 'application/json');
    assert.equal(typeof ((await plain.json()) as { id: unknown }).id, 'number');
  });

  test('client library registers, encodes and decodes; the same schema keeps its id', async () => {
    const client = new SchemaRegistry({ host: url });
    const subject = 'lib-User';
    const { id } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1) }, { subject });
    const encoded = await client.encode(id, { id: 'u-1' });
    assert.equal(encoded[0], 0, 'Confluent wire format magic byte');
    assert.equal(encoded.readInt32BE(1), id);
    assert.deepEqual({ ...(await client.decode(encoded)) }, { id: 'u-1' });

    // Whitespace and key order do not make a new schema, through the library or raw HTTP.
    const again = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1, null, 4) }, { subject });
    assert.equal(again.id, id);
    const reordered = { fields: userV1.fields, namespace: userV1.namespace, name: userV1.name, type: 'record' };
    assert.deepEqual((await call(url, 'POST', `/subjects/${subject}/versions`, avroBody(reordered))).body, { id });
    assert.deepEqual((await call(url, 'GET', `/subjects/${subject}/versions`)).body, [1]);
    // The same schema under another subject reuses the id, as Confluent does.
    assert.deepEqual((await call(url, 'POST', '/subjects/other-User/versions', avroBody(userV1))).body, { id });
    assert.deepEqual((await call(url, 'GET', `/schemas/ids/${id}/versions`)).body, [
      { subject, version: 1 },
      { subject: 'other-User', version: 1 },
    ]);
    assert.equal(await client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(userV1) }), id);
    assert.equal(await client.getLatestSchemaId(subject), id);

    const byId = await call(url, 'GET', `/schemas/ids/${id}`);
    assert.deepEqual(JSON.parse(byId.body.schema), userV1);
    assert.equal((await call(url, 'GET', `/schemas/ids/${id}?subject=${subject}`)).status, 200);
    assert.equal((await call(url, 'GET', `/schemas/ids/${id}?subject=nope`)).body.error_code, 40403);
    assert.deepEqual((await call(url, 'GET', `/subjects/${subject}/versions/1/schema`)).body, userV1);
    const lookup = await call(url, 'POST', `/subjects/${subject}`, avroBody(userV1, true));
    assert.deepEqual({ ...lookup.body, schema: undefined }, { subject, version: 1, id, schema: undefined });
    assert.equal((await call(url, 'POST', `/subjects/${subject}`, avroBody(userV2))).body.error_code, 40403);
  });

  test('BACKWARD rejects a new required field and accepts one with a default', async () => {
    const subject = 'compat-User';
    const client = new SchemaRegistry({ host: url });
    const v1 = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1) }, { subject });
    const oldMessage = await client.encode(v1.id, { id: 'old' });

    const rejected = await call(url, 'POST', `/subjects/${subject}/versions`, avroBody(userBreaking));
    assert.equal(rejected.status, 409);
    assert.equal(rejected.body.error_code, 409);
    await assert.rejects(client.register({ type: SchemaType.AVRO, schema: JSON.stringify(userBreaking) }, { subject }), /incompatible/);

    const check = await call(url, 'POST', `/compatibility/subjects/${subject}/versions/latest?verbose=true`, avroBody(userBreaking));
    assert.equal(check.body.is_compatible, false);
    assert.match(check.body.messages.join(' '), /email/);
    assert.deepEqual((await call(url, 'POST', `/compatibility/subjects/${subject}/versions/1`, avroBody(userV2))).body, { is_compatible: true });

    const v2 = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV2) }, { subject });
    assert.notEqual(v2.id, v1.id);
    assert.deepEqual((await call(url, 'GET', `/subjects/${subject}/versions`)).body, [1, 2]);
    const latest = await call(url, 'GET', `/subjects/${subject}/versions/latest`);
    assert.deepEqual([latest.body.version, latest.body.id], [2, v2.id]);
    // Data written with v1 still decodes (the library reads it with the writer's schema).
    assert.deepEqual({ ...(await client.decode(oldMessage)) }, { id: 'old' });
  });

  test('subject config overrides the global level', async () => {
    assert.deepEqual((await call(url, 'GET', '/config')).body, { compatibilityLevel: 'BACKWARD' });
    const loose = 'loose-User';
    const strict = 'strict-User';
    for (const s of [loose, strict]) await call(url, 'POST', `/subjects/${s}/versions`, avroBody(userV1));
    assert.equal((await call(url, 'GET', `/config/${loose}`)).body.error_code, 40408);
    assert.deepEqual((await call(url, 'GET', `/config/${loose}?defaultToGlobal=true`)).body, { compatibilityLevel: 'BACKWARD' });
    assert.deepEqual((await call(url, 'PUT', `/config/${loose}`, { compatibility: 'none' })).body, { compatibility: 'NONE' });
    assert.deepEqual((await call(url, 'GET', `/config/${loose}`)).body, { compatibilityLevel: 'NONE' });

    assert.equal((await call(url, 'POST', `/subjects/${loose}/versions`, avroBody(userBreaking))).status, 200);
    assert.equal((await call(url, 'POST', `/subjects/${strict}/versions`, avroBody(userBreaking))).status, 409);

    const bad = await call(url, 'PUT', `/config/${strict}`, { compatibility: 'SIDEWAYS' });
    assert.deepEqual([bad.status, bad.body.error_code], [422, 42203]);
    assert.deepEqual((await call(url, 'DELETE', `/config/${loose}`)).body, { compatibilityLevel: 'NONE' });
    assert.equal((await call(url, 'GET', `/config/${loose}`)).body.error_code, 40408);

    // FULL_TRANSITIVE as the global level applies to subjects without their own.
    assert.equal((await call(url, 'PUT', '/config', { compatibility: 'FULL_TRANSITIVE' })).status, 200);
    const widened = record('User', [{ name: 'id', type: 'string' }, { name: 'extra', type: 'string' }]);
    assert.equal((await call(url, 'POST', `/subjects/${strict}/versions`, avroBody(widened))).status, 409);
    assert.equal((await call(url, 'PUT', '/config', { compatibility: 'BACKWARD' })).status, 200);
  });

  test('error codes for missing and invalid things', async () => {
    const expect = async (method: string, path: string, status: number, code: number, body?: unknown, raw?: string) => {
      const r = await call(url, method, path, body, raw);
      assert.deepEqual([r.status, r.body.error_code], [status, code], `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.message, 'string');
    };
    await expect('GET', '/subjects/missing/versions', 404, 40401);
    await expect('GET', '/subjects/missing/versions/latest', 404, 40401);
    await expect('GET', '/subjects/lib-User/versions/99', 404, 40402);
    await expect('GET', '/subjects/lib-User/versions/abc', 422, 42202);
    await expect('GET', '/subjects/lib-User/versions/0', 422, 42202);
    await expect('GET', '/schemas/ids/99999', 404, 40403);
    await expect('GET', '/schemas/ids/x', 404, 40403);
    await expect('POST', '/subjects/missing', 404, 40401, avroBody(userV1));
    await expect('POST', '/subjects/bad/versions', 422, 42201, { schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"nosuch"}]}' });
    await expect('POST', '/subjects/bad/versions', 422, 42201, { schema: 'not json' });
    await expect('POST', '/subjects/bad/versions', 422, 42201, {});
    await expect('POST', '/subjects/bad/versions', 422, 42201, { schema: '{"type":"string"}', schemaType: 'PROTOBUF' });
    await expect('POST', '/subjects/bad/versions', 422, 42201, { schema: '{"type":"string"}', references: [{ name: 'a', subject: 'b', version: 1 }] });
    await expect('POST', '/subjects/bad/versions', 400, 400, undefined, '{"schema": ');
    await expect('GET', '/no/such/route', 404, 404);
    await expect('PUT', '/subjects', 405, 405);
    // None of that created anything.
    assert.equal((await call(url, 'GET', '/subjects')).body.includes('bad'), false);
    const ok = await call(url, 'POST', '/subjects/prim/versions', { schema: '"string"', schemaType: 'AVRO' });
    assert.equal(ok.status, 200);
  });

  test('soft delete, then permanent delete', async () => {
    const subject = 'del-User';
    const { id } = (await call(url, 'POST', `/subjects/${subject}/versions`, avroBody(record('Gone', [{ name: 'a', type: 'long' }])))).body;
    await call(url, 'POST', `/subjects/${subject}/versions`, avroBody(record('Gone', [{ name: 'a', type: 'long' }, { name: 'b', type: 'long', default: 1 }])));

    const hardFirst = await call(url, 'DELETE', `/subjects/${subject}?permanent=true`);
    assert.deepEqual([hardFirst.status, hardFirst.body.error_code], [404, 40405]);
    assert.deepEqual((await call(url, 'DELETE', `/subjects/${subject}`)).body, [1, 2]);
    assert.equal((await call(url, 'GET', `/subjects/${subject}/versions`)).body.error_code, 40401);
    assert.equal((await call(url, 'GET', '/subjects')).body.includes(subject), false);
    assert.equal((await call(url, 'GET', '/subjects?deleted=true')).body.includes(subject), true);
    assert.deepEqual((await call(url, 'GET', `/subjects/${subject}/versions?deleted=true`)).body, [1, 2]);
    assert.equal((await call(url, 'GET', `/schemas/ids/${id}`)).status, 200, 'soft-deleted schemas stay readable by id');
    assert.equal((await call(url, 'DELETE', `/subjects/${subject}`)).body.error_code, 40404);

    assert.deepEqual((await call(url, 'DELETE', `/subjects/${subject}?permanent=true`)).body, [1, 2]);
    assert.equal((await call(url, 'GET', '/subjects?deleted=true')).body.includes(subject), false);
    assert.equal((await call(url, 'GET', `/schemas/ids/${id}`)).body.error_code, 40403);

    // Single versions: soft first, permanent only after.
    const vs = 'delver-User';
    await call(url, 'POST', `/subjects/${vs}/versions`, avroBody(userV1));
    await call(url, 'POST', `/subjects/${vs}/versions`, avroBody(userV2));
    assert.equal((await call(url, 'DELETE', `/subjects/${vs}/versions/1?permanent=true`)).body.error_code, 40407);
    assert.equal((await call(url, 'DELETE', `/subjects/${vs}/versions/1`)).body, 1);
    assert.equal((await call(url, 'DELETE', `/subjects/${vs}/versions/1`)).body.error_code, 40406);
    assert.equal((await call(url, 'GET', `/subjects/${vs}/versions/1`)).body.error_code, 40402);
    assert.equal((await call(url, 'GET', `/subjects/${vs}/versions/1?deleted=true`)).body.deleted, true);
    assert.equal((await call(url, 'DELETE', `/subjects/${vs}/versions/1?permanent=true`)).body, 1);
    assert.deepEqual((await call(url, 'GET', `/subjects/${vs}/versions?deleted=true`)).body, [2]);
    // New versions continue after the highest one ever used.
    const v3 = record('User', [{ name: 'id', type: 'string' }, { name: 'age', type: 'int', default: 0 }, { name: 'n', type: 'int', default: 1 }]);
    await call(url, 'POST', `/subjects/${vs}/versions`, avroBody(v3));
    assert.deepEqual((await call(url, 'GET', `/subjects/${vs}/versions`)).body, [2, 3]);
  });
});

/** Everything a client can observe about the registry, for comparing instances. */
async function snapshot(url: string) {
  const subjects: string[] = (await call(url, 'GET', '/subjects?deleted=true')).body;
  const out: Record<string, unknown> = { config: (await call(url, 'GET', '/config')).body };
  for (const s of subjects) {
    const versions: number[] = (await call(url, 'GET', `/subjects/${encodeURIComponent(s)}/versions?deleted=true`)).body;
    out[s] = await Promise.all(versions.map(async (v) => (await call(url, 'GET', `/subjects/${encodeURIComponent(s)}/versions/${v}?deleted=true`)).body));
    const cfg = await call(url, 'GET', `/config/${encodeURIComponent(s)}`);
    if (cfg.status === 200) out[`config:${s}`] = cfg.body;
  }
  return out;
}

test('a restarted instance rebuilds the same ids, versions and config from the topic', async () => {
  const topic = freshTopic();
  const first = await start(topic);
  const a = (await call(first.url, 'POST', '/subjects/r-User/versions', avroBody(userV1))).body.id;
  const b = (await call(first.url, 'POST', '/subjects/r-User/versions', avroBody(userV2))).body.id;
  await call(first.url, 'PUT', '/config/r-User', { compatibility: 'FULL' });
  await call(first.url, 'POST', '/subjects/r-Gone/versions', avroBody(record('G', [{ name: 'x', type: 'int' }])));
  await call(first.url, 'DELETE', '/subjects/r-Gone');
  const before = await snapshot(first.url);
  await first.close();

  const second = await start(topic);
  try {
    assert.deepEqual(await snapshot(second.url), before);
    assert.deepEqual((await call(second.url, 'GET', '/subjects/r-User/versions/1')).body.id, a);
    assert.deepEqual((await call(second.url, 'GET', '/subjects/r-User/versions/2')).body.id, b);
    // Registering a known schema is still idempotent; a new one gets a fresh id.
    assert.deepEqual((await call(second.url, 'POST', '/subjects/r-User/versions', avroBody(userV2))).body, { id: b });
    const fresh = (await call(second.url, 'POST', '/subjects/r-New/versions', avroBody(record('N', [{ name: 'y', type: 'int' }])))).body.id;
    assert.ok(fresh > Math.max(a, b));
  } finally {
    await second.close();
  }
});

test('two instances racing on one topic agree on every id and version', async () => {
  const topic = freshTopic();
  const [one, two] = await Promise.all([start(topic), start(topic)]);
  const third: RunningRegistry[] = [];
  try {
    // Distinct records in one subject race for versions; NONE so their order does not matter.
    await call(one.url, 'PUT', '/config/race-shared', { compatibility: 'NONE' });
    await call(two.url, 'PUT', '/config', { compatibility: 'BACKWARD' }); // forces two to catch up past one's write
    const registerAll = (reg: RunningRegistry, tag: string) =>
      Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const schema = record(`R_${tag}_${i}`, [{ name: `f${i}`, type: 'string' }]);
          const subject = i % 2 === 0 ? 'race-shared' : `race-${tag}-${i}`;
          const r = await call(reg.url, 'POST', `/subjects/${subject}/versions`, avroBody(schema));
          assert.equal(r.status, 200, JSON.stringify(r.body));
          return { subject, schema, id: r.body.id as number };
        }),
      );
    const results = (await Promise.all([registerAll(one, 'a'), registerAll(two, 'b')])).flat();

    // Every distinct schema got its own id, and each instance maps the id back to that schema.
    assert.equal(new Set(results.map((r) => r.id)).size, 20);
    for (const r of results) {
      for (const reg of [one, two]) {
        const got = await call(reg.url, 'GET', `/schemas/ids/${r.id}`);
        assert.deepEqual(JSON.parse(got.body.schema), r.schema);
      }
    }
    // Let both consumers reach the end (a config write round-trips through each log), then compare.
    await call(one.url, 'PUT', '/config/sync', { compatibility: 'NONE' });
    await call(two.url, 'PUT', '/config/sync', { compatibility: 'NONE' });
    const snapOne = await snapshot(one.url);
    assert.deepEqual(await snapshot(two.url), snapOne);
    assert.deepEqual((await call(one.url, 'GET', '/subjects/race-shared/versions')).body, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // A newcomer replaying the log (losing records included) reaches the same state.
    third.push(await start(topic));
    assert.deepEqual(await snapshot(third[0]!.url), snapOne);
  } finally {
    await Promise.all([one.close(), two.close(), ...third.map((r) => r.close())]);
  }
});
