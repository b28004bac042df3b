import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports for test servers are drawn from below the kernel's ephemeral range: a port from that
 * range (what `listen(0)` returns) can be taken by any outgoing connection — a Kafka client's, a
 * resolver's — between the moment it is found free and the moment the server binds it, and two
 * suites failed that way. Below the range only another listener can take it, and the random
 * draw makes two tests picking the same one unlikely.
 */
function candidateRange(): [number, number] | null {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && low > 12000) return [10000, low - 1];
  } catch { /* not Linux: fall back to the OS's choice */ }
  return null;
}
const RANGE = candidateRange();

function tcpFree(port: number, host: string): Promise<number | null> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(null));
    srv.listen(port, host, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(got));
    });
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((ok) => {
    const sock = createSocket('udp4');
    sock.once('error', () => { sock.close(); ok(false); });
    sock.bind(port, host, () => sock.close(() => ok(true)));
  });
}

async function findPort(host: string, udpToo: boolean): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const want = RANGE ? RANGE[0] + Math.floor(Math.random() * (RANGE[1] - RANGE[0] + 1)) : 0;
    const port = await tcpFree(want, host);
    if (port && (!udpToo || (await udpFree(port, host)))) return port;
  }
  throw new Error(`no free port${udpToo ? ' for both TCP and UDP' : ''} on ${host} after 100 tries`);
}

/** A port free on `host` right now (used by tests so they never clash with `npm start`). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return findPort(host, false);
}

/** A port free for both TCP and UDP on `host` right now (DNS servers listen on both). */
export function freeTcpUdpPort(host = '127.0.0.1'): Promise<number> {
  return findPort(host, true);
}
