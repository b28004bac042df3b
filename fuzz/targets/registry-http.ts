/**
 * The built-in schema registry's HTTP API (infra/registry/http-api.ts) over its real service and
 * state, with the `_schemas` log in memory: every write goes through the record encoding
 * (records.ts) and back, as it would through Kafka. One input is a session of up to 8 requests
 * (fields in pairs: method byte + path and query, then the body), on a fresh registry.
 *
 * Invariants: every request gets exactly one response; its status is one the API documents
 * (200, 400, 404, 405, 409, 413, 422; a 500 means an undocumented exception); the body is JSON,
 * errors carry error_code and message, and Content-Length is right; a schema registered with 200 is
 * then found by POST /subjects/{subject} with the same body, under the same id (round trip); time
 * per session bounded.
 */
import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestHandler, routes } from '../../infra/registry/http-api.ts';
import { decodeRecord, encodeKey } from '../../infra/registry/records.ts';
import { RegistryService, type LogAppend } from '../../infra/registry/registry-service.ts';
import { RegistryState } from '../../infra/registry/state.ts';
import type { Logger } from '../../runtime/log.ts';
import { Fields, joinFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUSES = new Set([200, 400, 404, 405, 409, 413, 422]);

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

async function request(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, method: string, url: string, body: Buffer): Promise<Response> {
  const req = new PassThrough() as unknown as IncomingMessage & PassThrough;
  Object.assign(req, { method, url, headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' } });
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
    const P = '\u0001'; // POST
    const G = '\u0000';
    const D = '\u0003';
    const U = '\u0002';
    yield { name: 'register-read', data: joinFields([`${P}/subjects/s-value/versions`, schema('R'), `${G}/subjects/s-value/versions/latest`, '', `${G}/schemas/ids/1`, '', `${G}/subjects`, '']) };
    yield { name: 'compatible', data: joinFields([`${P}/subjects/s/versions`, schema('R'), `${P}/compatibility/subjects/s/versions/latest?verbose=true`, schema('R', '{"name":"b","type":["null","string"],"default":null}'), `${P}/subjects/s/versions`, schema('R', '{"name":"b","type":"string"}')]) };
    yield { name: 'config-delete', data: joinFields([`${U}/config/s`, '{"compatibility":"FULL_TRANSITIVE"}', `${G}/config/s?defaultToGlobal=true`, '', `${D}/subjects/s`, '', `${D}/subjects/s?permanent=true`, '', `${D}/config`, '']) };
    yield { name: 'lookup', data: joinFields([`${P}/subjects/t/versions`, JSON.stringify({ schema: '"string"' }), `${P}/subjects/t?deleted=true`, JSON.stringify({ schema: '"string"' }), `${G}/subjects/t/versions/1/schema`, '', `${D}/subjects/t/versions/latest`, '']) };
  },
  async run(data) {
    const problems: string[] = [];
    const state = new RegistryState();
    const log = {
      async append(records: LogAppend[]) {
        for (const r of records) {
          const rec = decodeRecord(Buffer.from(encodeKey(r.key)), r.value === null ? null : Buffer.from(r.value));
          if (rec) state.apply(rec);
        }
      },
    };
    const logger = quietLogger(problems);
    const handler = requestHandler(routes(new RegistryService(state, log, logger), () => ({ status: 'ok' })), logger);
    const f = new Fields(data);
    for (let i = 0; i < Math.min(f.length, 16); i += 2) {
      const head = f.bytes(i);
      const method = METHODS[(head[0] ?? 0) % METHODS.length]!;
      // A request target holds printable ASCII only (the HTTP parser refuses the rest): a client percent-encodes it.
      const url = head.subarray(1).toString('latin1').replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`) || '/';
      const body = f.bytes(i + 1);
      const r = await request(handler, method, url.startsWith('/') ? url : `/${url}`, body);
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
      const registered = /^\/subjects\/([^/?]+)\/versions\/?(?:\?.*)?$/.exec(url);
      if (method === 'POST' && registered && r.status === 200) {
        const back = await request(handler, 'POST', `/subjects/${registered[1]}`, body);
        invariant(back.status === 200 && (JSON.parse(back.body) as { id: number }).id === (json as { id: number }).id, () => `${what}: registered as ${r.body}, looked up as ${back.status} ${back.body.slice(0, 200)}`);
      }
    }
  },
});
