import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { freePort, freeTcpUdpPort } from './ports.ts';

it('free ports come from below the ephemeral range, are bindable, and differ', async () => {
  const [low] = (await import('node:fs')).readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const ports = await Promise.all([freePort(), freePort(), freeTcpUdpPort(), freeTcpUdpPort()]);
  for (const p of ports) assert.ok(p >= 10000 && p < low!, `${p} below ${low}`);
  assert.ok(new Set(ports).size >= 3, `mostly distinct: ${ports}`);
  const srv = createServer();
  await new Promise<void>((ok, fail) => { srv.once('error', fail); srv.listen(ports[0], '127.0.0.1', () => ok()); });
  await new Promise((ok) => srv.close(ok));
});
