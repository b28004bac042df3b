/**
 * The HTTP layer alone (no Kafka): the request handler over a real node:http server, with the
 * registry service on in-memory state. Hostile request targets found by fuzz/targets/registry-http.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loggerFor } from '../../runtime/log.ts';
import { requestHandler, routes } from './http-api.ts';
import { memorySchemaLog } from './memory-log.ts';
import { RegistryService } from './registry-service.ts';
import { RegistryState } from './state.ts';

let server: Server;
let port = 0;

before(async () => {
  const state = new RegistryState();
  const log = memorySchemaLog(state);
  const logger = loggerFor('registry-http-test');
  server = createServer(requestHandler(routes(new RegistryService(state, log, logger), () => ({ status: 'ok' })), logger));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as net.AddressInfo).port;
});
after(() => new Promise<void>((ok) => server.close(() => ok())));

/** Sends one raw request line and returns the status line of the reply. */
function rawRequest(target: string): Promise<string> {
  return new Promise((ok, fail) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('end', () => ok(text.split('\r\n')[0] ?? ''));
    s.on('error', fail);
  });
}

describe('registry HTTP API on hostile request targets', () => {
  it('a target URL() cannot parse ("//[", "//a:b") is a 400, and the registry keeps serving', async () => {
    for (const target of ['//[', '//a:b', '//%', '/\\\\[']) {
      assert.match(await rawRequest(target), /^HTTP\/1\.1 (400|404) /, target);
    }
    assert.match(await rawRequest('/subjects'), /^HTTP\/1\.1 200 /);
  });
});
