import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** A port the OS reports free on `host` right now (used by tests so they never clash with `npm start`). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

/** A port free for both TCP and UDP on `host` right now (DNS servers listen on both). */
export async function freeTcpUdpPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort(host);
    const udpFree = await new Promise<boolean>((ok) => {
      const sock = createSocket('udp4');
      sock.once('error', () => { sock.close(); ok(false); });
      sock.bind(port, host, () => sock.close(() => ok(true)));
    });
    if (udpFree) return port;
  }
  throw new Error(`no port free for both TCP and UDP on ${host} after 50 tries`);
}
