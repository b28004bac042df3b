/**
 * The DNS fixture most auth tests share: an in-process authoritative server (UDP+TCP), started
 * before the file's tests and stopped after them, and a resolver asking only it, without a cache
 * (the zones change from test to test).
 */
import { after, before } from 'node:test';
import { TestDnsServer } from '../../../infra/dns/dns-server.ts';
import { DnsResolver } from '../dns.ts';

export interface DnsFixture {
  readonly server: TestDnsServer;
  /** Available once the file's `before` hooks ran. */
  readonly resolver: DnsResolver;
}

export function authoritativeDns(o: { timeoutMs: number; retries: number }): DnsFixture {
  const server = new TestDnsServer();
  let resolver: DnsResolver | undefined;
  before(async () => {
    await server.start();
    resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: server.port }], timeoutMs: o.timeoutMs, retries: o.retries, cacheSize: 0, maxTtl: 0 });
  });
  after(() => server.stop());
  return {
    server,
    get resolver() {
      if (!resolver) throw new Error('the DNS fixture is used before its before() hook ran');
      return resolver;
    },
  };
}
