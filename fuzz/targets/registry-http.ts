/**
 * The built-in schema registry's HTTP API (infra/registry/http-api.ts) over its real service and
 * state and its access check (access.ts: Host, Origin, Content-Type, a token for writes), with the
 * `_schemas` log in memory: every write goes through the record encoding (records.ts) and back, as
 * it would through Kafka. One input is a session of up to 8 requests on a fresh registry (fields in
 * pairs: a method byte, two header bytes and the path with its query; then the body).
 *
 * Invariants: every request gets exactly one response; its status is one the API documents
 * (200, 400, 404, 405, 409, 413, 422; a 500 means an undocumented exception); the body is JSON,
 * errors carry error_code and message, and Content-Length is right; no request that changes state
 * (a route that registers, deletes or configures) succeeds without the token, none succeeds with a
 * foreign Host or Origin; a schema registered with 200 is then found by POST /subjects/{subject}
 * with the same body, under the same id (round trip); time per session bounded.
 */
import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { accessCheck } from '../../infra/registry/access.ts';
import { requestHandler, routes } from '../../infra/registry/http-api.ts';
import { memorySchemaLog } from '../../infra/registry/memory-log.ts';
import { RegistryService } from '../../infra/registry/registry-service.ts';
import { RegistryState } from '../../infra/registry/state.ts';
import type { Logger } from '../../runtime/log.ts';
import { Fields, joinFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUSES = new Set([200, 400, 401, 403, 404, 405, 409, 413, 415, 422]);
const TOKEN = 'the-registry-token';
const HOSTS = ['registry.example:8081', '127.0.0.1:8081', 'attacker.example', '', 'registry.example:8081:1', '[::1]:8081'];
const ORIGINS = [undefined, 'http://registry.example:8081', 'https://attacker.example', 'null'];
const AUTH = [undefined, `Bearer ${TOKEN}`, 'Bearer wrong', `Basic ${Buffer.from(`scop:${TOKEN}`).toString('base64')}`];
const TYPES = ['application/vnd.schemaregistry.v1+json', 'application/json', 'text/plain', undefined];

interface Headers { host: string; origin?: string; authorization?: string; contentType?: string }

/** Byte 1: Host (low 3 bits) and Content-Type (bits 3–4); byte 2: Origin (bits 0–1) and Authorization (bits 2–3). */
function headersOf(a: number, b: number): Headers {
  return { host: HOSTS[(a & 7) % HOSTS.length]!, contentType: TYPES[(a >> 3) & 3], origin: ORIGINS[b & 3], authorization: AUTH[(b >> 2) & 3] };
}

/** The routes that change state, by what they do (not by access.ts's list). */
function changesState(method: string, path: string): boolean {
  const p = path.split('?')[0]!.replace(/\/+$/, '');
  return method === 'PUT' || method === 'DELETE' || (method === 'POST' && /^\/subjects\/[^/]+\/versions$/.test(p));
}

interface Response { status: number; headers: Record<string, string | number>; body: string; ends: number }

function quietLogger(problems: string[]): Logger {
  const noop = () => undefined;
  const logger = {
    debug: noop, info: noop, warn: noop, trace: noop, fatal: noop,
    error: (obj: unknown, msg?: string) => problems.push(`${msg ?? ''} ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? `${v.name}: ${v.message}` : v))}`.slice(0, 500)),
    child: () => logger,
  };
  return logger as unknown as Logger;
}

async function request(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, method: string, url: string, body: Buffer, h: Headers): Promise<Response> {
  const req = new PassThrough() as unknown as IncomingMessage & PassThrough;
  const headers: Record<string, string> = { 'content-length': String(body.length) };
  if (h.host) headers.host = h.host;
  if (h.origin) headers.origin = h.origin;
  if (h.authorization) headers.authorization = h.authorization;
  if (h.contentType) headers['content-type'] = h.contentType;
  Object.assign(req, { method, url, headers });
  const out: Response = { status: 0, headers: {}, body: '', ends: 0 };
  const res = {
    req,
    writeHead(status: number, headers: Record<string, string | number>) { out.status = status; out.headers = headers; return res; },
    end(text: string) { out.body += text; out.ends++; },
  } as unknown as ServerResponse;
  req.end(body);
  await handler(req, res);
  return out;
}

export default defineTarget({
  name: 'registry-http',
  about: "built-in schema registry: HTTP routes, request parsing, Avro schema parsing and compatibility",
  instrument: ['infra/registry/', 'node_modules/avsc/'],
  async: true,
  maxLen: 8 * 1024,
  dict: 'registry.dict',
  budgetMs: 1000,
  *seeds(): Generator<Seed> {
    const schema = (name: string, extra = '') => JSON.stringify({ schema: JSON.stringify({ type: 'record', name, fields: [{ name: 'a', type: 'int' }, ...(extra ? [JSON.parse(extra)] : [])] }) });
    // Method byte, two header bytes (the registry's own Host, JSON; no Origin, the token as Bearer), then
    // the path; no NUL, it separates fields.
    const P = '\u0001\u0008\u0004'; // POST
    const G = '\u0005\u0008\u0004';
    const D = '\u0003\u0008\u0004';
    const U = '\u0002\u0008\u0004';
    yield { name: 'register-read', data: joinFields([`${P}/subjects/s-value/versions`, schema('R'), `${G}/subjects/s-value/versions/latest`, '', `${G}/schemas/ids/1`, '', `${G}/subjects`, '']) };
    yield { name: 'compatible', data: joinFields([`${P}/subjects/s/versions`, schema('R'), `${P}/compatibility/subjects/s/versions/latest?verbose=true`, schema('R', '{"name":"b","type":["null","string"],"default":null}'), `${P}/subjects/s/versions`, schema('R', '{"name":"b","type":"string"}')]) };
    yield { name: 'config-delete', data: joinFields([`${U}/config/s`, '{"compatibility":"FULL_TRANSITIVE"}', `${G}/config/s?defaultToGlobal=true`, '', `${D}/subjects/s`, '', `${D}/subjects/s?permanent=true`, '', `${D}/config`, '']) };
    yield { name: 'lookup', data: joinFields([`${P}/subjects/t/versions`, JSON.stringify({ schema: '"string"' }), `${P}/subjects/t?deleted=true`, JSON.stringify({ schema: '"string"' }), `${G}/subjects/t/versions/1/schema`, '', `${D}/subjects/t/versions/latest`, '']) };
  },
  async run(data) {
    const problems: string[] = [];
    const state = new RegistryState();
    const log = memorySchemaLog(state);
    const logger = quietLogger(problems);
    const handler = requestHandler(routes(new RegistryService(state, log, logger), () => ({ status: 'ok' })), logger, accessCheck({ token: TOKEN, allowedHosts: ['registry.example'] }));
    const f = new Fields(data);
    for (let i = 0; i < Math.min(f.length, 16); i += 2) {
      const head = f.bytes(i);
      const method = METHODS[(head[0] ?? 0) % METHODS.length]!;
      // A request target holds printable ASCII only (the HTTP parser refuses the rest): a client percent-encodes it.
      const h = headersOf(head[1] ?? 0, head[2] ?? 0);
      const url = head.subarray(3).toString('latin1').replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`) || '/';
      const body = f.bytes(i + 1);
      const r = await request(handler, method, url.startsWith('/') ? url : `/${url}`, body, h);
      const what = `${method} ${JSON.stringify(url.slice(0, 100))}`;
      invariant(r.ends === 1, () => `${what}: ${r.ends} responses`);
      invariant(STATUSES.has(r.status), () => `${what}: HTTP ${r.status} ${r.body.slice(0, 300)} ${problems.join(' | ')}`);
      invariant(r.headers['Content-Length'] === Buffer.byteLength(r.body), () => `${what}: Content-Length ${r.headers['Content-Length']} for ${Buffer.byteLength(r.body)} bytes`);
      let json: unknown;
      try {
        json = JSON.parse(r.body);
      } catch {
        throw new Error(`${what}: the body is not JSON: ${r.body.slice(0, 200)}`);
      }
      if (r.status !== 200) {
        const e = json as { error_code?: unknown; message?: unknown };
        invariant(typeof e.error_code === 'number' && typeof e.message === 'string', () => `${what}: error body without error_code/message: ${r.body.slice(0, 200)}`);
      }
      if (r.status === 200) {
        invariant(!changesState(method, url) || h.authorization === AUTH[1] || h.authorization === AUTH[3], () => `${what}: a state change succeeded without the token (${h.authorization ?? 'no Authorization'})`);
        invariant(h.host !== 'attacker.example' && (h.origin === undefined || h.origin === ORIGINS[1]), () => `${what}: succeeded with Host ${h.host} and Origin ${h.origin}`);
      }
      const registered = /^\/subjects\/([^/?]+)\/versions\/?(?:\?.*)?$/.exec(url);
      if (method === 'POST' && registered && r.status === 200) {
        const back = await request(handler, 'POST', `/subjects/${registered[1]}`, body, { host: 'registry.example', contentType: 'application/json' });
        invariant(back.status === 200 && (JSON.parse(back.body) as { id: number }).id === (json as { id: number }).id, () => `${what}: registered as ${r.body}, looked up as ${back.status} ${back.body.slice(0, 200)}`);
      }
    }
  },
});
