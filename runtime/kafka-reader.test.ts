/**
 * The by-position reader (raw messages by reference) never waits for good, and a failed read drops
 * its client: a broker that accepts the connection and then says nothing (a dead connection after a
 * restart looks the same) costs one read its timeout, and the next read connects afresh.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { createRecordReader, readTimeoutMs } from './kafka-reader.ts';

describe('record reader: a broker that does not answer', { timeout: 60000 }, () => {
  it('gives a read up after its timeout and reconnects for the next', async () => {
    const sockets: Socket[] = [];
    let connections = 0;
    const silent = createServer((s) => { connections++; sockets.push(s); s.on('error', () => {}); s.on('data', () => {}); });
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', () => ok()));
    const port = (silent.address() as { port: number }).port;
    const opts = { requestTimeoutMs: 1000, connectionTimeoutMs: 1000, retries: 0 };
    const reader = createRecordReader({ brokers: [`127.0.0.1:${port}`], clientId: 'reader-test' } as Parameters<typeof createRecordReader>[0], opts);
    try {
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        await assert.rejects(reader.read('mail.inbound.raw', 0, 0n, 1 << 20));
        assert.ok(Date.now() - t0 <= readTimeoutMs(opts) + 2000, `read ${i + 1} ended within its timeout (${Date.now() - t0} ms)`);
      }
      assert.ok(connections >= 2, `the second read connected afresh (${connections} connections)`);
    } finally {
      await reader.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
