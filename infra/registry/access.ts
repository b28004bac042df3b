/**
 * Who may talk to the registry's HTTP API, checked before routing.
 *
 * - Host (always): the Host header must name this server as a client reaching it directly does —
 *   an IP literal, `localhost`, or a name in allowedHosts. A web page whose DNS name was rebound to
 *   our address (DNS rebinding) sends its own name, and is refused (403).
 * - Origin (always): a browser says where a request comes from; anything but this server's own
 *   origin is refused (403), so a page elsewhere cannot post to it (CSRF). Non-browser clients send
 *   no Origin.
 * - Content-Type: a request body must be JSON (`application/json`, `application/…+json`) or
 *   `application/octet-stream`; the types a browser may send cross-site without asking first
 *   (text/plain, form encodings) are refused (415).
 * - Token for writes (register a schema, delete a subject or version, change compatibility):
 *   required whenever one is configured, and one must be configured when the server listens
 *   beyond loopback (startRegistry refuses to start otherwise). Sent as `Authorization: Bearer
 *   <token>` or as the password of HTTP basic auth (SCHEMA_REGISTRY_PASSWORD of scop's clients,
 *   any user name). Compared in constant time.
 *
 * Hand-written: a dozen header checks, which no HTTP framework here would save.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { RegistryError } from './errors.ts';

export interface AccessOptions {
  /** Secret required for writes; undefined: writes are open (only allowed on loopback). */
  token?: string;
  /** Host names clients may use for this server besides IP literals and localhost. */
  allowedHosts?: readonly string[];
}

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The token the request carries (Bearer, or the basic-auth password), or undefined. */
function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(auth);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth);
  if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    return colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  return undefined;
}

/** The host part of a Host header value (`name:port`, `[v6]:port`), lower case; null when malformed. */
function hostOf(value: string): string | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/.exec(value.trim());
  return m ? m[1]!.toLowerCase() : null;
}

/** Writes: everything that changes state. Lookups and compatibility checks are POSTs that change nothing. */
export function isWrite(method: string, path: string): boolean {
  if (method === 'DELETE' || method === 'PUT') return true;
  return method === 'POST' && /^\/subjects\/[^/]+\/versions$/.test(path);
}

export function accessCheck(o: AccessOptions): (req: IncomingMessage, path: string) => void {
  const allowed = new Set((o.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const token = o.token === undefined ? undefined : digest(o.token);
  return (req, path) => {
    const hostHeader = req.headers.host;
    const host = hostHeader ? hostOf(hostHeader) : null;
    if (!host) throw new RegistryError(400, 400, 'the request has no valid Host header');
    if (!(isIP(host.replace(/^\[|\]$/g, '')) || host === 'localhost' || allowed.has(host))) {
      throw new RegistryError(403, 40301, `Host "${host}" is not a name of this registry (DNS rebinding?); add it to SCOP_REGISTRY_ALLOWED_HOSTS if clients use it`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let same = false;
      try {
        same = new URL(origin).host.toLowerCase() === hostHeader!.trim().toLowerCase();
      } catch { /* "null" or garbage: not ours */ }
      if (!same) throw new RegistryError(403, 40302, `requests from web origin ${origin.slice(0, 200)} are refused (cross-site request)`);
    }
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    if (hasBody) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!/^application\/(?:json|[a-z0-9.+-]+\+json|octet-stream)$/.test(type)) {
        throw new RegistryError(415, 415, `request bodies must be JSON (Content-Type application/vnd.schemaregistry.v1+json or application/json), got "${type || 'none'}"`);
      }
    }
    if (token && isWrite(req.method ?? 'GET', path)) {
      const given = presentedToken(req);
      if (given === undefined || !timingSafeEqual(digest(given), token)) {
        throw new RegistryError(401, 40101, 'writes need the registry token (Authorization: Bearer <token>, or as the basic-auth password: SCHEMA_REGISTRY_PASSWORD)');
      }
    }
  };
}
