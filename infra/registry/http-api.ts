/**
 * The Confluent Schema Registry REST subset, over node:http. Routing is a small table of
 * method + path pattern; every failure becomes a Confluent error body, never a crash.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../runtime/log.ts';
import { errors, RegistryError } from './errors.ts';
import { parseVersion, type RegistryService } from './registry-service.ts';
import type { SchemaEntry } from './state.ts';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

interface Request {
  params: string[];
  query: URLSearchParams;
  body: () => Promise<unknown>;
}
type Handler = (req: Request) => Promise<unknown> | unknown;
interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const flag = (q: URLSearchParams, name: string) => q.get(name) === 'true';

function versionBody(e: SchemaEntry) {
  const out: Record<string, unknown> = { subject: e.subject, version: e.version, id: e.id };
  if (e.schemaType !== 'AVRO') out.schemaType = e.schemaType; // Confluent omits it for Avro
  out.schema = e.schema;
  if (e.deleted) out.deleted = true;
  return out;
}

function parseId(raw: string): number {
  const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw errors.schemaNotFound(`Schema ${raw} not found`);
  return n;
}

export function routes(svc: RegistryService, health: () => Record<string, unknown>): Route[] {
  const r = (method: string, path: string, handler: Handler): Route => ({
    method,
    // `{}` matches one path segment; segments are URL-decoded before handlers see them.
    pattern: new RegExp(`^${path.replace(/\{\}/g, '([^/]+)')}/?$`),
    handler,
  });
  return [
    r('GET', '', () => ({})),
    r('GET', '/healthz', () => health()),
    r('GET', '/schemas/types', () => ['AVRO']),
    r('GET', '/schemas/ids/{}', ({ params: [id], query }) => {
      const s = svc.schemaById(parseId(id!), query.get('subject') ?? undefined);
      return s.schemaType === 'AVRO' ? { schema: s.schema } : { schemaType: s.schemaType, schema: s.schema };
    }),
    r('GET', '/schemas/ids/{}/schema', ({ params: [id] }) => JSON.parse(svc.schemaById(parseId(id!)).schema) as unknown),
    r('GET', '/schemas/ids/{}/versions', ({ params: [id], query }) => svc.usagesOfId(parseId(id!), flag(query, 'deleted'))),
    r('GET', '/schemas/ids/{}/subjects', ({ params: [id], query }) => [
      ...new Set(svc.usagesOfId(parseId(id!), flag(query, 'deleted')).map((u) => u.subject)),
    ]),
    r('GET', '/subjects', ({ query }) => svc.subjects(flag(query, 'deleted'))),
    r('POST', '/subjects/{}', async ({ params: [s], query, body }) => versionBody(svc.lookup(s!, await body(), flag(query, 'deleted')))),
    r('DELETE', '/subjects/{}', ({ params: [s], query }) => svc.deleteSubject(s!, flag(query, 'permanent'))),
    r('GET', '/subjects/{}/versions', ({ params: [s], query }) => svc.versionNumbers(s!, flag(query, 'deleted'))),
    r('POST', '/subjects/{}/versions', async ({ params: [s], body }) => svc.register(s!, await body())),
    r('GET', '/subjects/{}/versions/{}', ({ params: [s, v], query }) => versionBody(svc.version(s!, parseVersion(v!), flag(query, 'deleted')))),
    r('GET', '/subjects/{}/versions/{}/schema', ({ params: [s, v], query }) =>
      JSON.parse(svc.version(s!, parseVersion(v!), flag(query, 'deleted')).schema) as unknown,
    ),
    r('DELETE', '/subjects/{}/versions/{}', ({ params: [s, v], query }) => svc.deleteVersion(s!, parseVersion(v!), flag(query, 'permanent'))),
    r('GET', '/subjects/{}/versions/{}/referencedby', () => []), // references are not supported, so nothing refers
    r('POST', '/compatibility/subjects/{}/versions', async ({ params: [s], query, body }) =>
      compatibilityBody(svc.testCompatibility(s!, undefined, await body()), flag(query, 'verbose')),
    ),
    r('POST', '/compatibility/subjects/{}/versions/{}', async ({ params: [s, v], query, body }) => {
      const spec = parseVersion(v!);
      const b = await body();
      return compatibilityBody(svc.testCompatibility(s!, spec, b), flag(query, 'verbose'));
    }),
    r('GET', '/config', () => ({ compatibilityLevel: svc.getConfig(null, true) })),
    r('PUT', '/config', async ({ body }) => ({ compatibility: await svc.setConfig(null, await body()) })),
    r('DELETE', '/config', async () => ({ compatibilityLevel: await svc.deleteConfig(null) })),
    r('GET', '/config/{}', ({ params: [s], query }) => ({ compatibilityLevel: svc.getConfig(s!, flag(query, 'defaultToGlobal')) })),
    r('PUT', '/config/{}', async ({ params: [s], body }) => ({ compatibility: await svc.setConfig(s!, await body()) })),
    r('DELETE', '/config/{}', async ({ params: [s] }) => ({ compatibilityLevel: await svc.deleteConfig(s!) })),
  ];
}

function compatibilityBody(problems: string[], verbose: boolean) {
  return verbose ? { is_compatible: problems.length === 0, messages: problems } : { is_compatible: problems.length === 0 };
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RegistryError(413, 413, `request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(errors.badRequest(`request body is not valid JSON: ${(e as Error).message}`));
      }
    });
  });
}

/** Confluent's media type unless the client asked for plain JSON only. */
function contentType(accept: string | undefined): string {
  return accept && /application\/json/.test(accept) && !accept.includes('schemaregistry') ? 'application/json' : CONTENT_TYPE;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType(res.req.headers.accept), 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** `check` runs before routing (access.ts: Host, Origin, Content-Type, token); what it throws is the answer. */
export function requestHandler(table: Route[], logger: Logger, check?: (req: IncomingMessage, path: string) => void) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://registry.invalid');
    } catch {
      // "//[" and the like: URL() throws, and a throw here would be an unhandled rejection that ends the process.
      return send(res, 400, { error_code: 400, message: 'malformed request target' });
    }
    const path = url.pathname.replace(/\/+$/, '');
    try {
      if (check) {
        try {
          check(req, path);
        } catch (e) {
          if (e instanceof RegistryError) logger.warn({ method: req.method, path, host: req.headers.host, origin: req.headers.origin, status: e.httpStatus }, e.message);
          req.resume(); // drain an unread body so the connection can answer
          throw e;
        }
      }
      let pathMatched = false;
      for (const route of table) {
        const m = route.pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (route.method !== req.method) continue;
        let params: string[];
        try {
          params = m.slice(1).map((p) => decodeURIComponent(p));
        } catch {
          throw errors.badRequest(`malformed percent-encoding in ${url.pathname}`);
        }
        const result = await route.handler({ params, query: url.searchParams, body: () => readJsonBody(req) });
        return send(res, 200, result);
      }
      if (pathMatched) return send(res, 405, { error_code: 405, message: `HTTP 405 Method ${req.method} Not Allowed` });
      return send(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
    } catch (e) {
      if (e instanceof RegistryError) {
        if (e.httpStatus >= 500) logger.error({ method: req.method, path, err: e.message }, 'request failed');
        return send(res, e.httpStatus, { error_code: e.errorCode, message: e.message });
      }
      logger.error({ method: req.method, path, err: e }, 'unexpected error');
      return send(res, 500, { error_code: 50001, message: `Error in the backend datastore: ${(e as Error).message}` });
    }
  };
}
